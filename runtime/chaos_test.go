package runtime_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/internal/devcert"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/supervision"
)

// eventLog collects supervision events.
type eventLog struct {
	mu     sync.Mutex
	events []supervision.Event
}

func (l *eventLog) add(e supervision.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) snapshot() []supervision.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]supervision.Event(nil), l.events...)
}

// TestChaos produces 100,000 idempotent acks=All messages while the broker
// drops every connection again and again and is once stopped and restarted
// on the same port and data directory. Nothing may be lost or duplicated,
// each partition keeps the order of acceptance, and the supervisor must be
// seen restarting connection actors with backoff.
func TestChaos(t *testing.T) {
	t.Parallel()
	const topic, parts = "chaos", 4
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	dir := t.TempDir()
	// One certificate for both lives of the broker, so the runtime trusts
	// the restarted one too.
	devCA, err := devcert.NewCA("chaos test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := devCA.IssueServer("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := devCA.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	bcfg := broker.Config{Topics: map[string]int{topic: parts}, DataDir: dir, Certificate: &leaf}
	b, err := broker.Start(context.Background(), bcfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	var cur atomic.Pointer[broker.Broker]
	cur.Store(b)
	t.Cleanup(func() { _ = cur.Load().Close() })

	var events eventLog
	rt := newRuntime(t, []string{addr}, ca, func(c *rmq.Config) {
		c.RequestTimeout = 3 * time.Second
		c.ConnectTimeout = 2 * time.Second
		c.RetryBackoff = supervision.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, Jitter: true}
		c.Supervision = supervision.Config{
			Backoff:     supervision.Backoff{Initial: 20 * time.Millisecond, Max: 400 * time.Millisecond, Multiplier: 2},
			MaxRestarts: -1,
			Observer:    events.add,
		}
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Acks: rmq.AcksAll, Linger: time.Millisecond, BatchSize: 500})
	ctx := ctxTimeout(t, 150*time.Second)
	// Connected once before the chaos starts: a runtime that never reached
	// a broker fails its messages fast (Config.UnreachableDials) instead
	// of riding the outage out.
	if err := rt.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		res *rmq.Result
		err error
		n   int32
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	wg.Add(n)
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		for i := range n {
			v := make([]byte, 8, 40)
			binary.BigEndian.PutUint64(v, uint64(i))
			v = append(v, "chaos-payload-0123456789abcdef"...)
			msg := &rmq.Message{Key: []byte(fmt.Sprintf("k%d", i%101)), Payload: v}
			i := i
			if err := p.SendAsync(ctx, msg, func(r *rmq.Result, err error) {
				o := &results[i]
				o.res, o.err = r, err
				atomic.AddInt32(&o.n, 1)
				wg.Done()
			}); err != nil {
				t.Errorf("SendAsync %d: %v", i, err)
				wg.Done()
				return
			}
		}
	}()

	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	// Chaos: drop every connection repeatedly, restart the broker once,
	// while results are still outstanding.
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		for round := 0; round < 12; round++ {
			select {
			case <-waited:
				if round > 5 {
					return
				}
			default:
			}
			time.Sleep(120 * time.Millisecond)
			if round == 5 {
				old := cur.Load()
				_ = old.Close()
				time.Sleep(200 * time.Millisecond)
				cfg := bcfg
				cfg.Listen = addr
				nb, err := broker.Start(context.Background(), cfg)
				if err != nil {
					t.Errorf("restart broker: %v", err)
					return
				}
				cur.Store(nb)
				continue
			}
			cur.Load().DropConnections()
		}
	}()
	<-sendDone
	<-chaosDone
	select {
	case <-waited:
	case <-ctx.Done():
		t.Fatalf("not every message got a result: %+v", p.Metrics())
	}

	final := cur.Load()
	for i := range results {
		o := &results[i]
		if o.n != 1 || o.err != nil {
			t.Fatalf("message %d: %d results, err %v", i, o.n, o.err)
		}
	}
	total := 0
	for part := range uint32(parts) {
		recs := final.Records(topic, part)
		last := -1
		for off, r := range recs {
			idx := int(binary.BigEndian.Uint64(r.Value[:8]))
			if idx <= last {
				t.Fatalf("partition %d offset %d: message %d after %d (duplicate or reordered)", part, off, idx, last)
			}
			last = idx
			o := results[idx]
			if o.res.Partition != int32(part) || o.res.Offset != int64(off) {
				t.Fatalf("message %d: result %d/%d, stored at %d/%d", idx, o.res.Partition, o.res.Offset, part, off)
			}
			total++
		}
	}
	if total != n {
		t.Fatalf("%d records stored, want %d", total, n)
	}
	var restarts []supervision.Event
	for _, e := range events.snapshot() {
		if e.Directive == actor.RestartDirective && e.Delay > 0 {
			restarts = append(restarts, e)
		}
	}
	if len(restarts) == 0 {
		t.Fatalf("no connection actor restart with backoff observed: %+v", events.snapshot())
	}
	grew := false
	for _, e := range restarts {
		if e.Restarts > 1 && e.Delay > 20*time.Millisecond {
			grew = true
		}
	}
	h := rt.Health()
	if len(h) == 0 || h[0].Restarts == 0 {
		t.Fatalf("health shows no restarts: %+v", h)
	}
	m := p.Metrics()
	t.Logf("%d messages; %d restarts observed (backoff grew: %v); %d requests, %d retries, %d producer id resets; health %+v",
		n, len(restarts), grew, m.BatchesSent, m.Retries, m.ProducerIDResets, h)
}
