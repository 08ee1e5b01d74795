package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/internal/proctest"

	"go.uber.org/goleak"

	"github.com/rustmq/rustmq-go/internal/devcert"
	rmq "github.com/rustmq/rustmq-go/runtime"
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

// programs are the example folders the smoke test builds.
var programs = []string{"production", "high_throughput", "secure_mtls", "simple_producer", "tracing"}

// binaries are the examples and the broker binary, built on first use
// and removed by TestMain.
var binaries = func() *proctest.Binaries {
	pkgs := []string{proctest.BrokerPkg}
	for _, p := range programs {
		pkgs = append(pkgs, proctest.Module+"/examples/"+p)
	}
	return proctest.Build(pkgs...)
}()

// build compiles every example and the broker binary into a temporary
// directory (without -race, for speed), once per test binary, and returns
// that directory.
func build(t *testing.T) string {
	t.Helper()
	return binaries.Dir(t)
}

// outcome is what a finished program printed.
type outcome struct {
	stdout, stderr string
}

// run starts bin with args, waits at most timeout for it to exit and
// fails the test unless it exits 0.
func run(t *testing.T, bin string, timeout time.Duration, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	err := cmd.Run()
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("%s left %d entries in its temporary directory (first %q)", filepath.Base(bin), len(left), left[0].Name())
	}
	o := outcome{stdout.String(), stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not exit within %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), args, timeout, o.stdout, o.stderr)
	}
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), args, err, o.stdout, o.stderr)
	}
	return o
}

// expect fails the test unless every pattern matches some line of text
// (patterns are anchored by the caller as needed, (?m) is implied).
func expect(t *testing.T, name, text string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile("(?m)" + p).MatchString(text) {
			t.Errorf("%s: no line matches %q in:\n%s", name, p, text)
		}
	}
}

