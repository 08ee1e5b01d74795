package transport_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// metadata runs one Metadata request on c.
func metadata(c *transport.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Do(ctx, wire.TypeMetadata, (&wire.MetadataRequest{}).Append(nil))
	return err
}

// TestDeadBrokerNoticedByIdleTimeout kills the broker as SIGKILL would (its
// socket closes, no CONNECTION_CLOSE is sent) under an idle connection
// with the default keep-alive and idle timeout, and checks that the
// connection ends on its own with a cause naming the idle timeout. The
// bound is generous for a loaded machine; the defaults aim at about 2 s.
func TestDeadBrokerNoticedByIdleTimeout(t *testing.T) {
	b, caFile := startBroker(t, broker.Config{})
	c := dialBroker(t, transport.Config{TLS: transport.TLSConfig{CAFile: caFile}}, b.Addr())
	if err := metadata(c); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := b.CrashNode(0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection outlived the dead broker by 10 s")
	}
	t.Logf("dead broker noticed after %v (KeepAlivePeriod %v, IdleTimeout %v)",
		time.Since(killed).Round(time.Millisecond), transport.DefaultKeepAlivePeriod, transport.DefaultIdleTimeout)
	cause := context.Cause(c.Context())
	ce, ok := errors.AsType[*transport.ConnError](cause)
	if _, idle := errors.AsType[*quic.IdleTimeoutError](cause); !ok || !idle || !ce.Timeout() || !transport.IsRetriable(cause) {
		t.Fatalf("cause %v (%T): want a retriable *ConnError wrapping *quic.IdleTimeoutError", cause, cause)
	}
	// Requests on the dead connection fail at once with that cause.
	if err := metadata(c); !errors.As(err, new(*quic.IdleTimeoutError)) {
		t.Fatalf("request on the dead connection: %v", err)
	}
}

// TestRestartedBrokerResetsOldConnections restarts a crashed broker on the
// same address as a new process would (a new Broker, its own certificate)
// with the first one's stateless reset key. The old connection, whose idle
// timeout is set far beyond the test's patience, must end at its next
// request with a stateless reset.
func TestRestartedBrokerResetsOldConnections(t *testing.T) {
	b1, caFile := startBroker(t, broker.Config{})
	c := dialBroker(t, transport.Config{TLS: transport.TLSConfig{CAFile: caFile}, IdleTimeout: time.Minute, KeepAlivePeriod: -1}, b1.Addr())
	if err := metadata(c); err != nil {
		t.Fatal(err)
	}
	if err := b1.CrashNode(0); err != nil {
		t.Fatal(err)
	}
	key := b1.StatelessResetKey()
	b2, _ := startBroker(t, broker.Config{Listen: b1.Addr(), StatelessResetKey: &key})
	if b2.StatelessResetKey() != key {
		t.Fatal("Config.StatelessResetKey not used")
	}
	start := time.Now()
	err := metadata(c)
	if _, ok := errors.AsType[*quic.StatelessResetError](err); !ok || !transport.IsRetriable(err) {
		t.Fatalf("request after the restart: %v, want a retriable stateless reset", err)
	}
	t.Logf("old connection reset %v after its first request to the restarted broker", time.Since(start).Round(time.Microsecond))
	select { // the cause is recorded by a callback of quic-go's context
	case <-c.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Conn.Context still alive after the reset")
	}
	if _, ok := errors.AsType[*quic.StatelessResetError](context.Cause(c.Context())); !ok {
		t.Fatalf("Conn.Context cause %v", context.Cause(c.Context()))
	}
}
