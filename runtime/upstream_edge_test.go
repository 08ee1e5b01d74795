package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Upstream mode at its edges: each test drives the runtime
// through real QUIC sockets against the development broker made to look
// like upstream (startUpstreamRig), and checks what the mode promises:
// one-packet requests, no overlapping Produce on a connection, one result
// per accepted message, records stored once where they were acknowledged.

// trackedSend is one message sent by sendTracked and what came of it.
type trackedSend struct {
	msg   *rmq.Message
	calls atomic.Int32
	res   *rmq.Result
	err   error
}

// sendTracked sends msgs with SendAsync and returns their trackers and a
// wait that returns once every accepted message has had its callback (or
// fails the test after d). A message SendAsync refuses is recorded with
// the refusal and counts as its one result.
func sendTracked(t *testing.T, ctx context.Context, p *rmq.Producer, msgs []*rmq.Message, d time.Duration) ([]*trackedSend, func()) {
	t.Helper()
	sent := make([]*trackedSend, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		s := &trackedSend{msg: m}
		sent[i] = s
		wg.Add(1)
		if err := p.SendAsync(ctx, m, func(res *rmq.Result, err error) {
			if s.calls.Add(1) == 1 {
				s.res, s.err = res, err
				wg.Done()
			}
		}); err != nil {
			s.calls.Add(1)
			s.err = err
			wg.Done()
		}
	}
	wait := func() {
		t.Helper()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(d):
			missing := 0
			for _, s := range sent {
				if s.calls.Load() == 0 {
					missing++
				}
			}
			t.Fatalf("%d of %d messages had no result after %v", missing, len(msgs), d)
		}
		// A second callback would come soon after the first, if at all.
		time.Sleep(20 * time.Millisecond)
		for i, s := range sent {
			if n := s.calls.Load(); n != 1 {
				t.Errorf("message %d: %d results, want exactly one", i, n)
			}
		}
	}
	return sent, wait
}

// checkStoredOnce checks that every message of sent that succeeded is
// stored exactly once, at the partition and offset it was acknowledged
// with (values must be unique), and that no failed message is stored.
// It returns how many succeeded.
func checkStoredOnce(t *testing.T, b *broker.Broker, topics map[string]int, sent []*trackedSend, decode bool) int {
	t.Helper()
	type place struct {
		topic string
		part  int32
		off   int64
	}
	where := map[string][]place{}
	for topic, n := range topics {
		for part := range n {
			for off, rec := range b.Records(topic, uint32(part)) {
				v := rec.Value
				if decode {
					var err error
					if v, err = compress.DecodeValue(&rec); err != nil {
						t.Fatalf("%s/%d@%d: %v", topic, part, off, err)
					}
				}
				where[string(v)] = append(where[string(v)], place{topic, int32(part), int64(off)})
			}
		}
	}
	ok := 0
	for i, s := range sent {
		got := where[string(s.msg.Payload)]
		if s.err != nil {
			if len(got) != 0 {
				t.Errorf("message %d failed (%v) yet is stored %d times", i, s.err, len(got))
			}
			continue
		}
		ok++
		if len(got) != 1 {
			t.Errorf("message %d acknowledged, stored %d times", i, len(got))
			continue
		}
		if s.res.Offset >= 0 && (got[0].topic != s.res.Topic || got[0].part != s.res.Partition || got[0].off != s.res.Offset) {
			t.Errorf("message %d acknowledged at %s/%d@%d, stored at %s/%d@%d", i, s.res.Topic, s.res.Partition, s.res.Offset, got[0].topic, got[0].part, got[0].off)
		}
	}
	return ok
}

