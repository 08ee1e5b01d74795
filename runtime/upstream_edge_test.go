package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
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

// waitProduces waits until the rig has read n Produce requests.
func (r *upstreamRig) waitProduces(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if got, _, _ := r.stats(); got >= n {
			return
		}
		if time.Now().After(deadline) {
			got, _, _ := r.stats()
			t.Fatalf("the broker read %d Produce requests in %v, want %d", got, d, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stallPartition0 makes the broker hold its answer to the next Produce for
// partition 0 of topic for hold, then reset the stream: nothing of it is
// applied.
func stallPartition0(r *upstreamRig, topic string, hold time.Duration) {
	r.b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: topic, Partition: 0, Count: 1, Delay: hold, ResetStream: true})
}

func explicitMsgs(topic string, parts, each int, tag string) []*rmq.Message {
	var msgs []*rmq.Message
	for i := range each {
		for part := range parts {
			msgs = append(msgs, &rmq.Message{Topic: topic, Partition: int32(part), ExplicitPartition: true, Payload: fmt.Appendf(nil, "%s-%d-%d", tag, part, i)})
		}
	}
	return msgs
}

// TestUpstreamEdgeStalledProduceReleasesSlot: the broker stops answering
// one Produce (partition 0) while the other partitions' requests wait for
// the connection's one Produce slot. The stalled request times out at
// RequestTimeout and frees the slot; the waiting ones end as
// ErrQueuedTooLong, are retried, and everything is delivered once, well
// before the broker's stall ends, with the connection kept: the waiting
// requests were never sent, so they do not count toward
// MaxConsecutiveTimeouts (2 here, and three partitions waited).
func TestUpstreamEdgeStalledProduceReleasesSlot(t *testing.T) {
	t.Parallel()
	const topic, parts = "s", 4
	topics := map[string]int{topic: parts}
	r := startUpstreamRig(t, topics)
	const reqTimeout = 400 * time.Millisecond
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) {
		c.RequestTimeout = reqTimeout
		c.MaxConsecutiveTimeouts = 2
		c.RetryBackoff.Initial, c.RetryBackoff.Max = time.Millisecond, 5*time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: -1})
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up"), Partition: 1, ExplicitPartition: true}); err != nil {
		t.Fatal(err)
	}
	stallPartition0(r, topic, 5*time.Second)
	start := time.Now()
	first, waitFirst := sendTracked(t, ctx, p, explicitMsgs(topic, 1, 1, "stalled"), 10*time.Second)
	r.waitProduces(t, 2, 5*time.Second) // the stalled request is at the broker
	var others []*rmq.Message
	for part := 1; part < parts; part++ {
		others = append(others, &rmq.Message{Partition: int32(part), ExplicitPartition: true, Payload: fmt.Appendf(nil, "queued-%d", part)})
	}
	queued, waitQueued := sendTracked(t, ctx, p, others, 10*time.Second)
	waitQueued()
	tookQueued := time.Since(start)
	waitFirst()
	took := time.Since(start)
	all := append(first, queued...)
	for i, s := range all {
		if s.err != nil {
			t.Errorf("message %d: %v", i, s.err)
		}
	}
	if ok := checkStoredOnce(t, r.b, topics, all, false); ok != len(all) {
		t.Errorf("%d of %d delivered", ok, len(all))
	}
	t.Logf("queued partitions delivered after %v, the stalled one after %v, %d retries", tookQueued.Round(time.Millisecond), took.Round(time.Millisecond), p.Metrics().Retries)
	if took > 4*time.Second {
		t.Errorf("delivery took %v: the stalled request held the slot past its RequestTimeout %v", took, reqTimeout)
	}
	if tookQueued < reqTimeout/2 {
		t.Errorf("the queued partitions were delivered after %v, while the slot was held: did a second Produce go out beside the stalled one?", tookQueued)
	}
	if h := rt.Health(); len(h) != 1 || h[0].Restarts != 0 || h[0].State != "connected" {
		t.Errorf("Health = %+v: want the connection kept (one real timeout of %d allowed)", h, 2)
	}
}

