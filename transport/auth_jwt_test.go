package transport_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rustmq/rustmq-go/transport"
)

type ctxKey struct{}

func TestJWTSendsSignedTokenPerStart(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	var calls atomic.Int64
	a := transport.JWT(func(ctx context.Context) (string, error) {
		if ctx.Value(ctxKey{}) != "handshake" {
			t.Error("token function did not get the Start context")
		}
		n := calls.Add(1)
		claims := jwt.RegisteredClaims{
			Subject:   "svc-" + strconv.FormatInt(n, 10),
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute)),
		}
		return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	})
	if a.Mechanism() != "JWT" {
		t.Fatalf("Mechanism() = %q", a.Mechanism())
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "handshake")
	for want := 1; want <= 3; want++ {
		s, err := a.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		// The payload is the compact token itself: a verifier parses it.
		var claims jwt.RegisteredClaims
		if _, err := jwt.ParseWithClaims(string(p), &claims, func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithValidMethods([]string{"HS256"})); err != nil {
			t.Fatalf("payload %q does not verify: %v", p, err)
		}
		if claims.Subject != "svc-"+strconv.Itoa(want) {
			t.Fatalf("session %d carried sub %q: token not fetched per Start", want, claims.Subject)
		}
		if err := s.Verify(nil); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("token function called %d times, want 3", calls.Load())
	}
}

func TestJWTTokenErrors(t *testing.T) {
	boom := errors.New("token endpoint down")
	if _, err := transport.JWT(func(context.Context) (string, error) { return "", boom }).Start(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("token error not wrapped: %v", err)
	}
	var ce *transport.CredentialError
	_, err := transport.JWT(func(context.Context) (string, error) { return "", nil }).Start(context.Background())
	if !errors.As(err, &ce) || ce.Field != "token" || ce.Mechanism != "JWT" {
		t.Fatalf("empty token: %v", err)
	}
	nilFn := transport.JWT(nil)
	if _, err := nilFn.Start(context.Background()); !errors.Is(err, transport.ErrInvalidCredential) {
		t.Fatalf("nil token function: %v", err)
	}
	if nilFn.(interface{ Validate() error }).Validate() == nil {
		t.Fatal("Validate accepts a nil token function")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if _, err := transport.JWT(func(context.Context) (string, error) { called = true; return "x", nil }).Start(ctx); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("cancelled Start: %v (token called: %v)", err, called)
	}
}

func TestJWTIsOneRound(t *testing.T) {
	a := transport.JWT(func(context.Context) (string, error) { return "a.b.c", nil })
	s, _ := a.Start(context.Background())
	if _, err := s.Next(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next([]byte("again")); !errors.Is(err, transport.ErrAuthProtocol) {
		t.Fatalf("second round: %v", err)
	}
	s, _ = a.Start(context.Background())
	if err := s.Verify(nil); !errors.Is(err, transport.ErrAuthProtocol) {
		t.Fatalf("complete before the token was sent: %v", err)
	}
}