// TestUpstreamEdgeLongTopicFitsPacket: with the longest topic name the
// protocol allows (249 bytes, so the request head is 269 bytes), headers,
// keyed and keyless messages, and compressible values of 1 to 4 KiB that
// the codec shrinks, every request still fits one QUIC packet, for each
// codec, and every message is stored once where it was acknowledged.
func TestUpstreamEdgeLongTopicFitsPacket(t *testing.T) {
	t.Parallel()
	topic := strings.Repeat("T", wire.MaxTopicNameBytes)
	for _, codec := range []compress.Codec{compress.None, compress.LZ4, compress.Zstd, compress.Gzip} {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			topics := map[string]int{topic: 3}
			r := startUpstreamRig(t, topics)
			rt := upstreamRuntime(t, r, topics, nil)
			p := newProducer(t, rt, topic, rmq.ProducerConfig{Compression: codec, Linger: 5 * time.Millisecond})
			rnd := rand.New(rand.NewSource(7))
			var msgs []*rmq.Message
			for i := range 300 {
				size := 10 + rnd.Intn(780) // fits alone beside the long head
				if codec != compress.None && i%3 == 0 {
					size = 1024 + rnd.Intn(3000) // compressed to a few dozen bytes
				}
				v := bytes.Repeat([]byte{'v'}, size)
				copy(v, fmt.Sprintf("%05d-", i))
				m := &rmq.Message{Payload: v, Headers: []rmq.Header{{Key: "h", Value: []byte("x")}}}
				if i%2 == 0 {
					m.Key = fmt.Appendf(nil, "k%d", i%17)
				}
				msgs = append(msgs, m)
			}
			sent, wait := sendTracked(t, ctxTimeout(t, 20*time.Second), p, msgs, 20*time.Second)
			wait()
			for i, s := range sent {
				if s.err != nil {
					t.Fatalf("message %d: %v", i, s.err)
				}
			}
			if ok := checkStoredOnce(t, r.b, topics, sent, true); ok != len(msgs) {
				t.Errorf("%d of %d delivered", ok, len(msgs))
			}
			produces, maxBytes, overlapped := r.stats()
			t.Logf("%s: %d requests, largest frame %d bytes", codec, produces, maxBytes)
			if maxBytes > transport.OneDatagramBytes {
				t.Errorf("a Produce frame of %d bytes with a %d-byte topic: more than one packet (%d)", maxBytes, len(topic), transport.OneDatagramBytes)
			}
			if overlapped != 0 {
				t.Errorf("%d overlapping Produce requests", overlapped)
			}
		})
	}
}

// TestUpstreamEdgeRouting: a message naming another topic that has a
// static partition count goes to that topic; a keyless message lands on
// one of the topic's partitions; an explicit partition within the count is
// kept, and one beyond it is refused with ErrInvalidPartition, stored
// nowhere.
func TestUpstreamEdgeRouting(t *testing.T) {
	t.Parallel()
	topics := map[string]int{"a": 2, "b": 3}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, topics, nil)
	p := newProducer(t, rt, "a", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 20*time.Second)

	res, err := p.Send(ctx, &rmq.Message{Topic: "b", Partition: 2, ExplicitPartition: true, Payload: []byte("to-b2")})
	if err != nil {
		t.Fatalf("a message to b/2: %v", err)
	}
	if res.Topic != "b" || res.Partition != 2 {
		t.Errorf("a message to b/2 acknowledged at %s/%d", res.Topic, res.Partition)
	}
	if recs := r.b.Records("b", 2); len(recs) != 1 || string(recs[0].Value) != "to-b2" {
		t.Errorf("b/2 holds %d records, want the one sent", len(recs))
	}
	for i := range 20 {
		res, err := p.Send(ctx, &rmq.Message{Payload: fmt.Appendf(nil, "keyless-%d", i)})
		if err != nil {
			t.Fatalf("keyless %d: %v", i, err)
		}
		if res.Topic != "a" || res.Partition < 0 || res.Partition >= 2 {
			t.Fatalf("keyless %d at %s/%d", i, res.Topic, res.Partition)
		}
	}
	for _, m := range []*rmq.Message{
		{Partition: 2, ExplicitPartition: true, Payload: []byte("a2")},
		{Topic: "b", Partition: 3, ExplicitPartition: true, Payload: []byte("b3")},
		{Topic: "b", Partition: 1 << 20, ExplicitPartition: true, Payload: []byte("b-huge")},
	} {
		start := time.Now()
		_, err := p.Send(ctx, m)
		if !errors.Is(err, rmq.ErrInvalidPartition) {
			t.Errorf("%s/%d beyond the static count: %v, want ErrInvalidPartition", m.Topic, m.Partition, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s/%d refused after %v", m.Topic, m.Partition, d)
		}
	}
	total := len(r.b.Records("a", 0)) + len(r.b.Records("a", 1))
	if total != 20 {
		t.Errorf("topic a holds %d records, want the 20 keyless ones", total)
	}
}

