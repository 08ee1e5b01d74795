package runtime_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/internal/devcert"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestSASL produces through each SASL mechanism and checks the principal.
func TestSASL(t *testing.T) {
	t.Parallel()
	users := map[string]string{"alice": "wonderland"}
	for _, c := range []struct {
		name string
		auth transport.Authenticator
	}{
		{"PLAIN", rmq.SASLPlain("alice", "wonderland")},
		{"SCRAM-SHA-256", rmq.ScramSHA256("alice", "wonderland")},
		{"SCRAM-SHA-512", rmq.ScramSHA512("alice", "wonderland")},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}, Auth: &broker.AuthConfig{Users: users, Required: true}})
			rt := newRuntime(t, []string{b.Addr()}, ca, func(cfg *rmq.Config) { cfg.Auth = c.auth })
			p := newProducer(t, rt, "t", rmq.ProducerConfig{})
			if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("hi")}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if h := rt.Health(); len(h) != 1 || h[0].Principal != "alice" {
				t.Fatalf("health %+v", h)
			}
		})
	}
}

// TestBadCredentials: rejected credentials fail messages with the
// authentication error, not an endless retry.
func TestBadCredentials(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}, Auth: &broker.AuthConfig{Users: map[string]string{"alice": "x"}, Required: true}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(cfg *rmq.Config) { cfg.Auth = rmq.ScramSHA256("alice", "wrong") })
	p := newProducer(t, rt, "t", rmq.ProducerConfig{DeliveryTimeout: 10 * time.Second})
	_, err := p.Send(ctxTimeout(t, 15*time.Second), &rmq.Message{Payload: []byte("hi")})
	var ae *transport.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("Send with bad credentials: %v, want *transport.AuthError", err)
	}
}

// TestMTLSAndAuthorization: with mutual TLS the principal is the client
// certificate's common name; the ACL lets it write one topic, and writing
// another fails with an *AuthorizationError naming topic and principal.
func TestMTLSAndAuthorization(t *testing.T) {
	t.Parallel()
	ca, err := devcert.NewCA("mtls test CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("svc-orders")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := ca.WriteCA(caFile); err != nil {
		t.Fatal(err)
	}
	if err := devcert.WriteKeyPair(client, certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(context.Background(), broker.Config{
		Topics: map[string]int{"orders": 1, "payments": 1}, Certificate: &server,
		ClientCAs: ca.Pool(), RequireClientCert: true,
		ACL: map[string][]string{"svc-orders": {"orders"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	rt := newRuntime(t, []string{b.Addr()}, caFile, func(cfg *rmq.Config) {
		cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
	})
	p := newProducer(t, rt, "orders", rmq.ProducerConfig{})
	if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("ok")}); err != nil {
		t.Fatalf("Send to an allowed topic: %v", err)
	}
	_, err = p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Topic: "payments", Payload: []byte("no")})
	var az *rmq.AuthorizationError
	if !errors.As(err, &az) || az.Topic != "payments" || az.Op != "WRITE" || az.Principal != "svc-orders" {
		t.Fatalf("Send to a forbidden topic: %v (%+v)", err, az)
	}
	if !errors.Is(err, wire.ErrTopicAuthorizationFailed) {
		t.Fatalf("AuthorizationError does not unwrap to the wire code: %v", err)
	}
	if len(b.Records("payments", 0)) != 0 {
		t.Fatal("forbidden record stored")
	}
	// The partition is usable again afterwards.
	if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("ok again")}); err != nil {
		t.Fatalf("Send after the refusal: %v", err)
	}
}

// TestMTLSWithoutClientCert: against a broker that requires client
// certificates, a runtime without one never reports the broker as
// connected (TLS 1.3 lets the client finish its handshake before the
// broker checks the certificate, so the connection must answer a request
// first); Health shows the failure with the broker's reason, and Send
// fails with that reason instead of hanging until its context ends.
func TestMTLSWithoutClientCert(t *testing.T) {
	t.Parallel()
	ca, err := devcert.NewCA("mtls test CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteCA(caFile); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(context.Background(), broker.Config{
		Topics: map[string]int{"orders": 1}, Certificate: &server, ClientCAs: ca.Pool(), RequireClientCert: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	rt := newRuntime(t, []string{b.Addr()}, caFile, nil)
	var failed *rmq.BrokerHealth
	for deadline := time.Now().Add(10 * time.Second); failed == nil && time.Now().Before(deadline); {
		for _, h := range rt.Health() {
			switch h.State {
			case "connected":
				t.Fatalf("health says connected: %+v", h)
			case "failed":
				failed = &h
			}
		}
		time.Sleep(time.Millisecond)
	}
	if failed == nil {
		t.Fatalf("no failure reported: %+v", rt.Health())
	}
	if failed.LastError == nil || !strings.Contains(failed.LastError.Error(), "certificate") {
		t.Fatalf("health error %v does not mention the certificate", failed.LastError)
	}
	p := newProducer(t, rt, "orders", rmq.ProducerConfig{})
	start := time.Now()
	_, err = p.Send(ctxTimeout(t, 20*time.Second), &rmq.Message{Payload: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send: %v, want an error about the certificate", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Send took %v to fail", d)
	}
	for _, h := range rt.Health() {
		if h.State == "connected" {
			t.Fatalf("health says connected: %+v", h)
		}
	}
	t.Logf("health: %v; send: %v", failed.LastError, err)
}
