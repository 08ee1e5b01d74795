package runtime_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/supervision"
)

// panicPlan makes actors of the tree panic: an actor whose PID id contains
// who panics on messages whose Go type is typ, on the occurrences listed
// in at (counted from 1 over all such actors). It is a protoactor receiver
// middleware, added to every actor's props through the runtime's test
// hook, so the panic strikes before the actor sees the message: the
// message is lost, as protoactor never redelivers it.
type panicPlan struct {
	who, typ string
	at       map[int64]bool
	seen     atomic.Int64
	fired    atomic.Int64
	disarm   atomic.Bool
}

func newPanicPlan(who, typ string, at ...int64) *panicPlan {
	p := &panicPlan{who: who, typ: typ, at: make(map[int64]bool)}
	for _, n := range at {
		p.at[n] = true
	}
	return p
}

func (p *panicPlan) middleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		if !p.disarm.Load() && strings.Contains(c.Self().Id, p.who) && fmt.Sprintf("%T", env.Message) == p.typ {
			if n := p.seen.Add(1); p.at[n] {
				p.fired.Add(1)
				panic(fmt.Sprintf("injected panic #%d of %s on %s", n, c.Self().Id, p.typ))
			}
		}
		next(c, env)
	}
}

// keyedValue is the value of message i: its index, then padding.
func keyedValue(i int) []byte {
	v := make([]byte, 8, 40)
	binary.BigEndian.PutUint64(v, uint64(i))
	return append(v, "supervised-payload-0123456789"...)
}

// outcomes records the results of n messages sent with SendAsync.
type outcomes struct {
	mu      sync.Mutex
	results []*rmq.Result
	errs    []error
	counts  []int
	wg      sync.WaitGroup
}

func newOutcomes(n int) *outcomes {
	o := &outcomes{results: make([]*rmq.Result, n), errs: make([]error, n), counts: make([]int, n)}
	o.wg.Add(n)
	return o
}

func (o *outcomes) cb(i int) func(*rmq.Result, error) {
	return func(r *rmq.Result, err error) {
		o.mu.Lock()
		o.results[i], o.errs[i] = r, err
		o.counts[i]++
		first := o.counts[i] == 1
		o.mu.Unlock()
		if first {
			o.wg.Done()
		}
	}
}

func (o *outcomes) wait(t *testing.T, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal("not every message got a result")
	}
}

// checkLog verifies that the broker holds every message of ok exactly once
// and, per partition, in the order of acceptance, at the offsets the
// results name.
func checkLog(t *testing.T, b *broker.Broker, topic string, parts int, o *outcomes, ok func(i int) bool) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	stored := map[int]bool{}
	for part := range uint32(parts) {
		last := -1
		for off, r := range b.Records(topic, part) {
			i := int(binary.BigEndian.Uint64(r.Value[:8]))
			if stored[i] {
				t.Fatalf("message %d stored twice", i)
			}
			stored[i] = true
			if i <= last {
				t.Fatalf("partition %d offset %d: message %d after %d", part, off, i, last)
			}
			last = i
			if res := o.results[i]; o.errs[i] == nil && (res.Partition != int32(part) || res.Offset != int64(off)) {
				t.Fatalf("message %d: result %d/%d, stored at %d/%d", i, res.Partition, res.Offset, part, off)
			}
		}
	}
	for i := range o.results {
		if o.counts[i] != 1 {
			t.Fatalf("message %d: %d results", i, o.counts[i])
		}
		if ok(i) && (o.errs[i] != nil || !stored[i]) {
			t.Fatalf("message %d: err %v, stored %v", i, o.errs[i], stored[i])
		}
	}
}

