package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/internal/proctest"

	"go.uber.org/goleak"

	"github.com/rustmq/rustmq-go/internal/devcert"
)

func TestMain(m *testing.M) {
	code := m.Run()
	binaries.Remove()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binaries are rustmq and rustmq-broker, built on first use and removed
// by TestMain.
var binaries = proctest.Build(proctest.Module+"/cmd/rustmq", proctest.BrokerPkg)

// bins builds rustmq and rustmq-broker once per test binary and returns
// their directory.
func bins(t *testing.T) string {
	t.Helper()
	return binaries.Dir(t)
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer = proctest.SyncBuffer

// brokerProc is a running rustmq-broker binary and the CA file that
// verifies it.
type brokerProc struct {
	*proctest.Proc
	ca string
}

// startBrokerBin runs rustmq-broker with args (plus --listen 127.0.0.1:0
// and --write-ca when args name neither) and waits for its banner.
func startBrokerBin(t *testing.T, args ...string) *brokerProc {
	t.Helper()
	b := &brokerProc{}
	if !slices.Contains(args, "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	if !slices.Contains(args, "--tls-cert") {
		b.ca = filepath.Join(t.TempDir(), "ca.pem")
		args = append(args, "--write-ca", b.ca)
	}
	b.Proc = proctest.Start(t, filepath.Join(bins(t), "rustmq-broker"), args...)
	t.Cleanup(b.stop)
	return b
}

// stop ends the broker with SIGTERM (SIGKILL after 10 s).
func (b *brokerProc) stop() { b.Stop() }

// result is what a rustmq process printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// rustmq runs the rustmq binary with args and stdin and waits for it.
func rustmq(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins(t), "rustmq"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("rustmq %q did not exit within 60s\nstdout:\n%s\nstderr:\n%s", args, r.stdout, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// ok fails the test unless r exited 0.
func (r result) ok(t *testing.T, what string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
	}
	return r
}

func conn(b *brokerProc, extra ...string) []string {
	return append([]string{"-brokers", b.Addr, "-ca", b.ca}, extra...)
}

// TestProduceConsumeFormats produces with keys, headers, an explicit
// partition and JSON validation, and reads back in each output format.
func TestProduceConsumeFormats(t *testing.T) {
	b := startBrokerBin(t, "--topic", "orders:3")
	in := "alice:{\"n\":1}\nbob:{\"n\":2}\nnot json at all\ncarol:{\"n\":3}\r\n"
	r := rustmq(t, in, append([]string{"produce"}, conn(b, "-key-separator", ":", "-header", "src=test", "-header", "v=1", "-json", "-partition", "2", "orders")...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "line 3: not valid JSON") ||
		!strings.Contains(r.stderr, "produced 4 messages to orders: 3 acknowledged, 1 failed") {
		t.Fatalf("produce with a bad JSON line: exit %d\n%s", r.code, r.stderr)
	}
	r = rustmq(t, "", append([]string{"consume"}, conn(b, "-format", `%t/%p@%o %k=%s [%h] %K %S\n`, "orders")...)...).ok(t, "consume -format")
	want := "orders/2@0 alice={\"n\":1} [src=test,v=1] 5 7\n" +
		"orders/2@1 bob={\"n\":2} [src=test,v=1] 3 7\n" +
		"orders/2@2 carol={\"n\":3} [src=test,v=1] 5 7\n"
	if r.stdout != want {
		t.Fatalf("consume -format:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = rustmq(t, "", append([]string{"tail"}, conn(b, "-format", "json", "-partition", "2", "-offset", "-1", "orders")...)...).ok(t, "tail -format json")
	if !regexp.MustCompile(`^\{"topic":"orders","partition":2,"offset":2,"timestamp":\d+,"key":"carol","value":"\{\\"n\\":3\}","headers":\[\{"key":"src","value":"test"\},\{"key":"v","value":"1"\}\]\}\n$`).MatchString(r.stdout) {
		t.Fatalf("tail -format json -offset -1:\n%s", r.stdout)
	}
	r = rustmq(t, "", append([]string{"consume"}, conn(b, "-messages", "2", "-offset", "1", "-partition", "2", "orders")...)...).ok(t, "consume -messages")
	if r.stdout != "{\"n\":2}\n{\"n\":3}\n" {
		t.Fatalf("consume -messages 2 -offset 1:\n%s", r.stdout)
	}
	r = rustmq(t, "", append([]string{"consume"}, conn(b, "-offset", "9", "-partition", "2", "orders")...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "offset out of range") || strings.Contains(r.stderr, "no record for") {
		t.Fatalf("consume beyond the end: exit %d\n%s", r.code, r.stderr)
	}
	r = rustmq(t, "", append([]string{"consume"}, conn(b, "nosuchtopic")...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "unknown topic") {
		t.Fatalf("consume an unknown topic: exit %d\n%s", r.code, r.stderr)
	}
}

// TestTopicsGolden compares the topics listing of a two-node broker with
// its golden form (ports replaced).
func TestTopicsGolden(t *testing.T) {
	b := startBrokerBin(t, "--brokers", "2", "--topic", "orders:3", "--topic", "audit:1")
	r := rustmq(t, "", append([]string{"topics"}, conn(b)...)...).ok(t, "topics")
	got := regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(r.stdout, "127.0.0.1:PORT")
	want := `brokers (answered by 127.0.0.1:PORT):
  ID        ADDRESS          RACK
  broker-0  127.0.0.1:PORT  -
  broker-1  127.0.0.1:PORT  -

topics:
  TOPIC   PARTITION  LEADER                     REPLICAS
  audit   0          broker-0 (127.0.0.1:PORT)  broker-0
  orders  0          broker-0 (127.0.0.1:PORT)  broker-0
  orders  1          broker-1 (127.0.0.1:PORT)  broker-1
  orders  2          broker-0 (127.0.0.1:PORT)  broker-0
`
	// Column widths depend on the port numbers' lengths: compare with runs
	// of spaces folded.
	fold := func(s string) string { return regexp.MustCompile(` +`).ReplaceAllString(s, " ") }
	if fold(got) != fold(want) {
		t.Fatalf("topics:\n%s\nwant:\n%s", got, want)
	}
	r = rustmq(t, "", append([]string{"topics", "-json"}, conn(b, "audit")...)...).ok(t, "topics -json")
	if !strings.Contains(r.stdout, `"Name": "audit"`) || strings.Contains(r.stdout, `"Name": "orders"`) {
		t.Fatalf("topics -json audit:\n%s", r.stdout)
	}
	// A topic named and not known: listed without it, and exit 1.
	r = rustmq(t, "", append([]string{"topics"}, conn(b, "audit", "nosuch")...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "unknown topic: nosuch") || !strings.Contains(r.stdout, "audit ") {
		t.Fatalf("topics audit nosuch: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestDurableBroker produces to a durable broker with small segments,
// restarts it on the same directory and port, and reads everything back.
func TestDurableBroker(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerBin(t, "--data-dir", dir, "--topic", "events:2")
	var in strings.Builder
	for i := range 500 {
		fmt.Fprintf(&in, "k%d=event %d %s\n", i, i, strings.Repeat("x", i%50))
	}
	rustmq(t, in.String(), append([]string{"produce"}, conn(b, "-key-separator", "=", "events")...)...).ok(t, "produce")
	b.stop()
	b2 := startBrokerBin(t, "--data-dir", dir, "--listen", b.Addr)
	r := rustmq(t, "", append([]string{"consume"}, conn(b2, "-format", "%k %s\n", "events")...)...).ok(t, "consume after restart")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 500 {
		t.Fatalf("read %d records after the restart, want 500", len(lines))
	}
	slices.Sort(lines)
	for i := range 500 {
		want := fmt.Sprintf("k%d event %d %s", i, i, strings.Repeat("x", i%50))
		if _, found := slices.BinarySearch(lines, want); !found {
			t.Fatalf("record %q missing after the restart", want)
		}
	}
}

// TestMTLSAndSASL runs produce and consume against an mTLS broker with and
// without a client certificate, and against a SCRAM broker with a right
// and a wrong password.
func TestMTLSAndSASL(t *testing.T) {
	dir := t.TempDir()
	ca, err := devcert.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("cli-user")
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	if err := errors.Join(ca.WriteCA(f("ca.pem")), devcert.WriteKeyPair(server, f("server.pem"), f("server.key")),
		devcert.WriteKeyPair(client, f("client.pem"), f("client.key"))); err != nil {
		t.Fatal(err)
	}
	b := startBrokerBin(t, "--tls-cert", f("server.pem"), "--tls-key", f("server.key"), "--client-ca", f("ca.pem"), "--topic", "secure:1")
	b.ca = f("ca.pem")
	rustmq(t, "one\ntwo\n", append([]string{"produce"}, conn(b, "-cert", f("client.pem"), "-key", f("client.key"), "secure")...)...).ok(t, "produce with a client certificate")
	r := rustmq(t, "", append([]string{"consume"}, conn(b, "-cert", f("client.pem"), "-key", f("client.key"), "secure")...)...).ok(t, "consume with a client certificate")
	if r.stdout != "one\ntwo\n" {
		t.Fatalf("consume over mTLS:\n%s", r.stdout)
	}
	start := time.Now()
	r = rustmq(t, "three\n", append([]string{"produce"}, conn(b, "-delivery-timeout", "20s", "secure")...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "certificate") || !strings.Contains(r.stderr, "1 failed") {
		t.Fatalf("produce without a client certificate: exit %d\n%s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("refusal took %v", d)
	}

	s := startBrokerBin(t, "--user", "alice:s3cret", "--topic", "auth:1")
	rustmq(t, "hello\n", append([]string{"produce"}, conn(s, "-sasl", "scram-sha-256", "-user", "alice", "-password", "s3cret", "auth")...)...).ok(t, "produce with SCRAM")
	r = rustmq(t, "hello\n", append([]string{"produce"}, conn(s, "-sasl", "scram-sha-512", "-user", "alice", "-password", "wrong", "-delivery-timeout", "20s", "auth")...)...)
	if r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "authentication failed") {
		t.Fatalf("produce with a wrong password: exit %d\n%s", r.code, r.stderr)
	}
	cmd := exec.Command(filepath.Join(bins(t), "rustmq"), append([]string{"consume"}, conn(s, "-sasl", "plain", "-user", "alice", "auth")...)...)
	cmd.Env = append(os.Environ(), "RUSTMQ_PASSWORD=s3cret")
	out, err := cmd.Output()
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("consume with PLAIN and $RUSTMQ_PASSWORD: %v %q", err, out)
	}
}

// TestPerf runs a short perf test capped at a rate and checks its table.
func TestPerf(t *testing.T) {
	b := startBrokerBin(t, "--topic", "perf:2")
	r := rustmq(t, "", append([]string{"perf"}, conn(b, "-messages", "3000", "-size", "256", "-rate", "3000", "-workers", "2", "-report", "300ms", "-compression", "lz4", "perf")...)...).ok(t, "perf")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 4 {
		t.Fatalf("perf printed too little:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`^\d+ records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, [\d.]+ ms max latency, 0 failed$`).MatchString(lines[0]) {
		t.Errorf("live line: %q", lines[0])
	}
	head, row := strings.Fields(lines[len(lines)-2]), strings.Fields(lines[len(lines)-1])
	if strings.Join(head, " ") != "records failed seconds msgs/s MB/s avg ms p50 ms p95 ms p99 ms p99.9 ms max ms" || len(row) != 11 || row[0] != "3000" || row[1] != "0" {
		t.Fatalf("final table:\n%s", strings.Join(lines[len(lines)-2:], "\n"))
	}
	var secs float64
	fmt.Sscan(row[2], &secs)
	if secs < 0.9 { // 3000 records at 3000/s take about a second
		t.Errorf("-rate 3000 not honoured: 3000 records in %.2fs", secs)
	}
}

// TestUsage: bad command lines exit 2 with a message; help exits 0.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: rustmq COMMAND"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"produce"}, 2, "want exactly one TOPIC"},
		{[]string{"produce", "-acks", "most", "t"}, 2, `-acks "most"`},
		{[]string{"consume", "-offset", "soon", "t"}, 2, `-offset "soon"`},
		{[]string{"consume", "-format", "%x", "t"}, 2, "unknown verb %x"},
		{[]string{"perf", "-workers", "0", "t"}, 2, "-workers 0"},
		{[]string{"topics", "-sasl", "kerberos"}, 2, `-sasl "kerberos"`},
		{[]string{"help", "produce"}, 0, "-key-separator"},
		{[]string{"help", "nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"produce", "-nosuchflag", "t"}, 2, "flag provided but not defined: -nosuchflag ('rustmq help produce' lists the flags)"},
		{[]string{"consume", "-h"}, 0, "-format"},
		{[]string{"produce", "-file", "/nonexistent/lines.txt", "t"}, 2, "-file: open /nonexistent/lines.txt: no such file or directory"},
		{[]string{"help"}, 0, "perf"},
	} {
		r := rustmq(t, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
			t.Errorf("rustmq %q: exit %d, output:\n%s%s\nwant exit %d mentioning %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.want)
		}
	}
}

// readLines copies lines of r to ch until r ends.
func readLines(r io.Reader, ch chan<- string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		ch <- sc.Text()
	}
	close(ch)
}

// TestPerfServesMetrics runs perf with -metrics-addr and scrapes the
// endpoint while the test runs.
func TestPerfServesMetrics(t *testing.T) {
	b := startBrokerBin(t, "--topic", "perf:1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins(t), "rustmq"), append([]string{"perf"}, conn(b, "-duration", "3s", "-rate", "2000", "-report", "0", "-metrics-addr", "127.0.0.1:0", "perf")...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go readLines(stderr, lines)
	var addr string
	for line := range lines {
		if a, ok := strings.CutPrefix(line, "serving metrics on http://"); ok {
			addr = strings.TrimSuffix(a, "/metrics")
			break
		}
	}
	if addr == "" {
		_ = cmd.Wait()
		t.Fatal("perf did not say where it serves metrics")
	}
	var got map[string]bool
	for deadline := time.Now().Add(2 * time.Second); ; {
		got = scrape(t, addr)
		if got["messaging_client_sent_messages_total"] || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // waiting for the first acknowledged batch
	}
	for range lines { // drain until perf exits
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("perf: %v\n%s", err, stdout.String())
	}
	for _, name := range []string{"messaging_client_sent_messages_total", "messaging_client_operation_duration_seconds", "rustmq_producer_messages_total", "rustmq_connection_state_ratio"} {
		if !got[name] {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}
