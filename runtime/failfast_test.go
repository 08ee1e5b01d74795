package runtime_test

import (
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestUnknownTopicFailsAfterGrace: a topic the broker does not have fails
// with ErrUnknownTopic naming it once the grace has passed, not at the
// delivery timeout; the runtime then stops asking about it; and once the
// topic exists, the next message for it is delivered.
func TestUnknownTopicFailsAfterGrace(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.UnknownTopicGrace = 300 * time.Millisecond })
	p := newProducer(t, rt, "later", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	start := time.Now()
	_, err := p.Send(ctx, &rmq.Message{Payload: []byte("x")})
	took := time.Since(start)
	if !errors.Is(err, rmq.ErrUnknownTopic) || !strings.Contains(err.Error(), `"later"`) {
		t.Fatalf("Send to a missing topic: %v", err)
	}
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the unknown topic was reported after %v, want just after the 300ms grace", took)
	}
	// A Metadata request naming the topic from now on would take this
	// rule: none may come, the runtime having given up on the topic.
	b.FailNext(broker.Fault{RequestType: wire.TypeMetadata, Topic: "later", Answer: broker.ErrorFrame("asked again")})
	time.Sleep(2500 * time.Millisecond) // longer than the metadata retry backoff's cap
	if b.PendingFaults() != 1 {
		t.Fatal("the runtime kept asking about the unknown topic")
	}
	b.ClearFaults()
	if err := b.CreateTopic("later", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("y")}); err != nil {
		t.Fatalf("Send once the topic exists: %v", err)
	}
}

// TestUnknownTopicGraceCoversCreation: a broker that lists a new topic only
// from its third Metadata answer on (as a cluster creating it on first use
// does) costs the producer nothing but the wait.
func TestUnknownTopicGraceCoversCreation(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"new": 1}})
	empty := broker.AnswerFrame(wire.TypeMetadata, &wire.MetadataResponse{Brokers: []wire.BrokerInfo{{ID: "x", Host: "127.0.0.1", PortQUIC: 1}}})
	b.FailNext(broker.Fault{RequestType: wire.TypeMetadata, Topic: "new", Answer: empty, Count: 2})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.UnknownTopicGrace = 5 * time.Second })
	p := newProducer(t, rt, "new", rmq.ProducerConfig{})
	if _, err := p.Send(ctxTimeout(t, 30*time.Second), &rmq.Message{Payload: []byte("x")}); err != nil {
		t.Fatalf("Send to a topic created during the grace: %v", err)
	}
	if b.PendingFaults() != 0 {
		t.Fatal("the crafted answers were not all asked for")
	}
}

// TestUnreachableFailsFastAndPing: with no broker listening, Send and Ping
// fail within a second or so with an *UnreachableError wrapping the
// refusal; Health lists the broker from the start; the first failed dial
// is logged at Warn, and the rest not.
func TestUnreachableFailsFastAndPing(t *testing.T) {
	t.Parallel()
	addr := freeUDPAddr(t)
	var logs lockedBuffer
	rt := newRuntime(t, []string{addr}, "", func(c *rmq.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	if h := rt.Health(); len(h) != 1 || h[0].Addr != addr {
		t.Fatalf("Health right after New: %+v", h)
	}
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	start := time.Now()
	_, err := p.Send(ctx, &rmq.Message{Payload: []byte("x")})
	var ue *rmq.UnreachableError
	if !errors.Is(err, rmq.ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &ue) || len(ue.Brokers) != 1 || ue.Brokers[0].Addr != addr {
		t.Fatalf("Send with no broker: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Send failed after %v", took)
	}
	// Later messages fail fast too.
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("y")}); !errors.Is(err, rmq.ErrUnreachable) {
		t.Fatalf("second Send: %v", err)
	}
	start = time.Now()
	if err := rt.Ping(ctx); !errors.Is(err, rmq.ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Ping with no broker: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Ping failed after %v", took)
	}
	h := rt.Health()
	if h[0].State != "failed" || h[0].DialFailures < 3 || !errors.Is(h[0].LastError, syscall.ECONNREFUSED) {
		t.Fatalf("Health: %+v", h)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"rustmq: dial failed\""); n != 1 {
		t.Fatalf("%d dial failures logged at Warn, want the first only:\n%s", n, logs.String())
	}
}

// TestPingAndOutageAfterConnecting: Ping answers nil with a broker up; once
// the runtime was connected, losing the broker fails messages only at
// their delivery timeout, with an error that wraps the last failure.
func TestPingAndOutageAfterConnecting(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	if err := rt.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	p := newProducer(t, rt, "t", rmq.ProducerConfig{DeliveryTimeout: 2 * time.Second})
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	start := time.Now()
	_, err := p.Send(ctx, &rmq.Message{Payload: []byte("y")})
	took := time.Since(start)
	if !errors.Is(err, rmq.ErrDeliveryTimeout) || errors.Is(err, rmq.ErrUnreachable) {
		t.Fatalf("Send during an outage: %v", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !strings.Contains(err.Error(), "connection") {
		t.Fatalf("the delivery timeout does not name the connection failure: %v", err)
	}
	if took < 1500*time.Millisecond {
		t.Fatalf("the outage was not ridden out: failed after %v with %v", took, err)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
}