// TestActorPanicsMidStream panics each kind of actor of the tree while
// messages flow: every accepted message still gets exactly one result, all
// of them succeed, the broker holds each once and in order per partition,
// and messages sent after the panics flow as before. Each panicking
// message is lost to its actor (protoactor does not redeliver it): the
// router's wake-up, a batcher's request outcome, the metadata actor's
// leader request, a connection actor's health check, the producer actor's
// batcher spawn. Before the tree was supervised end to end, a router
// restart lost the records waiting for metadata and a lost outcome left
// its batch waiting for ever.
func TestActorPanicsMidStream(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		plan *panicPlan
	}{
		{"router wake-up", newPanicPlan("/router", "*actors.Wake", 2, 5, 9)},
		{"router topic info", newPanicPlan("/router", "*actors.TopicInfo", 1)},
		{"batcher outcome", newPanicPlan("/batcher-", "*actors.reqDone", 3, 8, 20)},
		{"batcher wake-up", newPanicPlan("/batcher-", "*actors.batcherWake", 2, 6)},
		{"batcher leader", newPanicPlan("/batcher-", "*actors.LeaderInfo", 1, 2)},
		{"metadata leader request", newPanicPlan("/metadata", "*actors.LeaderRequest", 1, 3)},
		{"metadata topic request", newPanicPlan("/metadata", "*actors.TopicRequest", 1)},
		{"connection health check", newPanicPlan("/connections/", "*actors.healthTick", 2, 4)},
		{"connection request", newPanicPlan("/connections/", "*actors.Request", 1)},
		{"producer spawn", newPanicPlan("/producer-", "*actors.spawnBatcher", 1, 2)},
		{"connections supervisor", newPanicPlan("rustmq/connections", "*actors.EnsureConn", 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const topic, parts, n = "sup", 3, 3000
			b, ca := startBroker(t, broker.Config{Topics: map[string]int{topic: parts}})
			rt := newRuntime(t, []string{b.Addr()}, ca, func(cfg *rmq.Config) {
				cfg.HealthInterval = 20 * time.Millisecond
				cfg.RetryBackoff = supervision.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
				cfg.Supervision.Backoff = supervision.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
				rmq.WithActorMiddleware(cfg, c.plan.middleware)
			})
			p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: time.Millisecond, BatchSize: 50})
			ctx := ctxTimeout(t, 60*time.Second)
			o := newOutcomes(n)
			for i := range n {
				if i == n/2 {
					time.Sleep(50 * time.Millisecond) // let health checks tick mid-stream
				}
				m := &rmq.Message{Key: []byte(fmt.Sprint("k", i%17)), Payload: keyedValue(i)}
				if err := p.SendAsync(ctx, m, o.cb(i)); err != nil {
					t.Fatalf("SendAsync %d: %v", i, err)
				}
			}
			o.wait(t, 45*time.Second)
			if c.plan.fired.Load() == 0 {
				t.Fatalf("no panic was injected (%d %s seen)", c.plan.seen.Load(), c.plan.typ)
			}
			checkLog(t, b, topic, parts, o, func(int) bool { return true })
			// Later messages flow again.
			c.plan.disarm.Store(true)
			if _, err := p.Send(ctx, &rmq.Message{Key: []byte("after"), Payload: keyedValue(n)}); err != nil {
				t.Fatalf("Send after the panics: %v", err)
			}
			t.Logf("%d panics; %+v", c.plan.fired.Load(), p.Metrics())
		})
	}
}

