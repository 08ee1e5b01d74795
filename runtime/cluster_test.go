package runtime_test

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/supervision"
)

// TestLeaderMove: in a 3-broker cluster, partition leaders move while
// messages flow (and one node crashes); the producer follows the leaders and
// nothing is lost or duplicated, order kept per partition.
func TestLeaderMove(t *testing.T) {
	t.Parallel()
	const topic, parts, n = "moving", 3, 6000
	b, ca := startBroker(t, broker.Config{Brokers: 3, Topics: map[string]int{topic: parts}})
	// Bootstrap from one node only: the others are found through metadata.
	rt := newRuntime(t, []string{b.Addrs()[0]}, ca, func(c *rmq.Config) {
		c.RetryBackoff = supervision.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: true}
		c.RequestTimeout = 2 * time.Second
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Linger: time.Millisecond, BatchSize: 50})
	ctx := ctxTimeout(t, 60*time.Second)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	offsets := make([]*rmq.Result, n)
	moved := make(chan struct{})
	go func() {
		defer close(moved)
		for round := 0; round < 6; round++ {
			time.Sleep(40 * time.Millisecond)
			for part := range uint32(parts) {
				if err := b.MoveLeader(topic, part, (round+int(part)+1)%3); err != nil {
					t.Errorf("MoveLeader: %v", err)
				}
			}
		}
	}()
	for i := range n {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(i))
		wg.Add(1)
		i := i
		if err := p.SendAsync(ctx, &rmq.Message{Key: []byte{byte(i % 31)}, Payload: v}, func(r *rmq.Result, err error) {
			offsets[i] = r
			errs <- err
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			time.Sleep(20 * time.Millisecond) // keep sending while leaders move
		}
	}
	<-moved
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("result: %v", err)
		}
	}
	total := 0
	for part := range uint32(parts) {
		last := -1
		for off, r := range b.Records(topic, part) {
			idx := int(binary.BigEndian.Uint64(r.Value))
			if idx <= last {
				t.Fatalf("partition %d offset %d: %d after %d", part, off, idx, last)
			}
			last = idx
			if offsets[idx].Partition != int32(part) || offsets[idx].Offset != int64(off) {
				t.Fatalf("message %d: result %d/%d, stored %d/%d", idx, offsets[idx].Partition, offsets[idx].Offset, part, off)
			}
			total++
		}
	}
	if total != n {
		t.Fatalf("%d stored, want %d", total, n)
	}
	// The runtime connected to the nodes it learnt from metadata.
	if h := rt.Health(); len(h) != 3 {
		t.Fatalf("health lists %d brokers: %+v", len(h), h)
	}
	_ = p.Close(context.Background())
}

// TestStaticPartitions: a topic the broker's metadata does not list (as
// upstream RustMQ answers) is produced to with a static partition count,
// round robin over connected brokers. Here the topic is created on the
// broker only after the runtime learnt that metadata does not list it; the
// sends are retried (code 3) until it exists.
func TestStaticPartitions(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"listed": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) {
		c.StaticPartitions = map[string]int{"static": 2}
		c.RetryBackoff = supervision.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	})
	p := newProducer(t, rt, "static", rmq.ProducerConfig{})
	const n = 20
	c := newCounter(n)
	for i := range n {
		if err := p.SendAsync(context.Background(), &rmq.Message{Key: []byte{byte(i)}, Payload: []byte("x")}, c.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Metrics().Retries == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if m := p.Metrics(); m.Retries == 0 || m.Delivered != 0 {
		t.Fatalf("before the topic exists: %+v", m)
	}
	if err := b.CreateTopic("static", 2); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 10*time.Second)
	for i, err := range c.errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if got := len(b.Records("static", 0)) + len(b.Records("static", 1)); got != n {
		t.Fatalf("%d stored", got)
	}
}