// TestUpstreamEdgeCloseWhileQueued: Close with a short context while one
// Produce is stalled at the broker and the other partitions' batches wait
// for the slot: Close returns within its bound (plus the abort grace),
// every accepted message has exactly one result, no failed message is
// stored, and (TestMain's goleak) no goroutine is left behind.
func TestUpstreamEdgeCloseWhileQueued(t *testing.T) {
	t.Parallel()
	const topic, parts = "c", 4
	topics := map[string]int{topic: parts}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) { c.RequestTimeout = 3 * time.Second })
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: -1})
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up"), Partition: 1, ExplicitPartition: true}); err != nil {
		t.Fatal(err)
	}
	stallPartition0(r, topic, 10*time.Second)
	first, waitFirst := sendTracked(t, ctx, p, explicitMsgs(topic, 1, 1, "stalled"), 10*time.Second)
	r.waitProduces(t, 2, 5*time.Second)
	queued, waitQueued := sendTracked(t, ctx, p, explicitMsgs(topic, parts, 5, "queued"), 10*time.Second)
	time.Sleep(50 * time.Millisecond) // the other partitions' requests wait at the slot
	closeCtx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := rt.Close(closeCtx)
	took := time.Since(start)
	t.Logf("Close: %v after %v", err, took.Round(time.Millisecond))
	if took > 300*time.Millisecond+6*time.Second {
		t.Errorf("Close took %v with a 300ms context", took)
	}
	waitFirst()
	waitQueued()
	all := append(first, queued...)
	failed := 0
	for _, s := range all {
		if s.err != nil {
			failed++
		}
	}
	t.Logf("%d of %d messages failed at Close", failed, len(all))
	if failed == 0 {
		t.Errorf("every message delivered though partition 0 was stalled past Close")
	}
	checkStoredOnce(t, r.b, topics, all, false)
	if produces, _, overlapped := r.stats(); overlapped != 0 {
		t.Errorf("%d of %d Produce requests overlapped another on the connection", overlapped, produces)
	}
}

// TestUpstreamEdgeCancelWhileQueued: messages whose contexts are
// cancelled while their batches wait for the connection's Produce slot
// each get exactly one result, and one that fails is stored nowhere.
func TestUpstreamEdgeCancelWhileQueued(t *testing.T) {
	t.Parallel()
	const topic, parts = "x", 4
	topics := map[string]int{topic: parts}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) { c.RequestTimeout = 600 * time.Millisecond })
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: -1})
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up"), Partition: 1, ExplicitPartition: true}); err != nil {
		t.Fatal(err)
	}
	stallPartition0(r, topic, 5*time.Second)
	first, waitFirst := sendTracked(t, ctx, p, explicitMsgs(topic, 1, 1, "stalled"), 10*time.Second)
	r.waitProduces(t, 2, 5*time.Second)
	msgCtx, cancel := context.WithCancel(ctx)
	queued, waitQueued := sendTracked(t, msgCtx, p, explicitMsgs(topic, parts, 5, "cancelled"), 10*time.Second)
	time.Sleep(50 * time.Millisecond)
	cancel()
	start := time.Now()
	waitQueued()
	t.Logf("the cancelled messages' results after %v", time.Since(start).Round(time.Millisecond))
	waitFirst()
	all := append(first, queued...)
	failed := 0
	for _, s := range queued {
		if s.err != nil {
			failed++
			if !errors.Is(s.err, context.Canceled) {
				t.Errorf("a cancelled message failed with %v, want context.Canceled", s.err)
			}
		}
	}
	t.Logf("%d of %d cancelled messages failed", failed, len(queued))
	if first[0].err != nil {
		t.Errorf("the stalled message (its context not cancelled): %v", first[0].err)
	}
	checkStoredOnce(t, r.b, topics, all, false)
	// Nothing left behind: the next messages go through.
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("after"), Partition: 3, ExplicitPartition: true}); err != nil {
		t.Errorf("a message after the cancelled ones: %v", err)
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
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

// TestUpstreamEdgeTimeoutFreesSlot pins a limit of the one-Produce slot:
// it is freed when the client gives up on a request, not when the broker
// has finished it, which the client cannot know. The broker applies a
// Produce and answers late; the client's request times out and its retry
// reaches the broker while the first is still being handled there: two
// Produce requests for the one partition at the broker at once (upstream
// could give both the same offset), and the record stored twice.
func TestUpstreamEdgeTimeoutFreesSlot(t *testing.T) {
	t.Parallel()
	const topic = "to"
	topics := map[string]int{topic: 1}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) {
		c.RequestTimeout = 300 * time.Millisecond
		c.RetryBackoff.Initial, c.RetryBackoff.Max = time.Millisecond, 5*time.Millisecond
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{})
	r.b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: topic, Partition: 0, Count: 1, AfterApply: true, Delay: 2 * time.Second})
	if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("once")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	produces, _, overlapped := r.stats()
	stored := len(r.b.Records(topic, 0))
	t.Logf("%d Produce requests, %d overlapped, %d records stored", produces, overlapped, stored)
	if produces != 2 || overlapped != 1 || stored != 2 {
		t.Errorf("%d requests, %d overlapped, %d stored: want the retry beside the unanswered first (2, 1, 2)", produces, overlapped, stored)
	}
}