// TestUpstreamEdgeAcksNone: with AcksNone every message gets one result
// without an offset, all are stored, and requests still travel one at a
// time in one packet each.
func TestUpstreamEdgeAcksNone(t *testing.T) {
	t.Parallel()
	const topic = "n"
	topics := map[string]int{topic: 3}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, topics, nil)
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Acks: rmq.AcksNone})
	if got := p.Config().Idempotence; got != rmq.IdempotenceOff {
		t.Errorf("Idempotence %v with AcksNone in upstream mode", got)
	}
	var msgs []*rmq.Message
	for i := range 400 {
		msgs = append(msgs, &rmq.Message{Key: fmt.Appendf(nil, "k%d", i%11), Payload: fmt.Appendf(bytes.Repeat([]byte{'n'}, i%300), "-%d", i)})
	}
	sent, wait := sendTracked(t, ctxTimeout(t, 20*time.Second), p, msgs, 20*time.Second)
	wait()
	for i, s := range sent {
		if s.err != nil {
			t.Fatalf("message %d: %v", i, s.err)
		}
		if s.res.Offset != -1 {
			t.Fatalf("message %d: offset %d with AcksNone, want -1", i, s.res.Offset)
		}
	}
	if err := p.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok := checkStoredOnce(t, r.b, topics, sent, false); ok != len(msgs) {
		t.Errorf("%d of %d stored", ok, len(msgs))
	}
	produces, maxBytes, overlapped := r.stats()
	if maxBytes > transport.OneDatagramBytes || overlapped != 0 {
		t.Errorf("%d requests, the largest %d bytes, %d overlapped", produces, maxBytes, overlapped)
	}
}

