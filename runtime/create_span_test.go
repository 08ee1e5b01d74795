package runtime

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rustmq/rustmq-go/actors"
)

// testProducer returns a producer that is not started (no actors), for
// measuring what happens in the caller's goroutine; tp may be nil.
func testProducer(t testing.TB, tp *sdktrace.TracerProvider) *Producer {
	rt := &Runtime{cfg: Config{ClientID: DefaultClientID}}
	pc, err := ProducerConfig{}.withDefaults(&Config{MaxRequestBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if tp != nil {
		rt.tracer = tp.Tracer(tracerName)
	}
	p := newProducer(rt, "bench", pc)
	t.Cleanup(p.delivery.close)
	return p
}

// TestUnsampledCreateSpanCost: under a sampler that records nothing, a root
// message costs what the SDK's Start costs and nothing of ours: no extra
// block, no flags, no traceparent (an unsampled root's trace has no span
// anywhere). Under an unsampled parent the parent's decision travels: the
// record is marked traced and carries the span context to write.
func TestUnsampledCreateSpanCost(t *testing.T) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	t.Cleanup(func() { _ = never.Shutdown(context.Background()) })
	ctx := context.Background()
	cb := func(*Result, error) {}
	allocs := func(p *Producer, m *Message) float64 {
		return testing.AllocsPerRun(1000, func() {
			if _, err := p.prepare(ctx, m, time.Now().UnixNano(), cb); err != nil {
				t.Fatal(err)
			}
		})
	}
	plain, traced := testProducer(t, nil), testProducer(t, never)
	for _, m := range []*Message{{Payload: make([]byte, 100)}, {Topic: "other", Payload: make([]byte, 100)}} {
		base, got := allocs(plain, m), allocs(traced, m)
		if got-base > 2 {
			t.Errorf("topic %q: %v allocations per message unsampled, %v untraced", m.Topic, got, base)
		}
		e, err := traced.prepare(ctx, m, time.Now().UnixNano(), cb)
		if err != nil {
			t.Fatal(err)
		}
		if e.ext() != nil || e.rec.Flags&(actors.FlagTraced|actors.FlagSampled) != 0 {
			t.Errorf("unsampled root: ext %v, flags %b", e.ext(), e.rec.Flags)
		}
	}
	parent := propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"})
	e, err := traced.prepare(parent, &Message{Payload: []byte("x")}, time.Now().UnixNano(), cb)
	if err != nil {
		t.Fatal(err)
	}
	if x := e.ext(); x == nil || !x.trace.IsValid() || x.trace.IsSampled() || e.rec.Flags&actors.FlagTraced == 0 || e.rec.Flags&actors.FlagSampled != 0 {
		t.Errorf("unsampled child: ext %+v flags %b", x, e.rec.Flags)
	}
}

// BenchmarkPrepareUnsampled measures what accepting one message costs in
// the caller's goroutine (validation, envelope, create span) with no tracer
// provider and with an SDK provider that samples nothing. The difference is
// the unsampled tracing cost per message.
func BenchmarkPrepareUnsampled(b *testing.B) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	b.Cleanup(func() { _ = never.Shutdown(context.Background()) })
	for _, c := range []struct {
		name   string
		traced bool
	}{{"none", false}, {"never", true}} {
		b.Run(c.name, func(b *testing.B) {
			var tp *sdktrace.TracerProvider
			if c.traced {
				tp = never
			}
			p := testProducer(b, tp)
			m := &Message{Payload: make([]byte, 100)}
			ctx := context.Background()
			cb := func(*Result, error) {}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.prepare(ctx, m, time.Now().UnixNano(), cb); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
