package runtime_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// tracedSetup starts a broker with topic "t" (parts partitions), a runtime
// traced by a provider with sampler feeding a span recorder, and a producer.
func tracedSetup(t *testing.T, parts int, sampler sdktrace.Sampler, pc rmq.ProducerConfig) (*broker.Broker, *tracetest.SpanRecorder, *sdktrace.TracerProvider, *rmq.Producer) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": parts}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.TracerProvider = tp; c.ClientID = "tracer-test" })
	return b, rec, tp, newProducer(t, rt, "t", pc)
}

// attrs returns a span's (or event's) attributes as strings by key.
func attrs(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func eventNames(s sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, e := range s.Events() {
		names = append(names, e.Name)
	}
	return names
}

// spansOf returns the ended spans of trace id tid (or, for the zero id,
// every span) named name.
func spansNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// linkedFrom returns the send spans that link to create span sc.
func linkedFrom(sends []sdktrace.ReadOnlySpan, sc trace.SpanContext) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sends {
		for _, l := range s.Links() {
			if l.SpanContext.SpanID() == sc.SpanID() && l.SpanContext.TraceID() == sc.TraceID() {
				out = append(out, s)
			}
		}
	}
	return out
}

func sameMap(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s attributes\n got %v\nwant %v", what, got, want)
	}
}