// TestUpstreamEdgeBrokerRestart: the broker stops and comes back on the
// same address mid-stream. Every message gets one result and succeeds
// (the delivery timeout is far away); each acknowledged message is stored
// at the place it was acknowledged with; per-key order holds among the
// acknowledged offsets. Retries after the loss may store a batch twice
// (no idempotence upstream): counted and logged, not failed.
func TestUpstreamEdgeBrokerRestart(t *testing.T) {
	t.Parallel()
	const topic, parts = "r", 4
	topics := map[string]int{topic: parts}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) {
		c.RetryBackoff.Initial, c.RetryBackoff.Max = 5*time.Millisecond, 50*time.Millisecond
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: time.Millisecond})
	ctx := ctxTimeout(t, 30*time.Second)
	// Connected first: a runtime that has never reached its only broker
	// fails fast (*UnreachableError) on a refused dial, which is not what
	// this test is about. A loaded machine could reach the stop below
	// before the first dial.
	if _, err := p.Send(ctx, &rmq.Message{Key: []byte("warm-up"), Payload: []byte("warm-up")}); err != nil {
		t.Fatal(err)
	}
	var msgs []*rmq.Message
	for i := range 600 {
		msgs = append(msgs, &rmq.Message{Key: fmt.Appendf(nil, "k%d", i%23), Payload: fmt.Appendf(nil, "restart-%05d", i)})
	}
	var sent []*trackedSend
	var waits []func()
	for i := 0; i < len(msgs); i += 100 {
		s, w := sendTracked(t, ctx, p, msgs[i:i+100], 25*time.Second)
		sent, waits = append(sent, s...), append(waits, w)
		if i == 200 {
			if err := r.b.StopNode(0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(150 * time.Millisecond)
			if err := r.b.StartNode(0); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, w := range waits {
		w()
	}
	stored := map[int32][]wire.Record{}
	for part := range int32(parts) {
		stored[part] = r.b.Records(topic, uint32(part))
	}
	copies := map[string]int{}
	for _, recs := range stored {
		for _, rec := range recs {
			copies[string(rec.Value)]++
		}
	}
	dups := 0
	last := map[string]int64{}
	for i, s := range sent {
		if s.err != nil {
			t.Errorf("message %d: %v", i, s.err)
			continue
		}
		recs := stored[s.res.Partition]
		if s.res.Offset < 0 || s.res.Offset >= int64(len(recs)) || !bytes.Equal(recs[s.res.Offset].Value, s.msg.Payload) {
			t.Errorf("message %d acknowledged at %d/%d, not stored there", i, s.res.Partition, s.res.Offset)
			continue
		}
		if copies[string(s.msg.Payload)] > 1 {
			dups++
		}
		k := string(s.msg.Key)
		if prev, ok := last[k]; ok && s.res.Offset <= prev {
			t.Errorf("key %s: message %d at %d, after an earlier one at %d", k, i, s.res.Offset, prev)
		}
		last[k] = s.res.Offset
	}
	produces, maxBytes, overlapped := r.stats()
	t.Logf("%d messages, %d stored more than once, %d requests, %d retries, Health %+v", len(sent), dups, produces, p.Metrics().Retries, rt.Health())
	if maxBytes > transport.OneDatagramBytes || overlapped != 0 {
		t.Errorf("the largest request %d bytes, %d overlapped", maxBytes, overlapped)
	}
}

// TestUpstreamEdgeReader: records written in upstream mode are read
// back by a Reader, which takes the partition count from StaticPartitions
// since the broker lists no topics.
func TestUpstreamEdgeReader(t *testing.T) {
	t.Parallel()
	const topic, parts = "rd", 3
	topics := map[string]int{topic: parts}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, topics, nil)
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Compression: compress.LZ4})
	ctx := ctxTimeout(t, 20*time.Second)
	want := map[string]bool{}
	var msgs []*rmq.Message
	for i := range 90 {
		v := fmt.Appendf(bytes.Repeat([]byte{'r'}, 1100*(i%2)), "-%d", i)
		want[string(v)] = true
		msgs = append(msgs, &rmq.Message{Key: fmt.Appendf(nil, "k%d", i), Payload: v})
	}
	_, wait := sendTracked(t, ctx, p, msgs, 10*time.Second)
	wait()
	rd, err := rt.NewReader(ctx, topic, rmq.ReaderConfig{})
	if err != nil {
		t.Fatalf("NewReader in upstream mode: %v", err)
	}
	defer rd.Close()
	if got := len(rd.Partitions()); got != parts {
		t.Errorf("reader of %d partitions, want %d", got, parts)
	}
	n := 0
	for {
		rec, err := rd.Next(ctx)
		if errors.Is(err, rmq.ErrEndOfPartitions) {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d records: %v", n, err)
		}
		if !want[string(rec.Value)] {
			t.Fatalf("read %q (%d bytes): not written, or written twice", rec.Value[:min(20, len(rec.Value))], len(rec.Value))
		}
		delete(want, string(rec.Value))
		n++
	}
	if len(want) != 0 {
		t.Errorf("%d records written and not read", len(want))
	}
	if c := r.caps.Load(); c != 0 {
		t.Errorf("%d capabilities probes sent in upstream mode", c)
	}
}

// TestUpstreamEdgeReaderWithoutStatic: in upstream mode NewReader of a
// topic that StaticPartitions does not list is refused at once, as
// CreateProducer is, with a *ConfigError naming the entry to add.
func TestUpstreamEdgeReaderWithoutStatic(t *testing.T) {
	t.Parallel()
	topics := map[string]int{"a": 1, "b": 2}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, map[string]int{"a": 1}, nil)
	_, err := rt.NewReader(ctxTimeout(t, 10*time.Second), "b", rmq.ReaderConfig{})
	if !isConfigErr(err, "StaticPartitions[b]") {
		t.Errorf("NewReader of a topic without StaticPartitions in upstream mode: %v, want a *ConfigError naming StaticPartitions[b]", err)
	}
}

