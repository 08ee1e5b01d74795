package broker

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rustmq/rustmq-go/internal/devcert"
	"github.com/rustmq/rustmq-go/transport/wire"
	"github.com/xdg-go/scram"
)

var jwtSecret = []byte("0123456789abcdef0123456789abcdef")

func authBroker(t *testing.T, lifetime time.Duration) *Broker {
	return startBroker(t, Config{
		Topics: map[string]int{"orders": 1, "audit": 1},
		Auth:   &AuthConfig{Users: map[string]string{"alice": "wonderland", "bob": "builder"}, JWTKey: jwtSecret, SessionLifetime: lifetime, Required: true},
		ACL:    map[string][]string{"alice": {"orders"}, "bob": {"*"}, "svc-1": {"audit"}},
	})
}

func plain(user, pw string) []byte { return []byte("\x00" + user + "\x00" + pw) }

func TestAuthenticationRequired(t *testing.T) {
	b := authBroker(t, 0)
	c := dial(t, b, b.Addr())

	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", Records: records("a")})
	wantCode(t, "produce before auth", r.ErrorCode, r.ErrorMessage, 58)
	f, _ := c.fetch(&wire.FetchRequest{Topic: "orders", MaxBytes: 10})
	wantCode(t, "fetch before auth", f.ErrorCode, f.ErrorMessage, 58)
	if _, err := c.metadata(); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("metadata before auth: %v", err)
	}

	a, err := c.authenticate("GSSAPI", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "unknown mechanism", a.ErrorCode, a.ErrorMessage, 33)
	if !strings.Contains(*a.ErrorMessage, "PLAIN") {
		t.Fatalf("33 message does not list mechanisms: %q", *a.ErrorMessage)
	}
	a, _ = c.authenticate("PLAIN", plain("alice", "wrong"))
	wantCode(t, "bad password", a.ErrorCode, a.ErrorMessage, 58)
	if strings.Contains(*a.ErrorMessage, "wrong") {
		t.Fatalf("message echoes the password: %q", *a.ErrorMessage)
	}

	a, _ = c.authenticate("PLAIN", plain("alice", "wonderland"))
	if a.ErrorCode != 0 || !a.Complete || a.Principal == nil || *a.Principal != "alice" || a.SessionLifetimeMs != 0 {
		t.Fatalf("PLAIN: %+v", a)
	}
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", Records: records("a")})
	wantCode(t, "produce after auth", r.ErrorCode, r.ErrorMessage, 0)
	if _, err := c.metadata(); err != nil {
		t.Fatal(err)
	}

	// ACL: alice may write orders only.
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "audit", Records: records("a")})
	wantCode(t, "ACL denial", r.ErrorCode, r.ErrorMessage, 29)
	for _, want := range []string{`"alice"`, "WRITE", `"audit"`} {
		if !strings.Contains(*r.ErrorMessage, want) {
			t.Fatalf("ACL message %q lacks %s", *r.ErrorMessage, want)
		}
	}
	// Reads are not restricted.
	f, _ = c.fetch(&wire.FetchRequest{Topic: "audit", MaxBytes: 10})
	wantCode(t, "fetch audit", f.ErrorCode, f.ErrorMessage, 0)

	// A failed re-authentication leaves the connection unauthenticated.
	a, _ = c.authenticate("PLAIN", plain("bob", "nope"))
	wantCode(t, "failed re-auth", a.ErrorCode, a.ErrorMessage, 58)
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", Records: records("a")})
	wantCode(t, "after failed re-auth", r.ErrorCode, r.ErrorMessage, 58)
}

func TestAuthenticateSCRAMAndJWT(t *testing.T) {
	b := authBroker(t, time.Hour)
	for _, mech := range []struct {
		name string
		hash scram.HashGeneratorFcn
	}{{"SCRAM-SHA-256", scram.SHA256}, {"SCRAM-SHA-512", scram.SHA512}} {
		t.Run(mech.name, func(t *testing.T) {
			c := dial(t, b, b.Addr())
			client, err := mech.hash.NewClient("bob", "builder", "")
			if err != nil {
				t.Fatal(err)
			}
			conv := client.NewConversation()
			first, _ := conv.Step("")
			a, err := c.authenticate(mech.name, []byte(first))
			if err != nil || a.ErrorCode != 0 || a.Complete {
				t.Fatalf("first round: %v %+v", err, a)
			}
			final, err := conv.Step(string(a.Payload))
			if err != nil {
				t.Fatal(err)
			}
			a, _ = c.authenticate(mech.name, []byte(final))
			if a.ErrorCode != 0 || !a.Complete || *a.Principal != "bob" || a.SessionLifetimeMs != uint64(time.Hour/time.Millisecond) {
				t.Fatalf("final round: %+v", a)
			}
			if _, err := conv.Step(string(a.Payload)); err != nil || !conv.Valid() {
				t.Fatalf("server signature: %v", err)
			}
			r := c.mustProduce(t, &wire.ProduceRequest{Topic: "audit", Records: records("a")})
			wantCode(t, "bob writes anything", r.ErrorCode, r.ErrorMessage, 0)
		})
	}
	t.Run("JWT", func(t *testing.T) {
		c := dial(t, b, b.Addr())
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "svc-1", "exp": time.Now().Add(time.Minute).Unix()}).SignedString(jwtSecret)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := c.authenticate("JWT", []byte(tok))
		if a.ErrorCode != 0 || !a.Complete || *a.Principal != "svc-1" {
			t.Fatalf("JWT: %+v", a)
		}
		if a.SessionLifetimeMs == 0 || a.SessionLifetimeMs > 60_000 {
			t.Fatalf("JWT session lifetime %d ms, want the token's remaining minute at most", a.SessionLifetimeMs)
		}
		r := c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", Records: records("a")})
		wantCode(t, "svc-1 may not write orders", r.ErrorCode, r.ErrorMessage, 29)
	})
}

