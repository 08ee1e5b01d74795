package runtime_test

import (
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// A Send or SendBatch caller who has its result finds the message counted
// and its buffer space released: the runtime wakes it only after both.
// (It used to be woken first, and Metrics read right after could still
// show the message buffered and not delivered.)
func TestMetricsFinalWhenSendReturns(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"m": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "m", rmq.ProducerConfig{Linger: -1})
	ctx := ctxTimeout(t, 60*time.Second)
	for i := range 3000 {
		var err error
		if i%10 == 9 {
			_, err = p.SendBatch(ctx, []*rmq.Message{{Payload: []byte("b")}})
		} else {
			_, err = p.Send(ctx, &rmq.Message{Payload: []byte("s")})
		}
		if err != nil {
			t.Fatal(err)
		}
		if m := p.Metrics(); m.Delivered != int64(i+1) || m.BufferedRecords != 0 || m.BufferedBytes != 0 {
			t.Fatalf("after send %d: delivered %d, buffered %d records, %d bytes", i, m.Delivered, m.BufferedRecords, m.BufferedBytes)
		}
	}
}
