package runtime_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestOrderWithoutReorderWindow produces keyed messages with MaxInFlight 5
// to a development broker whose reorder window is switched off, so that it
// behaves like a broker without one: a batch that overtakes its
// predecessor on another QUIC stream is answered "out of order sequence"
// at once. The broker does not advertise reorder-window in its
// capabilities, so each partition sends one batch at a time: every key's
// messages are stored in the order they were sent, once each, without a
// single retry. With the window on, the broker advertises it and the
// partitions pipeline. The producer used to pipeline regardless and relied
// on the window: without it, overtaking batches were refused and retried.
func TestOrderWithoutReorderWindow(t *testing.T) {
	t.Parallel()
	for _, window := range []time.Duration{-1, 0} {
		t.Run(fmt.Sprint("window ", window), func(t *testing.T) {
			t.Parallel()
			const topic, parts, keys, n = "ordered", 4, 16, 4000
			b, ca := startBroker(t, broker.Config{Topics: map[string]int{topic: parts}, IdempotenceReorderWindow: window})
			rt := newRuntime(t, []string{b.Addr()}, ca, nil)
			p := newProducer(t, rt, topic, rmq.ProducerConfig{MaxInFlight: 5, BatchSize: 10, Linger: -1})
			ctx := ctxTimeout(t, 60*time.Second)
			o := newOutcomes(n)
			for i := range n {
				m := &rmq.Message{Key: []byte(fmt.Sprint("key-", i%keys)), Payload: keyedValue(i)}
				if err := p.SendAsync(ctx, m, o.cb(i)); err != nil {
					t.Fatal(err)
				}
			}
			o.wait(t, 50*time.Second)
			checkLog(t, b, topic, parts, o, func(int) bool { return true })
			// Per key: the messages of one key share a partition, sent in
			// index order, so checkLog's per-partition order covers them.
			h := rt.Health()
			if len(h) != 1 {
				t.Fatalf("health %+v", h)
			}
			advertised := slices.Contains(h[0].Features, wire.FeatureReorderWindow)
			if advertised != (window >= 0) || h[0].Upstream {
				t.Fatalf("window %v: features %v, upstream %v", window, h[0].Features, h[0].Upstream)
			}
			m := p.Metrics()
			if window < 0 && m.Retries != 0 {
				t.Fatalf("%d retries against a broker without a reorder window: batches overtook each other", m.Retries)
			}
			t.Logf("window %v: %d requests, %d retries, features %v", window, m.BatchesSent, m.Retries, h[0].Features)
		})
	}
}