func TestSessionLifetimeExpires(t *testing.T) {
	b := authBroker(t, 100*time.Millisecond)
	c := dial(t, b, b.Addr())
	a, _ := c.authenticate("PLAIN", plain("alice", "wonderland"))
	if a.SessionLifetimeMs != 100 {
		t.Fatalf("lifetime %d", a.SessionLifetimeMs)
	}
	time.Sleep(150 * time.Millisecond) // let the session's wall-clock lifetime pass
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", Records: records("a")})
	wantCode(t, "expired session", r.ErrorCode, r.ErrorMessage, 58)
}

func TestMutualTLSPrincipal(t *testing.T) {
	ca, err := devcert.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, Config{
		Topics:            map[string]int{"orders": 1, "audit": 1},
		ClientCAs:         ca.Pool(),
		RequireClientCert: true,
		ACL:               map[string][]string{"carol": {"orders"}},
	})
	cert, err := ca.IssueClient("carol")
	if err != nil {
		t.Fatal(err)
	}
	tc := clientTLS(b.CAPool(), ALPN)
	tc.Certificates = []tls.Certificate{cert}
	c, err := dialTLS(context.Background(), b.Addr(), tc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", Records: records("a")})
	wantCode(t, "carol writes orders", r.ErrorCode, r.ErrorMessage, 0)
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "audit", Records: records("a")})
	wantCode(t, "carol may not write audit", r.ErrorCode, r.ErrorMessage, 29)
	if !strings.Contains(*r.ErrorMessage, `principal "carol"`) {
		t.Fatalf("principal not from the certificate CN: %q", *r.ErrorMessage)
	}

	// Without a client certificate the handshake fails (or the first request
	// does: TLS 1.3 reports the server's rejection after the client's
	// Finished).
	noCert, err := dialTLS(context.Background(), b.Addr(), clientTLS(b.CAPool(), ALPN))
	if err == nil {
		defer noCert.close()
		if _, err := noCert.metadata(); err == nil {
			t.Fatal("client without a certificate was served")
		}
	}
	// A certificate from another CA is refused too.
	other, _ := devcert.NewCA("other")
	bad, _ := other.IssueClient("mallory")
	tc = clientTLS(b.CAPool(), ALPN)
	tc.Certificates = []tls.Certificate{bad}
	if badc, err := dialTLS(context.Background(), b.Addr(), tc); err == nil {
		defer badc.close()
		if _, err := badc.metadata(); err == nil {
			t.Fatal("client with a foreign certificate was served")
		}
	}
}

func TestALPNModes(t *testing.T) {
	normal := startBroker(t, Config{})
	noALPN := startBroker(t, Config{NoALPN: true})
	try := func(b *Broker, alpn ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := dialTLS(ctx, b.Addr(), clientTLS(b.CAPool(), alpn...))
		if err != nil {
			return err
		}
		defer c.close()
		_, err = c.metadata()
		return err
	}
	if err := try(normal, ALPN); err != nil {
		t.Fatalf("normal mode, client offers rustmq: %v", err)
	}
	if err := try(normal); err == nil {
		t.Fatal("normal mode accepted a client without ALPN")
	}
	if err := try(noALPN); err != nil {
		t.Fatalf("no-ALPN mode, client offers none: %v", err)
	}
	err := try(noALPN, ALPN)
	if err == nil {
		t.Fatal("no-ALPN mode accepted a client offering rustmq")
	}
	if !strings.Contains(err.Error(), "ALPN") && !strings.Contains(err.Error(), "application protocol") {
		t.Fatalf("no-ALPN refusal does not say why: %v", err)
	}
}
