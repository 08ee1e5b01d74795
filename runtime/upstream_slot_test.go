package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Upstream mode's one request per connection (transport.Config.SerialRequests)
// under stalls, slow brokers, Close, Flush and cancellation: every accepted
// message gets one result, nothing is stored twice by the slot itself, and
// the limits no client can remove are pinned.

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

// stallFirstProduce warms p up with a message to partition 1 of topic,
// makes the broker hold its next answer for partition 0 for hold (see
// stallPartition0), and sends one message there. It returns once that
// request is at the broker, with the message's tracked send, the wait for
// its result, and when it was sent.
func stallFirstProduce(t *testing.T, ctx context.Context, r *upstreamRig, p *rmq.Producer, topic string, hold time.Duration) ([]*trackedSend, func(), time.Time) {
	t.Helper()
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up"), Partition: 1, ExplicitPartition: true}); err != nil {
		t.Fatal(err)
	}
	stallPartition0(r, topic, hold)
	start := time.Now()
	first, wait := sendTracked(t, ctx, p, explicitMsgs(topic, 1, 1, "stalled"), 10*time.Second)
	r.waitProduces(t, 2, 5*time.Second)
	return first, wait, start
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
	first, waitFirst, start := stallFirstProduce(t, ctx, r, p, topic, 5*time.Second)
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
	first, waitFirst, _ := stallFirstProduce(t, ctx, r, p, topic, 10*time.Second)
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
	first, waitFirst, _ := stallFirstProduce(t, ctx, r, p, topic, 5*time.Second)
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
// (50ms an answer) leading 16 partitions, with a RequestTimeout (400ms)
// shorter than a round of the connection's one-Produce queue (800ms;
// eight answers' worth of margin, so that a loaded machine does not time
// out a round trip after the broker applied it): requests
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
	rt := upstreamRuntime(t, r, topics, func(c *rmq.Config) { c.RequestTimeout = 400 * time.Millisecond })
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
	first, waitFirst, _ := stallFirstProduce(t, ctx, r, p, topic, 5*time.Second)
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
