package runtime_test

import (
	"context"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// discardSpans is a span exporter that keeps nothing: the benchmark
// measures what tracing costs the producer, not an exporter.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracingOverhead measures SendAsync throughput of 100-byte
// messages into a development broker (acks All, idempotent, keyless, 4
// partitions) with no tracer provider, with an SDK provider whose sampler
// drops everything, and with one that samples everything into a batch span
// processor and a discarding exporter. Each iteration sends one message in
// each configuration, so the three run the same number of messages, in
// interleaved rounds of 20,000 so that machine noise hits all three alike.
// A fourth producer, untraced, sends messages that already carry a
// traceparent header: it separates the cost of the 55 header bytes every
// traced message gains (sampled or not, W3C asks for the context to travel)
// from the cost of the spans. It reports msgs/s of the three
// configurations and the ratios to the untraced figure.
func BenchmarkTracingOverhead(b *testing.B) {
	br, ca := startBroker(b, broker.Config{Topics: map[string]int{"bench": 4}})
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discardSpans{}))
	b.Cleanup(func() {
		_ = never.Shutdown(context.Background())
		_ = always.Shutdown(context.Background())
	})
	configs := []struct {
		name string
		tp   trace.TracerProvider
		p    *rmq.Producer
		el   time.Duration
		hdr  []rmq.Header
	}{{name: "none"}, {name: "never", tp: never}, {name: "always", tp: always},
		{name: "none+header", hdr: []rmq.Header{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")}}}}
	for i := range configs {
		tp := configs[i].tp
		rt := newRuntime(b, []string{br.Addr()}, ca, func(c *rmq.Config) { c.TracerProvider = tp })
		configs[i].p = newProducer(b, rt, "bench", rmq.ProducerConfig{})
	}
	payload := make([]byte, 100)
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed sync.Once
	cb := func(_ *rmq.Result, err error) {
		if err != nil {
			failed.Do(func() { b.Error(err) })
		}
		wg.Done()
	}
	// Warm every producer up (metadata, connection, batchers).
	for _, c := range configs {
		if _, err := c.p.Send(ctx, &rmq.Message{Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	const round = 20000
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(round, b.N-done)
		for i := range configs {
			start := time.Now()
			wg.Add(k)
			for range k {
				if err := configs[i].p.SendAsync(ctx, &rmq.Message{Payload: payload, Headers: configs[i].hdr}, cb); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			configs[i].el += time.Since(start)
		}
		done += k
	}
	b.StopTimer()
	rate := func(i int) float64 { return float64(b.N) / configs[i].el.Seconds() }
	b.ReportMetric(rate(0), "none_msgs/s")
	b.ReportMetric(rate(1), "never_msgs/s")
	b.ReportMetric(rate(2), "always_msgs/s")
	b.ReportMetric(rate(1)/rate(0), "never/none")
	b.ReportMetric(rate(2)/rate(0), "always/none")
	b.ReportMetric(rate(3)/rate(0), "header/none")
	b.ReportMetric(0, "ns/op")
}
