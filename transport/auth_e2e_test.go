package transport_test

// End-to-end authentication: each mechanism of auth_*.go against the
// development broker (broker.Start with Auth configured, its verification
// in broker/internal/authsrv), over real QUIC and TLS on loopback.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

var e2eHMACKey = []byte("e2e-secret-e2e-secret-e2e-secret")

// e2eAuthBroker starts a broker requiring authentication and returns its
// address and a dialer config trusting its CA.
func e2eAuthBroker(t *testing.T, auth *broker.AuthConfig) (string, transport.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	auth.Required = true
	b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{"orders": 1}, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, b.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return b.Addr(), transport.Config{TLS: transport.TLSConfig{CAFile: caFile}}
}

// e2eDial dials addr with auth and returns the connection or the error.
func e2eDial(t *testing.T, cfg transport.Config, auth transport.Authenticator, addr string) (*transport.Conn, error) {
	t.Helper()
	cfg.Auth = auth
	d, err := transport.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// e2eMetadata proves the connection is usable past authentication.
func e2eMetadata(t *testing.T, c *transport.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := wire.MetadataRequest{Topics: []string{"orders"}}
	body, err := c.Do(ctx, wire.TypeMetadata, req.Append(nil))
	if err != nil {
		t.Fatalf("metadata after authentication: %v", err)
	}
	var md wire.MetadataResponse
	if err := md.Unmarshal(body); err != nil || len(md.TopicsMetadata) != 1 {
		t.Fatalf("metadata %+v, %v", md, err)
	}
}

func signedToken(t *testing.T, m jwt.SigningMethod, key any, sub string, ttl time.Duration) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, jwt.RegisteredClaims{
		Subject:   sub,
		Issuer:    "e2e-issuer",
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl)),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func staticToken(tok string) transport.Authenticator {
	return transport.JWT(func(context.Context) (string, error) { return tok, nil })
}

// wantAuthFailed asserts err is an *AuthError carrying code 58.
func wantAuthFailed(t *testing.T, err error, mechanism string) {
	t.Helper()
	var ae *transport.AuthError
	if !errors.As(err, &ae) || !errors.Is(err, wire.ErrSASLAuthenticationFailed) {
		t.Fatalf("got %v, want *transport.AuthError wrapping SASL_AUTHENTICATION_FAILED", err)
	}
	if ae.Mechanism != mechanism {
		t.Fatalf("AuthError.Mechanism = %q, want %q", ae.Mechanism, mechanism)
	}
	if transport.IsRetriable(err) {
		t.Fatalf("authentication failure %v classed retriable", err)
	}
}

func TestAuthE2EUsers(t *testing.T) {
	addr, cfg := e2eAuthBroker(t, &broker.AuthConfig{Users: map[string]string{"alice": "s3cret", "bob": "hunter2"}})
	mechs := []struct {
		name string
		new  func(user, pass string) transport.Authenticator
	}{
		{"PLAIN", transport.Plain},
		{"SCRAM-SHA-256", transport.ScramSHA256},
		{"SCRAM-SHA-512", transport.ScramSHA512},
	}
	for _, m := range mechs {
		t.Run(m.name, func(t *testing.T) {
			for _, user := range []struct{ name, pass string }{{"alice", "s3cret"}, {"bob", "hunter2"}} {
				c, err := e2eDial(t, cfg, m.new(user.name, user.pass), addr)
				if err != nil {
					t.Fatalf("%s: %v", user.name, err)
				}
				if c.Principal() != user.name {
					t.Fatalf("Principal() = %q, want %q", c.Principal(), user.name)
				}
				e2eMetadata(t, c)
			}
			_, err := e2eDial(t, cfg, m.new("alice", "wrong"), addr)
			wantAuthFailed(t, err, m.name)
			_, unknownErr := e2eDial(t, cfg, m.new("mallory", "s3cret"), addr)
			wantAuthFailed(t, unknownErr, m.name)
			// The broker's message for an unknown user is the one for a
			// wrong password.
			var wrongRE, unknownRE *wire.ResponseError
			if !errors.As(err, &wrongRE) || !errors.As(unknownErr, &unknownRE) || wrongRE.Message != unknownRE.Message {
				t.Fatalf("wrong password %v vs unknown user %v", err, unknownErr)
			}
		})
	}
	// A broker with users only does not offer JWT.
	_, err := e2eDial(t, cfg, staticToken(signedToken(t, jwt.SigningMethodHS256, e2eHMACKey, "svc", time.Minute)), addr)
	var ae *transport.AuthError
	if !errors.As(err, &ae) || !errors.Is(err, wire.ErrUnsupportedSASLMechanism) {
		t.Fatalf("JWT to a users-only broker: %v", err)
	}
}