// TestUpstreamEdgeSlowBrokerManyPartitions: a healthy but slow broker
// (50ms an answer) leading 16 partitions, with a RequestTimeout (200ms)
// shorter than a round of the connection's one-Produce queue: requests
// wait their turn past their deadline and are retried as
// ErrQueuedTooLong, and every one that is sent has its whole
// RequestTimeout for the round trip. Every message is delivered and stored
// exactly once, and the connection is kept. Before the round trip got its
// own deadline (transport.Conn.Do), requests taken off the queue just
// before their deadline timed out in flight after the broker had applied
// them: messages were stored up to 6 times.
func TestUpstreamEdgeSlowBrokerManyPartitions(t *testing.T) {
	t.Parallel()
	const topic, parts = "slow", 16
	topics := map[string]int{topic: parts}
	r := startUpstreamRig(t, topics)
	r.b.SetResponseDelay(50 * time.Millisecond)
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) { c.RequestTimeout = 200 * time.Millisecond })
	p := newProducer(t, rt, topic, rmq.ProducerConfig{DeliveryTimeout: 15 * time.Second})
	ctx := ctxTimeout(t, 20*time.Second)
	var sent []*trackedSend
	var waits []func()
	for w := range 8 {
		s, wait := sendTracked(t, ctx, p, explicitMsgs(topic, parts, 1, fmt.Sprint("wave", w)), 18*time.Second)
		sent, waits = append(sent, s...), append(waits, wait)
		time.Sleep(80 * time.Millisecond)
	}
	for _, wait := range waits {
		wait()
	}
	for i, s := range sent {
		if s.err != nil {
			t.Errorf("message %d: %v", i, s.err)
		}
	}
	if ok := checkStoredOnce(t, r.b, topics, sent, false); ok != len(sent) {
		t.Errorf("%d of %d delivered", ok, len(sent))
	}
	produces, _, overlapped := r.stats()
	t.Logf("%d messages in %d requests, %d retries", len(sent), produces, p.Metrics().Retries)
	if overlapped != 0 {
		t.Errorf("%d overlapping Produce requests", overlapped)
	}
	if h := rt.Health(); len(h) != 1 || h[0].Restarts != 0 {
		t.Errorf("Health = %+v: want the connection kept", h)
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

// TestUpstreamEdgeFlushWhileQueued: Flush while one Produce is stalled
// at the broker and other partitions' batches wait for the slot: a Flush
// whose context ends first says so, and a later Flush returns once the
// stalled request has timed out and everything has been delivered once.
func TestUpstreamEdgeFlushWhileQueued(t *testing.T) {
	t.Parallel()
	const topic, parts = "f", 4
	topics := map[string]int{topic: parts}
	r := startUpstreamRig(t, topics)
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) {
		c.RequestTimeout = 500 * time.Millisecond
		c.RetryBackoff.Initial, c.RetryBackoff.Max = time.Millisecond, 5*time.Millisecond
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: time.Second})
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up"), Partition: 1, ExplicitPartition: true}); err != nil {
		t.Fatal(err)
	}
	stallPartition0(r, topic, 5*time.Second)
	first, waitFirst := sendTracked(t, ctx, p, explicitMsgs(topic, 1, 1, "stalled"), 10*time.Second)
	r.waitProduces(t, 2, 5*time.Second)
	queued, waitQueued := sendTracked(t, ctx, p, explicitMsgs(topic, parts, 3, "queued"), 10*time.Second)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := p.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with 100ms while the slot is held: %v, want DeadlineExceeded", err)
	}
	start := time.Now()
	if err := p.Flush(ctx); err != nil {
		t.Errorf("Flush: %v", err)
	}
	t.Logf("the second Flush returned after %v", time.Since(start).Round(time.Millisecond))
	waitFirst()
	waitQueued()
	all := append(first, queued...)
	for i, s := range all {
		if s.err != nil {
			t.Errorf("message %d: %v", i, s.err)
		}
	}
	if ok := checkStoredOnce(t, r.b, topics, all, false); ok != len(all) {
		t.Errorf("%d of %d delivered", ok, len(all))
	}
}

