package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// A message without a timestamp of its own is stamped with its acceptance
// time, which a buffered message keeps as its deadline less the delivery
// timeout, to the millisecond. The Result and the stored record must agree,
// and both must be the time of the send, whatever the delivery timeout
// (whole milliseconds or not).
func TestAcceptanceTimestamp(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"ts": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	sent := 0
	for _, timeout := range []time.Duration{0, 2*time.Minute + 300*time.Microsecond, 90*time.Second + 999_999*time.Nanosecond, time.Second + 1} {
		p := newProducer(t, rt, "ts", rmq.ProducerConfig{DeliveryTimeout: timeout})
		for i := range 20 {
			before := time.Now().UnixMilli()
			var res *rmq.Result
			var err error
			if i%2 == 0 {
				res, err = p.Send(ctx, &rmq.Message{Payload: []byte("v")})
			} else {
				done := make(chan struct{})
				var cbErr error
				err = p.SendAsync(context.Background(), &rmq.Message{Payload: []byte("v")}, func(r *rmq.Result, e error) {
					res, cbErr = r, e
					close(done)
				})
				if err == nil {
					<-done
					err = cbErr
				}
			}
			after := time.Now().UnixMilli()
			if err != nil {
				t.Fatalf("timeout %v, message %d: %v", timeout, i, err)
			}
			sent++
			got := res.Timestamp.UnixMilli()
			// The producer's clock is read every millisecond: it may lag
			// the caller's reading by a tick or a late wake-up.
			if got < before-50 || got > after {
				t.Errorf("timeout %v, message %d: timestamp %d, sent between %d and %d", timeout, i, got, before, after)
			}
			stored := b.Records("ts", 0)
			if len(stored) != sent {
				t.Fatalf("%d records stored after %d sends", len(stored), sent)
			}
			if st := stored[len(stored)-1].Timestamp; st != got {
				t.Errorf("timeout %v, message %d: stored timestamp %d, result's %d", timeout, i, st, got)
			}
		}
	}
}
