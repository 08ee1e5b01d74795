package runtime

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/transport/compress"
)

// TestWireSizeMatchesParts: the size prepare counts without building the
// parts is the size of the parts the router encodes, for every kind of
// message: keyed or not, headers, a compressed value, a traceparent with
// and without tracestate.
func TestWireSizeMatchesParts(t *testing.T) {
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = always.Shutdown(context.Background()) })
	plain := testProducer(t, nil)
	traced := testProducer(t, always)
	rt := &Runtime{cfg: Config{ClientID: DefaultClientID}}
	pc, err := ProducerConfig{Compression: compress.Zstd, CompressThreshold: 1}.withDefaults(&Config{MaxRequestBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	zstd := newProducer(rt, "bench", pc)
	t.Cleanup(zstd.delivery.close)

	ctx := context.Background()
	withState := propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":  "vendor=value,other=x",
	})
	big := bytes.Repeat([]byte("compressible "), 200)
	msgs := []*Message{
		{Payload: []byte("v")},
		{Key: []byte{}, Payload: nil},
		{Key: []byte("key"), Payload: big, Headers: []Header{{Key: "a", Value: []byte("b")}, {Key: "trace-id", Value: nil}}},
		{Topic: "other", Key: []byte("k"), Payload: []byte("x"), Timestamp: time.UnixMilli(1700000000000)},
	}
	cb := func(*Result, error) {}
	var codecs, states int
	for _, p := range []*Producer{plain, traced, zstd} {
		for _, c := range []context.Context{ctx, withState} {
			for i, m := range msgs {
				e, err := p.prepare(c, m, time.Now().UnixNano(), cb)
				if err != nil {
					t.Fatal(err)
				}
				var parts actors.RecordParts
				p.partsOf(e, &parts)
				if got, want := p.wireSize(e), actors.PartsSize(&parts, false); got != want {
					t.Errorf("message %d (codec %q, trace %v): wireSize %d, parts %d", i, parts.Codec, parts.Trace.IsValid(), got, want)
				}
				if parts.Codec != "" {
					codecs++
				}
				if parts.Trace.TraceState().Len() > 0 {
					states++
				}
				p.abandonSpan(e, context.Canceled)
			}
		}
	}
	if codecs == 0 || states == 0 {
		t.Fatalf("cases with a codec %d, with a tracestate %d: both kinds must be measured", codecs, states)
	}
}
