package runtime_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
)

// TestALPNFallbackThroughRuntime runs the runtime, with its default ALPN
// mode, against a broker that configures no ALPN at all (as upstream's
// default QUIC server does): the first handshake offering "rustmq" fails, the
// transport retries without ALPN, and messages are delivered. Health reports
// the empty negotiated protocol.
func TestALPNFallbackThroughRuntime(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}, NoALPN: true})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 20*time.Second)
	for i := range 10 {
		msg, err := rmq.NewMessage().KeyString("k").PayloadString("v").Build()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Send(ctx, msg); err != nil {
			t.Fatalf("send %d through the no-ALPN fallback: %v", i, err)
		}
	}
	total := len(b.Records("t", 0)) + len(b.Records("t", 1))
	if total != 10 {
		t.Fatalf("broker holds %d records, want 10", total)
	}
	for _, h := range rt.Health() {
		if h.State == "connected" && h.ALPN != "" {
			t.Errorf("%s negotiated ALPN %q with a broker that has none", h.Addr, h.ALPN)
		}
	}
}

// TestALPNStrictModeRefused pins the other side: with ALPN forced to
// "rustmq", a broker without ALPN is refused with ErrALPNMismatch, and Send
// fails with it at once instead of hanging or retrying.
func TestALPNStrictModeRefused(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}, NoALPN: true})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) {
		c.TLS.ALPN = transport.ALPNRustMQ
	})
	p := newProducer(t, rt, "t", rmq.ProducerConfig{DeliveryTimeout: 3 * time.Second})
	msg, err := rmq.NewMessage().PayloadString("v").Build()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Send(ctxTimeout(t, 20*time.Second), msg)
	if err == nil {
		t.Fatal("Send succeeded against a broker without ALPN in strict rustmq mode")
	}
	// A mismatch is permanent: the runtime fails the message with it rather
	// than retrying until the delivery timeout.
	if !errors.Is(err, transport.ErrALPNMismatch) {
		t.Fatalf("Send error = %v, want ErrALPNMismatch", err)
	}
	if len(b.Records("t", 0)) != 0 {
		t.Fatal("a record reached the broker")
	}
}
