package runtime_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// TestJWT produces with JWT authentication through the runtime: the
// principal is the token's subject, and the token source is asked again for
// every new connection, so a rotated token takes effect on reconnect.
func TestJWT(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef-runtime-test")
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}, Auth: &broker.AuthConfig{JWTKey: secret, Required: true}})
	var calls atomic.Int32
	token := func(context.Context) (string, error) {
		n := calls.Add(1)
		sub := "svc-a"
		if n > 1 {
			sub = "svc-b"
		}
		return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": sub,
			"exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString(secret)
	}
	rt := newRuntime(t, []string{b.Addr()}, ca, func(cfg *rmq.Config) { cfg.Auth = rmq.JWT(token) })
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 20*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("first")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if h := rt.Health(); len(h) != 1 || h[0].Principal != "svc-a" {
		t.Fatalf("health after first connection: %+v", h)
	}

	// Drop the connection: the restarted connection actor dials again and
	// fetches a fresh token, whose subject becomes the principal.
	b.DropConnections()
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("second")}); err != nil {
		t.Fatalf("Send after reconnect: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := rt.Health()
		if len(h) == 1 && h[0].Principal == "svc-b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("principal after reconnect: %+v, want svc-b", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := len(b.Records("t", 0)); got != 2 {
		t.Fatalf("broker holds %d records, want 2", got)
	}
}
