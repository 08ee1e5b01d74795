package runtime_test

import (
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// TestSendBatchLargerThanBuffer: a blocking SendBatch of more messages than
// MaxBufferedRecords, and two concurrent SendBatch calls that together hold
// more than the buffer, complete instead of each holding the space it has
// reserved while it waits for the rest (which never frees).
func TestSendBatchLargerThanBuffer(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{MaxBufferedRecords: 10})
	batch := func(n int) []*rmq.Message {
		msgs := make([]*rmq.Message, n)
		for i := range msgs {
			msgs[i] = msg(i)
		}
		return msgs
	}
	ctx := ctxTimeout(t, 10*time.Second)
	res, err := p.SendBatch(ctx, batch(25))
	if err != nil {
		t.Fatalf("SendBatch of 25 with room for 10: %v", err)
	}
	if len(res) != 25 {
		t.Fatalf("%d results", len(res))
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.SendBatch(ctx, batch(8))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent SendBatch %d: %v", i, err)
		}
	}
	if m := p.Metrics(); m.BufferedRecords != 0 || m.Delivered != 25+4*8 {
		t.Fatalf("metrics %+v", m)
	}
}
