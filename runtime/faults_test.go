package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestInjectedFaults drives the batcher's retry rules with the broker's
// fault injection, one partition, messages sent one after another so each
// fault hits a known batch. After each case the partition's log must hold
// every acknowledged message exactly once, in order.
func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		fault   broker.Fault
		wantErr error // nil: the message must succeed
	}{
		{"ack lost after append", broker.Fault{RequestType: wire.TypeProduce, Drop: true, AfterApply: true}, nil},
		{"connection dropped before append", broker.Fault{RequestType: wire.TypeProduce, Drop: true}, nil},
		{"not leader", broker.Fault{RequestType: wire.TypeProduce, Code: 6, Count: 2}, nil},
		{"unknown server error", broker.Fault{RequestType: wire.TypeProduce, Code: 1, Count: 3}, nil},
		{"timed out after append", broker.Fault{RequestType: wire.TypeProduce, Code: 7, AfterApply: true}, nil},
		{"out of order sequence at the head", broker.Fault{RequestType: wire.TypeProduce, Code: 45}, nil},
		{"message too large", broker.Fault{RequestType: wire.TypeProduce, Code: 10}, wire.ErrMessageTooLarge},
		{"invalid record", broker.Fault{RequestType: wire.TypeProduce, Code: 87}, wire.ErrInvalidRecord},
		{"error frame", broker.Fault{RequestType: wire.TypeProduce, Code: 0xFF}, errAny},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, ca := startBroker(t, broker.Config{Topics: map[string]int{"f": 1}})
			rt := newRuntime(t, []string{b.Addr()}, ca, func(cfg *rmq.Config) {
				cfg.RetryBackoff = supervision.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}
				cfg.Supervision.Backoff = supervision.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}
			})
			p := newProducer(t, rt, "f", rmq.ProducerConfig{})
			ctx := ctxTimeout(t, 20*time.Second)
			send := func(i int) (*rmq.Result, error) {
				return p.Send(ctx, &rmq.Message{Payload: []byte(fmt.Sprint(i))})
			}
			var want []string
			for i := range 3 {
				if _, err := send(i); err != nil {
					t.Fatalf("before the fault: %v", err)
				}
				want = append(want, fmt.Sprint(i))
			}
			f := c.fault
			f.Partition = -1
			b.FailNext(f)
			res, err := send(3)
			switch {
			case c.wantErr == nil:
				if err != nil {
					t.Fatalf("with the fault: %v", err)
				}
				want = append(want, "3")
				if res.Offset != 3 {
					t.Fatalf("offset %d, want 3", res.Offset)
				}
			case c.wantErr == errAny:
				if err == nil {
					t.Fatal("no error")
				}
			default:
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
			}
			// The partition carries on afterwards, without 45s.
			for i := 4; i < 8; i++ {
				if _, err := send(i); err != nil {
					t.Fatalf("after the fault: %v", err)
				}
				want = append(want, fmt.Sprint(i))
			}
			recs := b.Records("f", 0)
			var got []string
			for _, r := range recs {
				got = append(got, string(r.Value))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("log %v, want %v", got, want)
			}
			_ = p.Close(context.Background())
		})
	}
}

var errAny = errors.New("any error")