// TestUpstreamEdgeTracedFitsPacket: with tracing on, each record gains a
// traceparent header and, when the caller's span carries one, a
// tracestate; with the longest topic name requests still close at one
// QUIC packet, and the headers are stored.
func TestUpstreamEdgeTracedFitsPacket(t *testing.T) {
	t.Parallel()
	topic := strings.Repeat("z", wire.MaxTopicNameBytes)
	topics := map[string]int{topic: 2}
	r := startUpstreamRig(t, topics)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) { c.TracerProvider = tp })
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: 5 * time.Millisecond})
	ts, err := trace.ParseTraceState("vendor=" + strings.Repeat("s", 200))
	if err != nil {
		t.Fatal(err)
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, TraceState: ts})
	ctx := trace.ContextWithSpanContext(ctxTimeout(t, 20*time.Second), parent)
	rnd := rand.New(rand.NewSource(3))
	var msgs []*rmq.Message
	for i := range 200 {
		// The record fits alone: 269 head bytes, 12 of tail, ~300 of trace headers.
		msgs = append(msgs, &rmq.Message{Key: fmt.Appendf(nil, "k%d", i%5), Payload: fmt.Appendf(bytes.Repeat([]byte{'p'}, rnd.Intn(450)), "-%d", i)})
	}
	sent, wait := sendTracked(t, ctx, p, msgs, 20*time.Second)
	wait()
	for i, s := range sent {
		if s.err != nil {
			t.Fatalf("message %d: %v", i, s.err)
		}
	}
	if ok := checkStoredOnce(t, r.b, topics, sent, false); ok != len(msgs) {
		t.Errorf("%d of %d delivered", ok, len(msgs))
	}
	rec := r.b.Records(topic, uint32(sent[0].res.Partition))[sent[0].res.Offset]
	if _, ok := header(rec.Headers, wire.HeaderTraceparent); !ok {
		t.Errorf("no traceparent stored")
	}
	if v, ok := header(rec.Headers, wire.HeaderTracestate); !ok || !strings.HasPrefix(v, "vendor=") {
		t.Errorf("tracestate %q stored", v)
	}
	produces, maxBytes, overlapped := r.stats()
	t.Logf("%d requests, the largest frame %d bytes", produces, maxBytes)
	if maxBytes > transport.OneDatagramBytes || overlapped != 0 {
		t.Errorf("the largest frame %d bytes (at most %d), %d overlapped", maxBytes, transport.OneDatagramBytes, overlapped)
	}
}

// TestUpstreamEdgeListedCountWins pins a divergence from
// docs/protocol.md ("Upstream mode": "a topic's partition count is taken
// from Config.StaticPartitions alone"): when the broker's Metadata does
// list the topic (a development broker, or an upstream that one day
// lists topics), the listed count wins over StaticPartitions in upstream
// mode too (actors/metadata_apply.go apply), so keys are spread over the
// listed partitions and an explicit partition beyond the static count is
// accepted. Whichever of the two changes, this test is to follow it.
func TestUpstreamEdgeListedCountWins(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 4}, NoALPN: true})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) {
		c.Upstream = true
		c.StaticPartitions = map[string]int{"t": 2}
	})
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 10*time.Second)
	// The first answer settles the count.
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	res, err := p.Send(ctx, &rmq.Message{Partition: 3, ExplicitPartition: true, Payload: []byte("p3")})
	if err != nil || res.Partition != 3 {
		t.Fatalf("partition 3 of a topic the broker lists with 4 and StaticPartitions gives 2: %v %v", res, err)
	}
	if recs := b.Records("t", 3); len(recs) == 0 || string(recs[len(recs)-1].Value) != "p3" {
		t.Errorf("partition 3 holds %d records, the last not the one sent to it", len(recs))
	}
}
