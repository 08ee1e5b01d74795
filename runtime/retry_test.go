package runtime_test

import (
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestRetryWaitsForBackoffAfterSiblingSuccess: a batch refused with a
// retriable code is resent only after its backoff, even when batches sent
// after it succeed meanwhile, and the partition sends nothing new until the
// failed batch is acknowledged. The batcher used to resend it at once when
// a sibling succeeded, at zero backoff and interleaved with new batches.
func TestRetryWaitsForBackoffAfterSiblingSuccess(t *testing.T) {
	t.Parallel()
	const backoff = 300 * time.Millisecond
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) {
		c.RetryBackoff = supervision.Backoff{Initial: backoff, Max: backoff, Multiplier: 1}
	})
	// Not idempotent: a batch sent after the failed one is appended at
	// once, so siblings succeed while the failed batch waits.
	p := newProducer(t, rt, "t", rmq.ProducerConfig{Acks: rmq.AcksLeader, Idempotence: rmq.IdempotenceOff, Linger: -1, MaxInFlight: 5})
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm-up")}); err != nil {
		t.Fatal(err)
	}
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 0, Code: wire.ErrRequestTimedOut.Code})
	start := time.Now()
	var failedAt time.Duration
	done := make(chan struct{})
	if err := p.SendAsync(ctx, &rmq.Message{Payload: []byte("A")}, func(_ *rmq.Result, err error) {
		if err != nil {
			t.Errorf("A: %v", err)
		}
		failedAt = time.Since(start)
		close(done)
	}); err != nil {
		t.Fatal(err)
	}
	// Siblings, sent while A waits for its backoff.
	var mu sync.Mutex
	var siblingDone []time.Duration
	var wg sync.WaitGroup
	for i := range 100 {
		time.Sleep(2 * time.Millisecond)
		wg.Add(1)
		if err := p.SendAsync(ctx, &rmq.Message{Payload: []byte{'s', byte(i)}}, func(_ *rmq.Result, err error) {
			if err != nil {
				t.Errorf("sibling: %v", err)
			}
			mu.Lock()
			siblingDone = append(siblingDone, time.Since(start))
			mu.Unlock()
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	wg.Wait()
	if failedAt < backoff {
		t.Fatalf("A acknowledged after %v, before its backoff of %v", failedAt, backoff)
	}
	// The partition is stalled from A's failure until A is acknowledged:
	// apart from what was already in flight, no sibling completes before A.
	early := 0
	for _, d := range siblingDone {
		if d < failedAt {
			early++
		}
	}
	if early > 4 {
		t.Fatalf("%d siblings acknowledged before the failed batch, at most 4 were in flight", early)
	}
	recs := b.Records("t", 0)
	pos := -1
	for i, r := range recs {
		if string(r.Value) == "A" {
			pos = i
		}
	}
	if pos < 0 || pos > 5 {
		t.Fatalf("A stored at offset %d of %d", pos, len(recs))
	}
	t.Logf("A after %v; %d siblings before it", failedAt.Round(time.Millisecond), early)
}
