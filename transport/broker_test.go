package transport_test

// Integration tests against the development broker (package broker), which
// shares no code with this package beyond transport/wire: it is a separate
// peer, so these round trips check both sides against docs/protocol.md.

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/internal/devcert"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

func startBroker(t *testing.T, cfg broker.Config) (*broker.Broker, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	caFile := filepath.Join(t.TempDir(), "broker-ca.pem")
	if err := os.WriteFile(caFile, b.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b, caFile
}

func dialBroker(t *testing.T, cfg transport.Config, addr string) *transport.Conn {
	t.Helper()
	d, err := transport.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// produce sends one record to topic/0 and returns the decoded response.
func produce(t *testing.T, c *transport.Conn, topic, value string) (wire.ProduceResponse, error) {
	t.Helper()
	req := wire.ProduceRequest{
		Topic:     topic,
		Records:   []wire.Record{{Value: []byte(value), Timestamp: time.Now().UnixMilli()}},
		Acks:      wire.Acks{Level: wire.AckLeader},
		TimeoutMs: 5000,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp wire.ProduceResponse
	body, err := c.Do(ctx, wire.TypeProduce, req.Append(nil))
	if err != nil {
		return resp, err
	}
	if err := resp.Unmarshal(body); err != nil {
		t.Fatalf("decode produce response: %v", err)
	}
	return resp, resp.Err()
}

func TestBrokerAuthenticatedProduceAndReauth(t *testing.T) {
	const lifetime = 300 * time.Millisecond
	jwtKey := []byte("integration-test-hmac-key-of-32-bytes!")
	b, caFile := startBroker(t, broker.Config{
		Topics: map[string]int{"orders": 1},
		Auth: &broker.AuthConfig{Users: map[string]string{"alice": "s3cret"}, JWTKey: jwtKey,
			SessionLifetime: lifetime, Required: true},
	})
	token := func(context.Context) (string, error) {
		return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
			Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
		}).SignedString(jwtKey)
	}
	for _, auth := range []transport.Authenticator{
		transport.Plain("alice", "s3cret"),
		transport.ScramSHA256("alice", "s3cret"),
		transport.ScramSHA512("alice", "s3cret"),
		transport.JWT(token),
	} {
		t.Run(auth.Mechanism(), func(t *testing.T) {
			c := dialBroker(t, transport.Config{TLS: transport.TLSConfig{CAFile: caFile}, Auth: auth}, b.Addr())
			if c.Principal() != "alice" || c.ALPN() != transport.ALPN {
				t.Fatalf("principal %q ALPN %q", c.Principal(), c.ALPN())
			}
			if _, err := produce(t, c, "orders", "first"); err != nil {
				t.Fatal(err)
			}
			// Outlive the session several times over: the connection
			// re-authenticates on its own, so the broker keeps accepting.
			time.Sleep(3 * lifetime)
			if _, err := produce(t, c, "orders", "after the session lifetime"); err != nil {
				t.Fatalf("produce after %v with a %v session: %v", 3*lifetime, lifetime, err)
			}
			if c.Context().Err() != nil {
				t.Fatal(context.Cause(c.Context()))
			}
		})
	}
	if n := len(b.Records("orders", 0)); n != 8 {
		t.Fatalf("broker holds %d records, want 8", n)
	}

	// Wrong password: the broker's verdict surfaces as an AuthError.
	d, err := transport.NewDialer(transport.Config{TLS: transport.TLSConfig{CAFile: caFile}, Auth: transport.Plain("alice", "wrong")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Dial(context.Background(), b.Addr())
	var ae *transport.AuthError
	if !errors.As(err, &ae) || !errors.Is(err, wire.ErrSASLAuthenticationFailed) || transport.IsRetriable(err) {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestBrokerWithoutALPN(t *testing.T) {
	b, caFile := startBroker(t, broker.Config{NoALPN: true, Topics: map[string]int{"t": 1}})
	c := dialBroker(t, transport.Config{TLS: transport.TLSConfig{CAFile: caFile}}, b.Addr())
	if c.ALPN() != "" {
		t.Fatalf("ALPN %q with a broker that has none", c.ALPN())
	}
	req := wire.MetadataRequest{Topics: []string{"t"}}
	body, err := c.Do(context.Background(), wire.TypeMetadata, req.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	var md wire.MetadataResponse
	if err := md.Unmarshal(body); err != nil || len(md.TopicsMetadata) != 1 {
		t.Fatalf("metadata %+v, %v", md, err)
	}
	// Request types the broker does not serve come back as 0xFF frames.
	_, err = c.Do(context.Background(), 4, nil)
	var be *transport.BrokerError
	if !errors.As(err, &be) || be.RequestType != 4 || be.Message == "" {
		t.Fatalf("unsupported request type: %v", err)
	}

	d, err := transport.NewDialer(transport.Config{TLS: transport.TLSConfig{CAFile: caFile}, ALPN: transport.ALPNRustMQ})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dial(context.Background(), b.Addr()); !errors.Is(err, transport.ErrALPNMismatch) {
		t.Fatalf("mode rustmq against a broker without ALPN: %v", err)
	}
}

func TestBrokerMutualTLSRotation(t *testing.T) {
	clientCA, err := devcert.NewCA("clients")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	b, caFile := startBroker(t, broker.Config{
		Topics:    map[string]int{"payments": 1},
		ClientCAs: pool, RequireClientCert: true,
		ACL: map[string][]string{"svc-a": {"payments"}},
	})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	write := func(cn string, mtime time.Time) {
		cert, err := clientCA.IssueClient(cn)
		if err != nil {
			t.Fatal(err)
		}
		if err := devcert.WriteKeyPair(cert, certFile, keyFile); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{certFile, keyFile} {
			if err := os.Chtimes(f, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write("svc-a", t0)
	d, err := transport.NewDialer(transport.Config{TLS: transport.TLSConfig{
		CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ReloadInterval: time.Nanosecond,
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial(context.Background(), b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := produce(t, c, "payments", "from svc-a"); err != nil {
		t.Fatalf("svc-a may write payments: %v", err)
	}

	// Rotate to a certificate whose principal the ACL does not allow: the
	// next connection presents it, and the broker refuses the write.
	write("svc-b", t0.Add(time.Second))
	c2, err := d.Dial(context.Background(), b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := produce(t, c2, "payments", "from svc-b"); !errors.Is(err, wire.ErrTopicAuthorizationFailed) {
		t.Fatalf("rotated certificate svc-b: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// The first connection keeps its identity.
	if _, err := produce(t, c, "payments", "again from svc-a"); err != nil {
		t.Fatal(err)
	}
}

// TestBrokerRefusesOversizedRequest pins what Do returns when a request is
// within Config.MaxRequestBytes but beyond the broker's own limit. The broker
// stops reading (STOP_SENDING) and answers a 0xFF frame; a large body is
// still being written when STOP_SENDING arrives, so the write fails, and the
// answer must still be read: the caller gets the broker's non-retriable
// explanation, not a retriable stream reset that would be retried forever.
func TestBrokerRefusesOversizedRequest(t *testing.T) {
	const brokerMax = 64 << 10
	b, caFile := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}, MaxRequestBytes: brokerMax})
	c := dialBroker(t, transport.Config{TLS: transport.TLSConfig{CAFile: caFile}}, b.Addr())
	for _, size := range []int{brokerMax + 1024, 4 << 20} {
		req := wire.ProduceRequest{Topic: "t", Records: []wire.Record{{Value: make([]byte, size)}}, Acks: wire.Acks{Level: wire.AckLeader}, TimeoutMs: 5000}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Do(ctx, wire.TypeProduce, req.Append(nil))
		cancel()
		var be *transport.BrokerError
		if !errors.As(err, &be) || !strings.Contains(be.Message, "request too large") || transport.IsRetriable(err) {
			t.Fatalf("%d-byte value: got %v (retriable %v), want the broker's non-retriable 'request too large' frame", size, err, transport.IsRetriable(err))
		}
	}
	// The connection stays usable.
	if _, err := produce(t, c, "t", "small"); err != nil {
		t.Fatal(err)
	}
}

// TestBrokerCapabilities probes the development broker before
// authenticating (it requires authentication for everything else).
func TestBrokerCapabilities(t *testing.T) {
	b, caFile := startBroker(t, broker.Config{
		Auth: &broker.AuthConfig{Users: map[string]string{"alice": "pw"}, Required: true},
	})
	c := dialBroker(t, transport.Config{TLS: transport.TLSConfig{CAFile: caFile}}, b.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caps, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Supported || caps.Version != wire.CapabilitiesVersion {
		t.Fatalf("Capabilities = %+v", caps)
	}
	for _, f := range []string{wire.FeatureIdempotence, wire.FeatureReorderWindow, wire.FeatureAuthenticate, wire.FeatureWholeRequests} {
		if !caps.Has(f) {
			t.Errorf("feature %q missing from %v", f, caps.Features)
		}
	}
}
