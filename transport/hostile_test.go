package transport_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestBrokerHostileAnswers runs the development broker's crafted answers
// through a real connection: each ends as a bounded, typed error and the
// connection stays usable.
func TestBrokerHostileAnswers(t *testing.T) {
	b, caFile := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	c := dialBroker(t, transport.Config{TLS: transport.TLSConfig{CAFile: caFile}}, b.Addr())

	// A 10 MB error text: a *BrokerError of about a KiB.
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Partition: -1, Answer: broker.ErrorFrame(strings.Repeat("x", 10<<20))})
	_, err := produce(t, c, "t", "a")
	be, ok := errors.AsType[*transport.BrokerError](err)
	if !ok || len(be.Message) > wire.MaxErrorTextBytes+20 || !strings.HasSuffix(be.Message, "[truncated]") {
		t.Fatalf("huge error frame: %v", err)
	}

	// An offset of 2^64-1 is no offset at all.
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Partition: -1, AfterApply: true,
		Answer: broker.AnswerFrame(wire.TypeProduce, &wire.ProduceResponse{Offset: math.MaxUint64})})
	resp, err := produce(t, c, "t", "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.BaseOffset(1); !errors.Is(err, wire.ErrOffsetOverflow) {
		t.Fatalf("BaseOffset of %d: %v", resp.Offset, err)
	}

	// A Produce answer of 1 MiB is refused at 64 KiB.
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Partition: -1, Answer: append([]byte{wire.TypeProduce}, make([]byte, 1<<20)...)})
	if _, err := produce(t, c, "t", "c"); !errors.Is(err, transport.ErrResponseTooLarge) {
		t.Fatalf("1 MiB produce answer: %v", err)
	}

	// A broker that leaves the probe unanswered looks like upstream.
	b.FailNext(broker.Fault{RequestType: wire.TypeCapabilities, NoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caps, err := c.Capabilities(ctx)
	if err != nil || caps.Supported {
		t.Fatalf("unanswered probe: %+v, %v", caps, err)
	}
	if _, err := produce(t, c, "t", "d"); err != nil {
		t.Fatalf("the connection did not survive: %v", err)
	}
}
