package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// documentedMetrics returns the metric names of the table in
// docs/metrics.md: the first column of each row, in backquotes.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	row := regexp.MustCompile("^\\| `([a-z_:]+)`")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			names[m[1]] = true
		}
	}
	if len(names) == 0 {
		t.Fatal("docs/metrics.md lists no metric")
	}
	return names
}

// docAttrs is what docs/metrics.md says of one metric's attributes: the
// ones every series has, with the value some must have (or ""), and the
// ones that may be there ("plus ... on failures").
type docAttrs struct {
	required map[string]string
	optional map[string]bool
}

var (
	attrTokenRE  = regexp.MustCompile("`([a-z_]+)(?:=\"([^\"]*)\")?`")
	valueListRE  = regexp.MustCompile("`\\s*=\\s*`[^`]*`(?:(?:, | or )`[^`]*`)*")
	attrGroupRE  = regexp.MustCompile(`\*\*(\w+)\*\* = `)
	groupWordRE  = regexp.MustCompile(`^(\w+)\b`)
	sampleLineRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} `)
	labelRE      = regexp.MustCompile(`([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"`)
)

// attrTokens returns the attribute names (and required values) written in
// backquotes in s, leaving out the values listed after "` = `".
func attrTokens(s string) map[string]string {
	s = valueListRE.ReplaceAllString(s, "`")
	out := map[string]string{}
	for _, m := range attrTokenRE.FindAllStringSubmatch(s, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// documentedAttrs returns, per metric of the table of docs/metrics.md, the
// attributes its series must and may carry.
func documentedAttrs(t *testing.T) map[string]docAttrs {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "Common attributes:")
	if i < 0 {
		t.Fatal("docs/metrics.md has no 'Common attributes:' paragraph")
	}
	para := strings.Join(strings.Fields(text[i:i+strings.Index(text[i:], "\n\n")]), " ")
	groups := map[string]map[string]string{}
	marks := attrGroupRE.FindAllStringSubmatchIndex(para, -1)
	for i, m := range marks {
		end := len(para)
		if i+1 < len(marks) {
			end = marks[i+1][0]
		}
		groups[para[m[2]:m[3]]] = attrTokens(para[m[1]:end])
	}
	if len(groups) < 4 {
		t.Fatalf("read %d attribute groups from %q", len(groups), para)
	}
	out := map[string]docAttrs{}
	for _, line := range strings.Split(text, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 6 || !strings.HasPrefix(strings.TrimSpace(cols[1]), "`") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cols[1]), "`")
		spec := strings.TrimSpace(cols[4])
		req, opt, _ := strings.Cut(spec, "plus ")
		d := docAttrs{required: map[string]string{}, optional: map[string]bool{}}
		if g := groupWordRE.FindString(req); groups[g] != nil {
			for k, v := range groups[g] {
				d.required[k] = v
			}
		}
		for k, v := range attrTokens(req) {
			d.required[k] = v
		}
		for k := range attrTokens(opt) {
			d.optional[k] = true
		}
		out[name] = d
	}
	return out
}

// checkAttrs fails the test where a series of body carries an attribute
// the table does not list for its metric, lacks one it lists, or has
// another value than the one it gives.
func checkAttrs(t *testing.T, body string, doc map[string]docAttrs) {
	t.Helper()
	checked := 0
	for _, line := range strings.Split(body, "\n") {
		m := sampleLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1]
		d, ok := doc[name]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if !ok {
				d, ok = doc[strings.TrimSuffix(name, suffix)]
			}
		}
		if !ok {
			continue
		}
		checked++
		labels := map[string]string{}
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		for k, v := range labels {
			if strings.HasPrefix(k, "otel_scope_") || k == "le" {
				continue
			}
			if _, req := d.required[k]; !req && !d.optional[k] {
				t.Errorf("%s carries %s=%q, which docs/metrics.md does not list for it", name, k, v)
			}
		}
		for k, want := range d.required {
			if got, has := labels[k]; !has {
				t.Errorf("%s lacks %s, which docs/metrics.md lists for it: %s", name, k, line)
			} else if want != "" && got != want {
				t.Errorf("%s has %s=%q, docs/metrics.md says %q", name, k, got, want)
			}
		}
	}
	if checked == 0 {
		t.Error("no series of a documented metric found")
	}
}

// scrape returns the metric families /metrics at addr exposes.
func scrape(t *testing.T, addr string) map[string]bool {
	t.Helper()
	names, _ := scrapeBody(t, addr)
	return names
}

// scrapeBody returns the metric families /metrics at addr exposes, and
// the whole answer.
func scrapeBody(t *testing.T, addr string) (map[string]bool, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %s", err, resp.Status)
	}
	if os.Getenv("RUSTMQ_DUMP_METRICS") != "" {
		fmt.Println(string(body))
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(name)[0]] = true
		}
	}
	return names, string(body)
}

// TestMetricsDocumented exports a runtime's metrics through the Prometheus
// endpoint rustmq perf serves, after producing (compressed) and reading,
// and checks that every metric docs/metrics.md lists is there, that
// every rustmq and messaging metric there is documented, and that each
// series carries the attributes the table gives its metric, no more and
// no fewer.
func TestMetricsDocumented(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{"m": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ms, err := startMetrics("127.0.0.1:0", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.stop()
	rt, err := rmq.New(rmq.Config{Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{Config: &tls.Config{RootCAs: b.CAPool()}}, MeterProvider: ms.Provider})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer("m", rmq.ProducerConfig{Compression: compress.Zstd, CompressThreshold: 10})
	if err != nil {
		t.Fatal(err)
	}
	// One "not leader" answer makes a batch retry (rustmq_producer_retries).
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "m", Partition: -1, Code: wire.ErrNotLeader.Code})
	msgs := make([]*rmq.Message, 50)
	for i := range msgs {
		msgs[i] = &rmq.Message{Key: []byte(fmt.Sprint(i)), Payload: []byte(strings.Repeat("compressible ", 20))}
	}
	if _, err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	rd, err := rt.NewReader(ctx, "m", rmq.ReaderConfig{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for range msgs {
		if _, err := rd.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, body := scrapeBody(t, ms.Addr)
	checkAttrs(t, body, documentedAttrs(t))
	var missing, undocumented []string
	for name := range documentedMetrics(t) {
		if !got[name] {
			missing = append(missing, name)
		}
	}
	doc := documentedMetrics(t)
	for name := range got {
		if (strings.HasPrefix(name, "rustmq_") || strings.HasPrefix(name, "messaging_")) && !doc[name] {
			undocumented = append(undocumented, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(undocumented)
	if len(missing) > 0 || len(undocumented) > 0 {
		all := make([]string, 0, len(got))
		for n := range got {
			all = append(all, n)
		}
		sort.Strings(all)
		t.Fatalf("documented but not exported: %v\nexported but not documented: %v\nexported: %v", missing, undocumented, all)
	}
}
