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

// scrape returns the metric families /metrics at addr exposes.
func scrape(t *testing.T, addr string) map[string]bool {
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
	return names
}

// TestMetricsDocumented exports a runtime's metrics through the Prometheus
// endpoint rustmq perf serves, after producing (compressed) and reading,
// and checks that every metric docs/metrics.md lists is there, and that
// every rustmq and messaging metric there is documented.
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
	got := scrape(t, ms.Addr)
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