func TestAuthE2EJWT(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := []struct {
		name    string
		verify  any
		method  jwt.SigningMethod
		signKey any
	}{
		{"HS256", e2eHMACKey, jwt.SigningMethodHS256, e2eHMACKey},
		{"EdDSA", pub, jwt.SigningMethodEdDSA, priv},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			addr, cfg := e2eAuthBroker(t, &broker.AuthConfig{JWTKey: k.verify, JWTIssuer: "e2e-issuer"})

			// The token function runs on every dial: rotated tokens carry
			// a new subject each time.
			var n atomic.Int32
			rotating := transport.JWT(func(ctx context.Context) (string, error) {
				sub := []string{"svc-blue", "svc-green"}[n.Add(1)%2]
				return signedToken(t, k.method, k.signKey, sub, time.Minute), nil
			})
			seen := map[string]bool{}
			for range 2 {
				c, err := e2eDial(t, cfg, rotating, addr)
				if err != nil {
					t.Fatal(err)
				}
				seen[c.Principal()] = true
				e2eMetadata(t, c)
			}
			if !seen["svc-blue"] || !seen["svc-green"] {
				t.Fatalf("principals %v: the token was not fetched per dial", seen)
			}

			_, err := e2eDial(t, cfg, staticToken(signedToken(t, k.method, k.signKey, "svc", -time.Minute)), addr)
			wantAuthFailed(t, err, "JWT")

			_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
			wrong := map[string]string{
				"HS256": signedToken(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another!!"), "svc", time.Minute),
				"EdDSA": signedToken(t, jwt.SigningMethodEdDSA, otherPriv, "svc", time.Minute),
			}[k.name]
			_, err = e2eDial(t, cfg, staticToken(wrong), addr)
			wantAuthFailed(t, err, "JWT")

			// A users mechanism against a JWT-only broker.
			_, err = e2eDial(t, cfg, transport.Plain("alice", "pw"), addr)
			if !errors.Is(err, wire.ErrUnsupportedSASLMechanism) {
				t.Fatalf("PLAIN to a JWT-only broker: %v", err)
			}
		})
	}
}

// Credentials a mechanism rejects are refused before any dial: NewDialer
// reports them (through the Authenticators' Validate method), wrapping the
// *CredentialError. A JWT token function that returns nothing fails the
// dial itself, before anything is sent.
func TestAuthE2EInvalidCredentials(t *testing.T) {
	for _, auth := range []transport.Authenticator{
		transport.Plain("", "pw"),
		transport.ScramSHA256("", "pw"),
		transport.ScramSHA512("alice", ""),
		transport.JWT(nil),
	} {
		_, err := transport.NewDialer(transport.Config{Auth: auth})
		var ce *transport.CredentialError
		if !errors.As(err, &ce) || ce.Mechanism != auth.Mechanism() {
			t.Fatalf("%s: NewDialer = %v, want a *CredentialError", auth.Mechanism(), err)
		}
	}
	addr, cfg := e2eAuthBroker(t, &broker.AuthConfig{JWTKey: e2eHMACKey})
	_, err := e2eDial(t, cfg, staticToken(""), addr)
	var ce *transport.CredentialError
	if !errors.As(err, &ce) || ce.Field != "token" || transport.IsRetriable(err) {
		t.Fatalf("empty token: %v", err)
	}
}
