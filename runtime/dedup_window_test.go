package runtime_test

import (
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestDedupWindowSpansOutstanding: the broker remembers the last five
// batches of a producer id per partition, which is what lets it recognise
// a resent batch, and MaxInFlight is five. QUIC answers come back out of
// order, so later batches can be acknowledged while an earlier one is
// still waiting for its answer. The first batch here is appended but its
// answer is held back, then its connection dropped; meanwhile later batches
// are appended and acknowledged. The producer must not send past five
// batches from its oldest unacknowledged one: beyond that, the resent
// first batch is older than anything the broker remembers, is answered
// "out of order sequence", is restamped with a new producer id and stored
// a second time. It used to count only the requests outstanding, and sent
// on as the later ones came back.
func TestDedupWindowSpansOutstanding(t *testing.T) {
	t.Parallel()
	const topic, n = "dedup", 400
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{topic: 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, topic, rmq.ProducerConfig{Acks: rmq.AcksAll, MaxInFlight: 5, BatchSize: 10, Linger: -1})
	ctx := ctxTimeout(t, 60*time.Second)
	// Connected, and the broker's reorder-window known, before the fault.
	o := newOutcomes(n + 1)
	if err := p.SendAsync(ctx, &rmq.Message{Payload: keyedValue(0)}, o.cb(0)); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: topic, Partition: 0, AfterApply: true, Drop: true, Delay: 300 * time.Millisecond})
	for i := 1; i <= n; i++ {
		if err := p.SendAsync(ctx, &rmq.Message{Payload: keyedValue(i)}, o.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	o.wait(t, 50*time.Second)
	if b.PendingFaults() != 0 {
		t.Fatal("the fault never applied")
	}
	checkLog(t, b, topic, 1, o, func(int) bool { return true })
	if m := p.Metrics(); m.Retries == 0 {
		t.Fatalf("no retry: the dropped connection failed nothing (%+v)", m)
	}
}