// renderTree prints a message's spans as an indented tree with events and
// links, for the test log.
func renderTree(spans ...sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	byParent := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	ids := map[trace.SpanID]bool{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if ids[s.Parent().SpanID()] {
			byParent[s.Parent().SpanID()] = append(byParent[s.Parent().SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		ind := strings.Repeat("  ", depth)
		keys := attrs(s.Attributes())
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		var kv []string
		for _, k := range names {
			kv = append(kv, k+"="+keys[k])
		}
		fmt.Fprintf(&b, "%s%s [%s] span=%s status=%s {%s}\n", ind, s.Name(), s.SpanKind(), s.SpanContext().SpanID(), s.Status().Code, strings.Join(kv, " "))
		for _, e := range s.Events() {
			fmt.Fprintf(&b, "%s  event +%v %s %v\n", ind, e.Time.Sub(s.StartTime()).Round(time.Microsecond), e.Name, attrs(e.Attributes))
		}
		for _, l := range s.Links() {
			fmt.Fprintf(&b, "%s  link -> %s %v\n", ind, l.SpanContext.SpanID(), attrs(l.Attributes))
		}
		for _, c := range byParent[s.SpanContext().SpanID()] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

// TestTraceOneMessage checks the whole trace of one message: the caller's
// span, the create span under it with the router and batcher events and a
// link to the send span, and the send span with its link back, the
// connection actor's events and the messaging attributes.
func TestTraceOneMessage(t *testing.T) {
	t.Parallel()
	b, rec, tp, p := tracedSetup(t, 1, sdktrace.AlwaysSample(), rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 10*time.Second)
	// The first message of a producer waits for the topic's metadata.
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up")}); err != nil {
		t.Fatal(err)
	}
	first := spansNamed(rec, "create t")
	if len(first) != 1 || eventNames(first[0])[0] != actors.EventWaitMetadata {
		t.Fatalf("first message events %v", eventNames(first[0]))
	}

	cctx, caller := tp.Tracer("test").Start(ctx, "caller")
	res, err := p.Send(cctx, &rmq.Message{Payload: []byte("traced")})
	if err != nil {
		t.Fatal(err)
	}
	caller.End()

	var create sdktrace.ReadOnlySpan
	for _, s := range spansNamed(rec, "create t") {
		if s.SpanContext().TraceID() == caller.SpanContext().TraceID() {
			create = s
		}
	}
	if create == nil {
		t.Fatal("no create span in the caller's trace")
	}
	sends := linkedFrom(spansNamed(rec, "send t"), create.SpanContext())
	if len(sends) != 1 {
		t.Fatalf("%d send spans link to the create span", len(sends))
	}
	send := sends[0]
	var callerSpan sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanContext().SpanID() == caller.SpanContext().SpanID() {
			callerSpan = s
		}
	}
	t.Logf("span tree of one message:\n%s", renderTree(callerSpan, create, send))

	// create: PRODUCER child of the caller, ended with partition and offset.
	if create.SpanKind() != trace.SpanKindProducer || create.Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Fatalf("create span kind %v parent %v", create.SpanKind(), create.Parent().SpanID())
	}
	sameMap(t, "create", attrs(create.Attributes()), map[string]string{
		"messaging.system": "rustmq", "messaging.destination.name": "t", "messaging.operation.name": "create",
		"messaging.operation.type": "create", "messaging.client.id": "tracer-test",
		"messaging.destination.partition.id": "0", rmq.AttrOffset: strconv.FormatInt(res.Offset, 10),
	})
	if res.Offset != 1 || create.Status().Code != codes.Unset {
		t.Fatalf("offset %d status %v", res.Offset, create.Status())
	}
	if got := strings.Join(eventNames(create), ","); got != "" {
		t.Fatalf("create events %s: nothing happened to this message alone", got)
	}
	if !create.EndTime().After(send.EndTime()) && !create.EndTime().Equal(send.EndTime()) {
		t.Fatalf("create ended before its send span")
	}

	// send: CLIENT root span linked to the create span.
	if send.SpanKind() != trace.SpanKindClient || send.Parent().IsValid() || send.Status().Code != codes.Unset {
		t.Fatalf("send span kind %v parent %v status %v", send.SpanKind(), send.Parent(), send.Status())
	}
	host, port, _ := strings.Cut(b.Addr(), ":")
	sameMap(t, "send", attrs(send.Attributes()), map[string]string{
		"messaging.system": "rustmq", "messaging.destination.name": "t", "messaging.operation.name": "send",
		"messaging.operation.type": "send", "messaging.destination.partition.id": "0", "messaging.batch.message_count": "1",
		"messaging.client.id": "tracer-test", "server.address": host, "server.port": port, actors.AttrAttempt: "1",
		"rustmq.batch.close_reason": "linger", "rustmq.batch.bytes": attrs(send.Attributes())["rustmq.batch.bytes"],
	})
	if got := strings.Join(eventNames(send), ","); got != actors.EventConnWritten+","+actors.EventConnResponse {
		t.Fatalf("send events %s", got)
	}
	if _, ok := attrs(send.Events()[1].Attributes)["error.type"]; ok {
		t.Fatalf("response event reports an error: %v", send.Events()[1].Attributes)
	}

	// The stored traceparent is the create span's context.
	stored, _ := header(b.Records("t", 0)[1].Headers, "traceparent")
	want := fmt.Sprintf("00-%s-%s-01", create.SpanContext().TraceID(), create.SpanContext().SpanID())
	if stored != want {
		t.Fatalf("stored traceparent %q, want %q", stored, want)
	}
}

// TestTraceBatchLinks: one request carrying many messages has one send span
// that links to the create span of every message.
func TestTraceBatchLinks(t *testing.T) {
	t.Parallel()
	const n = 40
	_, rec, _, p := tracedSetup(t, 1, sdktrace.AlwaysSample(), rmq.ProducerConfig{Linger: time.Hour, BatchSize: n})
	msgs := make([]*rmq.Message, n)
	for i := range msgs {
		msgs[i] = &rmq.Message{Payload: []byte("m" + strconv.Itoa(i))}
	}
	if _, err := p.SendBatch(ctxTimeout(t, 10*time.Second), msgs); err != nil {
		t.Fatal(err)
	}
	creates, sends := spansNamed(rec, "create t"), spansNamed(rec, "send t")
	if len(creates) != n || len(sends) != 1 {
		t.Fatalf("%d create and %d send spans", len(creates), len(sends))
	}
	send := sends[0]
	if a := attrs(send.Attributes()); a["rustmq.batch.close_reason"] != "size" || a["rustmq.batch.bytes"] == "" {
		t.Fatalf("send span attributes %v", a)
	}
	if attrs(send.Attributes())["messaging.batch.message_count"] != strconv.Itoa(n) || len(send.Links()) != n {
		t.Fatalf("send span count %s links %d", attrs(send.Attributes())["messaging.batch.message_count"], len(send.Links()))
	}
	linked := map[trace.SpanID]bool{}
	for _, l := range send.Links() {
		linked[l.SpanContext.SpanID()] = true
	}
	for _, c := range creates {
		if !linked[c.SpanContext().SpanID()] {
			t.Fatalf("create span %s not linked from the send span", c.SpanContext().SpanID())
		}
	}
}

// TestTraceRetry: a batch refused with a retriable code shows a failed send
// span (error.type, status), a retry event with attempt and reason on the
// message's create span, and a second send span marked as attempt 2.
func TestTraceRetry(t *testing.T) {
	t.Parallel()
	b, rec, _, p := tracedSetup(t, 1, sdktrace.AlwaysSample(), rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up")}); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 0, Code: wire.ErrNotEnoughReplicas.Code})
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("retried")}); err != nil {
		t.Fatal(err)
	}
	creates, sends := spansNamed(rec, "create t"), spansNamed(rec, "send t")
	if len(creates) != 1 || len(sends) != 2 {
		t.Fatalf("%d create and %d send spans", len(creates), len(sends))
	}
	create := creates[0]
	sort.Slice(sends, func(i, j int) bool { return sends[i].StartTime().Before(sends[j].StartTime()) })
	a1, a2 := attrs(sends[0].Attributes()), attrs(sends[1].Attributes())
	if a1[actors.AttrAttempt] != "1" || a1["error.type"] != "NOT_ENOUGH_REPLICAS" || sends[0].Status().Code != codes.Error {
		t.Fatalf("first attempt: %v status %v", a1, sends[0].Status())
	}
	if a2[actors.AttrAttempt] != "2" || a2[actors.AttrRetryReason] != "NOT_ENOUGH_REPLICAS" || a2["error.type"] != "" || sends[1].Status().Code != codes.Unset {
		t.Fatalf("second attempt: %v status %v", a2, sends[1].Status())
	}
	var retry map[string]string
	for _, e := range create.Events() {
		if e.Name == actors.EventRetry {
			retry = attrs(e.Attributes)
		}
	}
	if retry == nil || retry[actors.AttrAttempt] != "1" || retry[actors.AttrRetryReason] != "NOT_ENOUGH_REPLICAS" {
		t.Fatalf("retry event %v (events %v)", retry, eventNames(create))
	}
	if len(linkedFrom(sends, create.SpanContext())) != 2 {
		t.Fatalf("not both send spans link to the create span")
	}
	if create.Status().Code != codes.Unset {
		t.Fatalf("create status %v after a successful retry", create.Status())
	}
	t.Logf("retried message:\n%s", renderTree(create, sends[0], sends[1]))
}

// TestTraceCallerHeaderAndFailure: a caller's own traceparent is stored
// untouched; a message that fails ends its create span with error.type and
// an error status.
func TestTraceCallerHeaderAndFailure(t *testing.T) {
	t.Parallel()
	b, rec, _, p := tracedSetup(t, 1, sdktrace.AlwaysSample(), rmq.ProducerConfig{MaxRetries: -1})
	ctx := ctxTimeout(t, 10*time.Second)
	own := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("own"), Headers: []rmq.Header{{Key: "traceparent", Value: []byte(own)}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := header(b.Records("t", 0)[0].Headers, "traceparent"); got != own {
		t.Fatalf("caller's traceparent became %q", got)
	}
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 0, Code: wire.ErrInvalidRecord.Code})
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("refused")}); err == nil {
		t.Fatal("refused message succeeded")
	}
	creates := spansNamed(rec, "create t")
	failed := creates[len(creates)-1]
	if failed.Status().Code != codes.Error || attrs(failed.Attributes())["error.type"] != "INVALID_RECORD" {
		t.Fatalf("failed create span: status %v attrs %v", failed.Status(), attrs(failed.Attributes()))
	}
}

