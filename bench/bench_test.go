package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	rmq "github.com/rustmq/rustmq-go/runtime"
)

// TestMain lets the test binary serve as the runner's child processes (a
// broker, an RSS probe), as the runner re-executes itself for them.
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 {
		switch os.Args[1] {
		case childFlag:
			n, _ := strconv.Atoi(os.Args[2])
			os.Exit(runBrokerChild(n))
		case rssChildFlag:
			os.Exit(runRSSChild(os.Args[2]))
		}
	}
	goleak.VerifyTestMain(m)
}

// TestRunner runs the whole runner with tiny settings and checks that every
// section and ratio is printed with figures.
func TestRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers and measures for a few seconds; skipped with -short")
	}
	o, err := parseFlags([]string{"-duration", "300ms", "-workers", "1,4", "-rtt-n", "50", "-bulk-mb", "4", "-latency-n", "50", "-heap-n", "5000", "-trace-rounds", "2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, o, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, p := range []string{
		`round trip \(200 B request, 14 B response\) +\d+µs +\d+µs +50`,
		`bulk, one stream \(4 MiB\) +[\d.]+ +1`,
		`(?m)^ +1 +[\d,]+ +[\d.]+ +\d+ns +[\d.]+ +\d+ +0 +\d+`,
		`(?m)^ +4 +[\d,]+ +[\d.]+ +\d+ns +[\d.]+ +\d+ +0 +\d+`,
		`(?m)^ +Send +\d+µs +\d+µs +\d+µs +\d+µs +50 *$`,
		`(?m)^ +transport Do +\d+µs +\d+µs +\d+µs +\d+µs +50 *$`,
		`p50 Send / p50 transport Do, same broker +[\d.]+x`,
		`(?m)^ +-?\d+ +[\d.]+ +\d+ *$`,
		`runtime \+ 1 producer +bare quic-go client +ratio`,
		`(?m)^ +[\d.]+ MiB +[\d.]+ MiB +[\d.]+x *$`,
		`p50 Send / p50 raw round trip, taken in turn +[\d.]+x +\(target <= 1.25x\) +(met|NOT met)`,
		`SendAsync msgs/s, \d workers +[\d,]+ +\(target >= 2,000,000\) +(met|NOT met)`,
		`heap bytes per buffered message +-?\d+ +\(target <= 200\) +(met|NOT met)`,
		`NeverSample / no provider +[\d.]+x`,
		`none +[\d,]+ +1\.00 +\d+ns +- +-`,
		`sdk, NeverSample +[\d,]+ +[\d.]+ +\d+ns +[+-]\d+ns +0`,
		`sdk, AlwaysSample +[\d,]+ +[\d.]+ +\d+ns +[+-]\d+ns +[1-9]\d*`,
	} {
		if !regexp.MustCompile(p).MatchString(out.String()) {
			t.Errorf("output lacks %q:\n%s", p, out.String())
		}
	}
}

// TestParseFlags pins the flag validation.
func TestParseFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-workers", "0"}, {"-workers", "x"}, {"-acks", "some"}, {"-compression", "brotli"},
		{"-duration", "0s"}, {"-size", "0"}, {"-partitions", "0"}, {"-log", "loud"}, {"extra"},
		{"-heap-n", "-1"}, {"-trace-rounds", "0"}, {"-brokers", "127.0.0.1:1", "-broker-process"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
	o, err := parseFlags([]string{"-workers", "2, 16", "-acks", "all", "-compression", "lz4"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.workers) != 2 || o.workers[1] != 16 || o.traceWork != 16 || o.acks != rmq.AcksAll || o.compression.String() != "lz4" {
		t.Fatalf("parsed %+v", o)
	}
}

// benchProducer opens a session and a producer for a benchmark.
func benchProducer(b *testing.B, cfg rmq.ProducerConfig, tp trace.TracerProvider) *rmq.Producer {
	b.Helper()
	ctx := context.Background()
	sess, err := open(ctx, setup{partitions: 4}, tp)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sess.close(context.Background()) })
	p, err := sess.rt.CreateProducer(benchTopic, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := warmUp(ctx, p, payloadOf(100)); err != nil {
		b.Fatal(err)
	}
	return p
}

// sendAsyncLoop runs SendAsync of 100-byte values from GOMAXPROCS*8
// goroutines for b.N messages, flushes, and reports msgs/s and MB/s.
func sendAsyncLoop(b *testing.B, p *rmq.Producer) {
	ctx := context.Background()
	payload := payloadOf(100)
	var failed atomic.Int64
	cb := func(_ *rmq.Result, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.SetParallelism(8)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := p.SendAsync(ctx, &rmq.Message{Payload: payload}, cb); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d messages failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkSendAsync is the SendAsync throughput of 100-byte values with
// acks Leader, including the final flush.
func BenchmarkSendAsync(b *testing.B) {
	sendAsyncLoop(b, benchProducer(b, rmq.ProducerConfig{Acks: rmq.AcksLeader}, nil))
}

// BenchmarkSendAsyncTracing compares SendAsync throughput with no tracer
// provider, a provider that samples nothing and one that samples every
// message into a discarding exporter.
func BenchmarkSendAsyncTracing(b *testing.B) {
	for _, tc := range tracingCases {
		b.Run(tc.name, func(b *testing.B) {
			tp, _, shutdown := tc.provider()
			b.Cleanup(func() { _ = shutdown(context.Background()) })
			sendAsyncLoop(b, benchProducer(b, rmq.ProducerConfig{Acks: rmq.AcksLeader}, tp))
		})
	}
}

// BenchmarkSend is the latency of one Send of a 100-byte value with acks
// Leader and no linger, reported as p50 and p99 beside ns/op.
func BenchmarkSend(b *testing.B) {
	p := benchProducer(b, rmq.ProducerConfig{Acks: rmq.AcksLeader, Linger: -1}, nil)
	ctx := context.Background()
	payload := payloadOf(100)
	lat := make(latencies, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := p.Send(ctx, &rmq.Message{Payload: payload}); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	b.ReportMetric(float64(lat.percentile(50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat.percentile(99).Microseconds()), "p99-µs")
}

// BenchmarkRawRoundTrip is the baseline: one request on its own quic-go
// stream with the same TLS, no runtime.
func BenchmarkRawRoundTrip(b *testing.B) {
	raw, err := startRawQUIC()
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	req := make([]byte, 200)
	req[0] = 1
	lat := make(latencies, 0, 1<<16)
	for b.Loop() {
		t0 := time.Now()
		if err := raw.roundTrip(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	b.ReportMetric(float64(lat.percentile(50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat.percentile(99).Microseconds()), "p99-µs")
}