// TestUpstreamEdgeTwoBrokers: two upstream-like brokers, a static topic
// spread over both: each connection keeps its own one-Produce slot (no
// overlap on either), both take records, and when one stops, its
// partitions go to the other: every message gets one result, and every
// acknowledged one is stored on one of them at the place acknowledged.
func TestUpstreamEdgeTwoBrokers(t *testing.T) {
	t.Parallel()
	const topic, parts = "m", 4
	topics := map[string]int{topic: parts}
	a, b := startUpstreamRig(t, topics), startUpstreamRig(t, topics)
	// Both brokers' certificates are signed by their own CA: trust both.
	ca := t.TempDir() + "/both.pem"
	if err := os.WriteFile(ca, append(append([]byte{}, a.b.CACertPEM()...), b.b.CACertPEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, []string{a.b.Addr(), b.b.Addr()}, ca, func(c *rmq.Config) {
		c.Upstream = true
		c.StaticPartitions = topics
		c.RetryBackoff.Initial, c.RetryBackoff.Max = 5*time.Millisecond, 50*time.Millisecond
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for len(rt.Health()) < 2 || rt.Health()[0].State != "connected" || rt.Health()[1].State != "connected" {
		if time.Now().After(deadline) {
			t.Fatalf("Health = %+v", rt.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var msgs []*rmq.Message
	for i := range 400 {
		msgs = append(msgs, &rmq.Message{Key: fmt.Appendf(nil, "k%d", i%31), Payload: fmt.Appendf(nil, "two-%05d", i)})
	}
	sent1, wait1 := sendTracked(t, ctx, p, msgs[:200], 25*time.Second)
	wait1()
	na, _, _ := a.stats()
	nb, _, _ := b.stats()
	t.Logf("before the stop: %d requests to a, %d to b; Health %+v", na, nb, rt.Health())
	if na == 0 || nb == 0 {
		t.Errorf("requests %d and %d: want both brokers used", na, nb)
	}
	if err := a.b.StopNode(0); err != nil {
		t.Fatal(err)
	}
	sent2, wait2 := sendTracked(t, ctx, p, msgs[200:], 25*time.Second)
	wait2()
	failed := 0
	for _, s := range append(sent1, sent2...) {
		if s.err != nil {
			failed++
		}
	}
	where := map[string]int{}
	for _, rig := range []*upstreamRig{a, b} {
		for part := range parts {
			for _, rec := range rig.b.Records(topic, uint32(part)) {
				where[string(rec.Value)]++
			}
		}
	}
	missing := 0
	for _, s := range append(sent1, sent2...) {
		if s.err == nil && where[string(s.msg.Payload)] == 0 {
			missing++
		}
	}
	na2, _, oa := a.stats()
	nb2, _, ob := b.stats()
	t.Logf("after: %d failed, %d requests to a, %d to b, %d acknowledged and stored nowhere", failed, na2, nb2, missing)
	if failed != 0 || missing != 0 {
		t.Errorf("%d failed, %d acknowledged and not stored", failed, missing)
	}
	if nb2 == nb {
		t.Errorf("no request reached b after a stopped")
	}
	if oa != 0 || ob != 0 {
		t.Errorf("overlapping Produce requests: %d on a, %d on b", oa, ob)
	}
}

// TestUpstreamEdgeDeadPartitionPacesOthers pins the price of the one
// Produce slot per connection: a partition whose every request goes
// unanswered holds the slot for a RequestTimeout at each attempt, and the
// broker's other partitions wait behind it. They are still delivered, but
// at the dead partition's pace (latencies near RequestTimeout, where
// without it they are a round trip). Their answers reset the count of
// timeouts in a row, so the connection is replaced (MaxConsecutiveTimeouts
// 2 here) only when two of the dead partition's attempts come in a row:
// in some runs, not in others. The dead partition's message fails at its
// delivery timeout.
func TestUpstreamEdgeDeadPartitionPacesOthers(t *testing.T) {
	t.Parallel()
	const topic, parts = "dead", 4
	topics := map[string]int{topic: parts}
	r := startUpstreamRig(t, topics)
	const reqTimeout = 300 * time.Millisecond
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) {
		c.RequestTimeout = reqTimeout
		c.MaxConsecutiveTimeouts = 2
		c.RetryBackoff.Initial, c.RetryBackoff.Max = time.Millisecond, 5*time.Millisecond
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: -1, DeliveryTimeout: 1500 * time.Millisecond})
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up"), Partition: 1, ExplicitPartition: true}); err != nil {
		t.Fatal(err)
	}
	r.b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: topic, Partition: 0, Count: -1, Delay: 10 * time.Second, ResetStream: true})
	dead, waitDead := sendTracked(t, ctx, p, explicitMsgs(topic, 1, 1, "dead"), 10*time.Second)
	r.waitProduces(t, 2, 5*time.Second)
	var lat []time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 15 {
		part := int32(1 + i%3)
		start := time.Now()
		wg.Add(1)
		if err := p.SendAsync(ctx, &rmq.Message{Partition: part, ExplicitPartition: true, Payload: fmt.Appendf(nil, "live-%d", i)}, func(_ *rmq.Result, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("live message %d: %v", i, err)
			}
			mu.Lock()
			lat = append(lat, time.Since(start))
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	wg.Wait()
	waitDead()
	if !errors.Is(dead[0].err, rmq.ErrDeliveryTimeout) {
		t.Errorf("the dead partition's message: %v, want ErrDeliveryTimeout", dead[0].err)
	}
	slow, worst := 0, time.Duration(0)
	for _, d := range lat {
		worst = max(worst, d)
		if d > reqTimeout/3 {
			slow++
		}
	}
	t.Logf("%d of %d live messages took over %v, the worst %v; Health %+v", slow, len(lat), reqTimeout/3, worst.Round(time.Millisecond), rt.Health())
	if slow < len(lat)/3 || worst < reqTimeout/2 {
		t.Errorf("%d of %d live messages slow, the worst %v: the dead partition no longer paces the others?", slow, len(lat), worst)
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