// TestTraceSampling: with a sampler that drops everything nothing is
// recorded and an unsampled root writes no traceparent (no backend will
// ever hold a span of its trace); a message under an unsampled remote
// parent keeps the parent's trace id, carries the unsampled context (W3C
// flags 00) and is not sampled either, even with a parent-based sampler
// that samples roots; without a provider no traceparent is added.
func TestTraceSampling(t *testing.T) {
	t.Parallel()
	t.Run("never", func(t *testing.T) {
		t.Parallel()
		b, rec, _, p := tracedSetup(t, 1, sdktrace.NeverSample(), rmq.ProducerConfig{})
		if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if n := len(rec.Ended()) + len(rec.Started()); n != 0 {
			t.Fatalf("%d spans recorded", n)
		}
		if tp, ok := header(b.Records("t", 0)[0].Headers, "traceparent"); ok {
			t.Fatalf("traceparent %q of an unsampled root", tp)
		}
	})
	t.Run("unsampled parent", func(t *testing.T) {
		t.Parallel()
		b, rec, _, p := tracedSetup(t, 1, sdktrace.ParentBased(sdktrace.AlwaysSample()), rmq.ProducerConfig{})
		incoming := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
		ctx := propagation.TraceContext{}.Extract(ctxTimeout(t, 10*time.Second), propagation.MapCarrier{"traceparent": incoming})
		if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if n := len(rec.Ended()); n != 0 {
			t.Fatalf("%d spans recorded under an unsampled parent: %v", n, spansNamed(rec, "send t"))
		}
		tp, _ := header(b.Records("t", 0)[0].Headers, "traceparent")
		if !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(tp, "-00") || strings.Contains(tp, "00f067aa0ba902b7") {
			t.Fatalf("traceparent %q: want the parent's trace, a new span id, unsampled", tp)
		}
	})
	t.Run("no provider", func(t *testing.T) {
		t.Parallel()
		b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
		p := newProducer(t, newRuntime(t, []string{b.Addr()}, ca, nil), "t", rmq.ProducerConfig{})
		if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if tp, ok := header(b.Records("t", 0)[0].Headers, "traceparent"); ok {
			t.Fatalf("traceparent %q without a provider", tp)
		}
	})
}
