package runtime_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestTraceContext: each message gets a "create" span under the caller's
// span whose context lands in the stored record's traceparent; the "send"
// span links to it; a caller's own traceparent survives untouched.
func TestTraceContext(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.TracerProvider = tp })
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})

	ctx, parent := tp.Tracer("test").Start(ctxTimeout(t, 10*time.Second), "caller")
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("traced")}); err != nil {
		t.Fatal(err)
	}
	own := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("own"), Headers: []rmq.Header{{Key: "traceparent", Value: []byte(own)}}}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	var creates, sends []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "create t":
			creates = append(creates, s)
		case "send t":
			sends = append(sends, s)
		}
	}
	if len(creates) != 2 || len(sends) != 2 {
		t.Fatalf("%d create and %d send spans", len(creates), len(sends))
	}
	c := creates[0]
	if c.SpanKind() != trace.SpanKindProducer || c.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("create span kind %v parent %v", c.SpanKind(), c.Parent())
	}
	if sends[0].SpanKind() != trace.SpanKindClient || len(sends[0].Links()) != 1 || sends[0].Links()[0].SpanContext.SpanID() != c.SpanContext().SpanID() {
		t.Fatalf("send span %v links %v", sends[0].SpanKind(), sends[0].Links())
	}
	recs := b.Records("t", 0)
	tp0, _ := wire.HeaderValue(recs[0].Headers, "traceparent")
	want := "00-" + c.SpanContext().TraceID().String() + "-" + c.SpanContext().SpanID().String() + "-01"
	if string(tp0) != want {
		t.Fatalf("stored traceparent %q, want %q", tp0, want)
	}
	tp1, _ := wire.HeaderValue(recs[1].Headers, "traceparent")
	if string(tp1) != own {
		t.Fatalf("caller's traceparent became %q", tp1)
	}
}
