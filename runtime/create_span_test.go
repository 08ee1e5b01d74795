package runtime

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rustmq/rustmq-go/transport/wire"
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

// TestUnsampledCreateSpanAllocs: under a sampler that records nothing, a
// message costs at most three allocations more than without tracing (the
// SDK's span and context, and the traceparent header), for the producer's
// topic and for another topic a message names, and still carries an
// unsampled traceparent. The create span's start options used to carry
// its attributes, copied on every Start before the sampler decided.
func TestUnsampledCreateSpanAllocs(t *testing.T) {
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	t.Cleanup(func() { _ = never.Shutdown(context.Background()) })
	ctx := context.Background()
	allocs := func(p *Producer, m *Message) float64 {
		return testing.AllocsPerRun(1000, func() {
			e, err := p.prepare(ctx, m, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if e.span != nil {
				e.span.End()
			}
		})
	}
	plain, traced := testProducer(t, nil), testProducer(t, never)
	for _, m := range []*Message{{Payload: make([]byte, 100)}, {Topic: "other", Payload: make([]byte, 100)}} {
		base, got := allocs(plain, m), allocs(traced, m)
		if got-base > 3 {
			t.Errorf("topic %q: %v allocations per message unsampled, %v untraced", m.Topic, got, base)
		}
		e, err := traced.prepare(ctx, m, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tp, ok := wire.HeaderValue(e.rec.Wire.Headers, wire.HeaderTraceparent)
		if !ok || len(tp) != 55 || !strings.HasSuffix(string(tp), "-00") || e.rec.Span.IsSampled() {
			t.Errorf("traceparent %q (present %v), sampled %v", tp, ok, e.rec.Span.IsSampled())
		}
		e.span.End()
	}
}

// BenchmarkPrepareUnsampled measures what accepting one message costs in
// the caller's goroutine (validation, envelope, create span, traceparent
// header) with no tracer provider and with an SDK provider that samples
// nothing. The difference is the unsampled tracing cost per message.
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
			b.ReportAllocs()
			for b.Loop() {
				e, err := p.prepare(ctx, m, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				if e.span != nil {
					e.span.End()
				}
			}
		})
	}
}