// TestRouterPanicWhileRouting fails the router in the middle of routing a
// drain (the contents of one message make it panic): that one message,
// which may be what breaks the router, fails with ErrActorFailed; the
// others of the same drain and every later one are routed and delivered.
func TestRouterPanicWhileRouting(t *testing.T) {
	t.Parallel()
	const topic, n, poison = "poison", 500, 137
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{topic: 2}})
	var fired atomic.Int32
	rt := newRuntime(t, []string{b.Addr()}, ca, func(cfg *rmq.Config) {
		rmq.WithPartsHook(cfg, func(m *rmq.Message) {
			if binary.BigEndian.Uint64(m.Payload[:8]) == poison && fired.Add(1) == 1 {
				panic("poison message")
			}
		})
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: 2 * time.Millisecond})
	ctx := ctxTimeout(t, 30*time.Second)
	o := newOutcomes(n)
	for i := range n {
		if err := p.SendAsync(ctx, &rmq.Message{Payload: keyedValue(i)}, o.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	o.wait(t, 20*time.Second)
	if fired.Load() == 0 {
		t.Fatal("the poison message never reached the router")
	}
	o.mu.Lock()
	if err := o.errs[poison]; !errors.Is(err, rmq.ErrActorFailed) {
		t.Fatalf("poison message: %v, want ErrActorFailed", err)
	}
	o.mu.Unlock()
	checkLog(t, b, topic, 2, o, func(i int) bool { return i != poison })
}

// TestBatcherGivenUp: a batcher that panics on every request outcome
// exhausts its restart budget and is stopped. Every message it held fails
// with ErrActorFailed, exactly once, and the partition starts afresh with a
// new batcher: later messages succeed.
func TestBatcherGivenUp(t *testing.T) {
	t.Parallel()
	const topic, n = "given-up", 200
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{topic: 1}})
	plan := newPanicPlan("/batcher-"+topic+"-0-", "*actors.reqDone")
	for i := int64(1); i < 1000; i++ {
		plan.at[i] = true
	}
	var firstBatcher atomic.Pointer[string]
	mw := func(next actor.ReceiverFunc) actor.ReceiverFunc {
		pm := plan.middleware(next)
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			id := c.Self().Id
			if strings.Contains(id, "/batcher-") {
				firstBatcher.CompareAndSwap(nil, &id)
				if *firstBatcher.Load() != id {
					next(c, env) // only the first batcher is cursed
					return
				}
			}
			pm(c, env)
		}
	}
	rt := newRuntime(t, []string{b.Addr()}, ca, func(cfg *rmq.Config) { rmq.WithActorMiddleware(cfg, mw) })
	p := newProducer(t, rt, topic, rmq.ProducerConfig{
		Linger: time.Millisecond, BatchSize: 10,
		Supervision: supervision.Config{MaxRestarts: 3, Window: time.Minute, Backoff: supervision.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}},
	})
	ctx := ctxTimeout(t, 30*time.Second)
	o := newOutcomes(n)
	for i := range n {
		if err := p.SendAsync(ctx, &rmq.Message{Payload: keyedValue(i)}, o.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	o.wait(t, 20*time.Second)
	failed := 0
	o.mu.Lock()
	for i, err := range o.errs {
		if err != nil {
			if !errors.Is(err, rmq.ErrActorFailed) {
				t.Fatalf("message %d: %v, want ErrActorFailed", i, err)
			}
			failed++
		}
	}
	o.mu.Unlock()
	if failed == 0 {
		t.Fatal("no message failed: the batcher was never given up on")
	}
	checkLog(t, b, topic, 1, o, func(int) bool { return false })
	res, err := p.Send(ctx, &rmq.Message{Payload: keyedValue(n)})
	if err != nil {
		t.Fatalf("Send after the batcher was given up on: %v", err)
	}
	t.Logf("%d of %d failed; later message at offset %d", failed, n, res.Offset)
}

// TestRouterGivenUp: a router that panics on every wake-up exhausts its
// restart budget and is stopped. Every accepted message gets exactly one
// result, and the producer then refuses messages with ErrActorFailed
// rather than accepting what it can never route.
func TestRouterGivenUp(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	plan := newPanicPlan("/router", "*actors.Wake")
	for i := int64(1); i < 1000; i++ {
		plan.at[i] = true
	}
	rt := newRuntime(t, []string{b.Addr()}, ca, func(cfg *rmq.Config) { rmq.WithActorMiddleware(cfg, plan.middleware) })
	p := newProducer(t, rt, "t", rmq.ProducerConfig{
		Supervision: supervision.Config{MaxRestarts: 2, Window: time.Minute, Backoff: supervision.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}},
	})
	ctx := ctxTimeout(t, 20*time.Second)
	var accepted int
	var o *outcomes
	const n = 100
	o = newOutcomes(n)
	deadline := time.Now().Add(10 * time.Second)
	for accepted < n && time.Now().Before(deadline) {
		err := p.SendAsync(ctx, &rmq.Message{Payload: keyedValue(accepted)}, o.cb(accepted))
		if err != nil {
			if !errors.Is(err, rmq.ErrActorFailed) {
				t.Fatalf("SendAsync: %v", err)
			}
			break
		}
		accepted++
		time.Sleep(time.Millisecond)
	}
	if accepted == n {
		t.Fatal("the router was never given up on")
	}
	for i := accepted; i < n; i++ {
		o.wg.Done()
	}
	o.wait(t, 10*time.Second)
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range accepted {
		if o.counts[i] != 1 {
			t.Fatalf("message %d: %d results", i, o.counts[i])
		}
	}
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("x")}); !errors.Is(err, rmq.ErrActorFailed) {
		t.Fatalf("Send after the router was given up on: %v", err)
	}
	_ = p.Close(context.Background())
}