func TestExamples(t *testing.T) {
	dir := build(t)
	bin := func(name string) string { return filepath.Join(dir, name) }

	t.Run("production/duration", func(t *testing.T) {
		o := run(t, bin("production"), 30*time.Second, "-duration", "2s", "-rate", "500", "-report", "500ms")
		expect(t, "stdout", o.stdout,
			`^started a development broker on 127\.0\.0\.1:\d+ \(topic "orders", 6 partitions\)$`,
			`^metrics: accepted=\d+ delivered=\d+ failed=0 .* \| broker 127\.0\.0\.1:\d+ connected `,
			`^summary: produced=(\d+) sent=(\d+) failed=0 requests=\d+ retries=\d+$`)
		checkSummary(t, o.stdout)
		expect(t, "stderr (slog)", o.stderr,
			`level=INFO msg=producing topic=orders workers=4`,
			`level=INFO msg="shutting down" reason="duration elapsed"`)
	})

	t.Run("production/messages", func(t *testing.T) {
		o := run(t, bin("production"), 30*time.Second, "-messages", "300", "-rate", "0", "-log-level", "warn")
		expect(t, "stdout", o.stdout, `^summary: produced=300 sent=300 failed=0 `)
	})

	t.Run("production/metrics", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin("production"), "-duration", "3s", "-rate", "500", "-metrics-addr", "127.0.0.1:0")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		url := ""
		for sc.Scan() {
			if m := regexp.MustCompile(`msg="serving metrics" url=(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
				break
			}
		}
		go func() { _, _ = io.Copy(io.Discard, stderr) }()
		if url == "" {
			_ = cmd.Wait()
			t.Fatal("production did not log where it serves metrics")
		}
		var body string
		for deadline := time.Now().Add(2 * time.Second); ; {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains(body, "messaging_client_sent_messages_total{") || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // waiting for the first acknowledged batch
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("production: %v", err)
		}
		expect(t, "/metrics", body,
			`^messaging_client_sent_messages_total\{.*messaging_destination_name="orders"`,
			`^rustmq_producer_messages_total\{.*rustmq_outcome="delivered"`,
			`^rustmq_connection_state_ratio\{.*rustmq_connection_state="connected".* 1$`)
	})

	t.Run("production/SIGTERM", func(t *testing.T) {
		stdout, stderr := untilSignal(t, bin("production"), syscall.SIGTERM, "-duration", "0", "-rate", "2000", "-report", "200ms")
		expect(t, "stdout", stdout, `^summary: produced=\d+ sent=\d+ failed=0 `)
		checkSummary(t, stdout)
		expect(t, "stderr", stderr, `msg="shutting down" reason="signal received"`)
	})

	t.Run("high_throughput", func(t *testing.T) {
		o := run(t, bin("high_throughput"), 60*time.Second, "-duration", "2s", "-workers", "8", "-size", "512")
		expect(t, "stdout", o.stdout,
			`^producing 512 B values with 8 workers through SendAsync, lz4 compression`,
			`^rate: +\d+ msgs/s +[\d.]+ MB/s +delivered=\d+`,
			`^total: [1-9]\d* messages \([\d.]+ MB of values\) in .*: \d+ msgs/s, [\d.]+ MB/s; failed=0$`,
			`^requests: [1-9]\d* .* compression lz4 [\d.]+x$`)
	})

	t.Run("high_throughput/messages", func(t *testing.T) {
		o := run(t, bin("high_throughput"), 60*time.Second, "-messages", "20000", "-duration", "30s", "-compression", "zstd")
		expect(t, "stdout", o.stdout, `^total: 20000 messages .*failed=0$`, `compression zstd`)
	})

	t.Run("high_throughput/stream", func(t *testing.T) {
		o := run(t, bin("high_throughput"), 60*time.Second, "-stream", "-window", "5000", "-messages", "30000", "-duration", "30s")
		expect(t, "stdout", o.stdout, `through Stream, lz4`, `^total: 30000 messages .*failed=0$`)
	})

	t.Run("secure_mtls", func(t *testing.T) {
		o := run(t, bin("secure_mtls"), 60*time.Second, "-messages", "3")
		expect(t, "stdout", o.stdout,
			`^started a development broker on 127\.0\.0\.1:\d+ requiring client certificates$`,
			`subject CN "payments-service"`,
			`^sent: topic=payments partition=\d offset=\d+ key=account-0$`,
			`^sent: topic=payments partition=\d offset=\d+ key=account-2$`,
			`^connection: broker=127\.0\.0\.1:\d+ state=connected alpn="rustmq"$`,
			`^refused as expected: topic=audit op=WRITE: .*principal "payments-service"`,
			`^send without a certificate failed: .*certificate required`)
		if n := strings.Count(o.stdout, "sent: topic=payments"); n != 3 {
			t.Errorf("want 3 sent lines, got %d", n)
		}
	})

	t.Run("simple_producer", func(t *testing.T) {
		o := run(t, bin("simple_producer"), 30*time.Second, "-messages", "4")
		expect(t, "stdout", o.stdout, `partition=\d+ offset=\d+`)
	})
}

// untilSignal runs the production example bin with args until its metrics
// line shows deliveries, then sends it sig and returns what it printed
// once it exited; it fails the test unless it exits 0.
func untilSignal(t *testing.T, bin string, sig os.Signal, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "metrics: ") && !strings.Contains(sc.Text(), "delivered=0 ") {
			break
		}
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(pipe)
	out.Write(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after %v: %v\nstdout:\n%s\nstderr:\n%s", sig, err, out.String(), errBuf.String())
	}
	return out.String(), errBuf.String()
}

// checkSummary fails unless production's summary says every order produced
// was sent.
func checkSummary(t *testing.T, stdout string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^summary: produced=(\d+) sent=(\d+) failed=0`).FindStringSubmatch(stdout)
	if m == nil {
		return // reported by expect
	}
	if m[1] != m[2] || m[1] == "0" {
		t.Errorf("summary: produced=%s sent=%s: want equal and non-zero", m[1], m[2])
	}
}

// startBrokerBin runs the rustmq-broker binary of dir with args on a free
// port, stopped with the test, and returns its address.
func startBrokerBin(t *testing.T, dir string, args ...string) string {
	t.Helper()
	p := proctest.Start(t, filepath.Join(dir, "rustmq-broker"), append(args, "--listen", "127.0.0.1:0")...)
	t.Cleanup(func() { p.Stop() })
	return p.Addr
}

// TestExamplesAgainstBrokerBinary runs each example with -brokers and -ca
// against the development broker binary, as the README shows, and the
// production example's shutdown on SIGINT, whose summary must match what
// the broker holds.
func TestExamplesAgainstBrokerBinary(t *testing.T) {
	dir := build(t)
	bin := func(name string) string { return filepath.Join(dir, name) }
	ca := filepath.Join(t.TempDir(), "ca.pem")
	addr := startBrokerBin(t, dir, "--topic", "orders:3", "--topic", "shutdown:3", "--write-ca", ca)
	conn := []string{"-brokers", addr, "-ca", ca}

	o := run(t, bin("simple_producer"), 30*time.Second, append(conn, "-messages", "4")...)
	if n := strings.Count(o.stdout, "partition="); n != 4 || strings.Contains(o.stdout, "started a development broker") {
		t.Errorf("simple_producer -brokers:\n%s", o.stdout)
	}
	o = run(t, bin("high_throughput"), 60*time.Second, append(conn, "-duration", "1500ms", "-workers", "4", "-size", "100")...)
	// The first second may deliver nothing on a loaded machine: the live
	// line must be there, the total above zero.
	expect(t, "high_throughput -brokers", o.stdout, `^rate: +\d+ msgs/s`, `^total: [1-9]\d* messages .*failed=0$`)
	o = run(t, bin("tracing"), 30*time.Second, conn...)
	expect(t, "tracing -brokers", o.stdout, `^== one message \(partition \d, offset \d+\) ==$`, `^send orders \(client\)`)

	// production until SIGINT: the orders it says it sent are on the broker.
	out, stderr := untilSignal(t, bin("production"), syscall.SIGINT, append(conn, "-topic", "shutdown", "-duration", "0", "-rate", "1000", "-report", "200ms")...)
	m := regexp.MustCompile(`(?m)^summary: produced=(\d+) sent=(\d+) failed=0`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Fatalf("production summary after SIGINT:\n%s", out)
	}
	var sent int64
	fmt.Sscan(m[2], &sent)
	if got := countRecords(t, addr, ca, "shutdown"); got != sent {
		t.Errorf("production reported %d orders sent; the broker holds %d new records", sent, got)
	}
	expect(t, "production stderr", stderr, `msg="shutting down" reason="signal received"`)
}

// countRecords returns how many records topic holds.
func countRecords(t *testing.T, addr, ca, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rt, err := rmq.New(rmq.Config{Brokers: []string{addr}, TLS: rmq.TLSConfig{CAFile: ca}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	rd, err := rt.NewReader(ctx, topic, rmq.ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var n int64
	for {
		_, err := rd.Next(ctx)
		if errors.Is(err, rmq.ErrEndOfPartitions) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// TestSecureMTLSAgainstBrokerBinary runs secure_mtls with certificate
// files against the broker binary requiring client certificates: it
// sends with its certificate, and is refused without one.
func TestSecureMTLSAgainstBrokerBinary(t *testing.T) {
	dir := build(t)
	files := t.TempDir()
	f := func(name string) string { return filepath.Join(files, name) }
	ca, err := devcert.NewCA("examples test CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer()
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("payments-service")
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(ca.WriteCA(f("ca.pem")), devcert.WriteKeyPair(server, f("server.pem"), f("server.key")),
		devcert.WriteKeyPair(client, f("client.pem"), f("client.key"))); err != nil {
		t.Fatal(err)
	}
	addr := startBrokerBin(t, dir, "--tls-cert", f("server.pem"), "--tls-key", f("server.key"), "--client-ca", f("ca.pem"), "--topic", "payments:3")
	o := run(t, filepath.Join(dir, "secure_mtls"), 60*time.Second,
		"-brokers", addr, "-ca", f("ca.pem"), "-cert", f("client.pem"), "-key", f("client.key"), "-messages", "2")
	expect(t, "secure_mtls -brokers", o.stdout,
		`subject CN "payments-service"`,
		`^sent: topic=payments partition=\d offset=\d+ key=account-1$`,
		`^send without a certificate failed: .*certificate required`)
	if strings.Contains(o.stdout, "refused as expected") {
		t.Errorf("secure_mtls tried a forbidden topic against a broker without ACL:\n%s", o.stdout)
	}
}
