package actors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestBatcherFailedUnsentBatchRestartsSequence: when the batcher fails a
// stamped batch that is not in flight because the leader lookup failed
// (here: "not leader", then a refresh answering an error), the broker never
// saw that batch's sequence numbers. The next batch must not continue the
// sequence after it, or the broker answers "out of order sequence" (45) for
// ever, since no earlier batch is left to fill the gap; the batcher takes
// a fresh producer id instead. It used to keep the old one, and the next
// message failed only when its delivery timeout passed.
func TestBatcherFailedUnsentBatchRestartsSequence(t *testing.T) {
	t.Parallel()
	rig := newRig(t, broker.Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: -1},
		actors.BatcherConfig{BatchSize: 1, MaxInFlight: 1})
	rig.src.add("warm-up", 10*time.Second)
	if r := rig.src.result(t); r.o.Err != nil {
		t.Fatal(r.o.Err)
	}
	gone := errors.New("partition gone from the metadata")
	rig.refreshErr.Store(&gone)
	rig.broker.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 0, Code: uint32(wire.ErrNotLeader.Code)})
	rig.src.add("refused", 10*time.Second)
	if r := rig.src.result(t); !errors.Is(r.o.Err, gone) {
		t.Fatalf("refused record: %v, want the metadata's error", r.o.Err)
	}
	rig.refreshErr.Store(nil)
	rig.src.add("next", 3*time.Second)
	if r := rig.src.result(t); r.o.Err != nil {
		t.Fatalf("record after the failed batch: %v", r.o.Err)
	}
	stored := rig.broker.Records("t", 0)
	if len(stored) != 2 || string(stored[1].Value) != "next" {
		t.Fatalf("%d records stored", len(stored))
	}
}

// TestBatcherStalledBatchTimesOut: a failed batch waiting for a leader that
// the metadata never names fails with ErrDeliveryTimeout at its deadline,
// though nothing else is queued. The sweep that enforces deadlines used to
// run only while records were queued, so such a batch waited for ever.
func TestBatcherStalledBatchTimesOut(t *testing.T) {
	t.Parallel()
	rig := newRig(t, broker.Config{Topics: map[string]int{"t": 1}}, actors.BatcherConfig{BatchSize: 1, MaxInFlight: 1})
	rig.silent.Store(true)
	rig.broker.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 0, Code: uint32(wire.ErrNotLeader.Code)})
	start := time.Now()
	rig.src.add("stranded", 500*time.Millisecond)
	r := rig.src.result(t)
	if !errors.Is(r.o.Err, actors.ErrDeliveryTimeout) || !errors.Is(r.o.Err, wire.ErrNotLeader) {
		t.Fatalf("stranded record: %v, want a delivery timeout after not leader", r.o.Err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("failed after %v, deadline 500ms", d)
	}
}
