package authsrv_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker/internal/authsrv"
	"github.com/rustmq/rustmq-go/transport/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var hmacKey = []byte("0123456789abcdef0123456789abcdef")

func newServer(t *testing.T, cfg authsrv.Config) *authsrv.Server {
	t.Helper()
	s, err := authsrv.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestNewRejectsBadConfig(t *testing.T) {
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  authsrv.Config
		want string // a fragment the error must contain
	}{
		{"nothing enabled", authsrv.Config{}, "no mechanism"},
		{"negative lifetime", authsrv.Config{Users: map[string]string{"a": "b"}, SessionLifetime: -time.Second}, "SessionLifetime"},
		{"empty user", authsrv.Config{Users: map[string]string{"": "pw"}}, "empty user name"},
		{"empty password", authsrv.Config{Users: map[string]string{"alice": ""}}, `Users["alice"]: empty password`},
		{"NUL in user", authsrv.Config{Users: map[string]string{"a\x00b": "pw"}}, "NUL"},
		{"invalid UTF-8 password", authsrv.Config{Users: map[string]string{"alice": "\xff"}}, "UTF-8"},
		{"SASLprep rejects password", authsrv.Config{Users: map[string]string{"alice": "p\u0007w"}}, `Users["alice"]`},
		{"short HMAC key", authsrv.Config{JWTKey: []byte("short")}, "5 bytes"},
		{"small RSA key", authsrv.Config{JWTKey: &smallRSA.PublicKey}, "1024 bits"},
		{"P-224 key", authsrv.Config{JWTKey: &p224.PublicKey}, "P-224"},
		{"private key", authsrv.Config{JWTKey: smallRSA}, "*rsa.PrivateKey"},
		{"string key", authsrv.Config{JWTKey: "secret"}, "string"},
		{"nil RSA key", authsrv.Config{JWTKey: (*rsa.PublicKey)(nil)}, "nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authsrv.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tc.want)
			}
			for _, pw := range tc.cfg.Users {
				if pw != "" && strings.Contains(err.Error(), pw) {
					t.Fatalf("error %q reveals the password", err)
				}
			}
		})
	}
}

func TestMechanismsAndStart(t *testing.T) {
	users := authsrv.Config{Users: map[string]string{"alice": "pw"}}
	jwtOnly := authsrv.Config{JWTKey: hmacKey}
	both := authsrv.Config{Users: map[string]string{"alice": "pw"}, JWTKey: hmacKey, SessionLifetime: time.Minute}
	for _, tc := range []struct {
		name string
		cfg  authsrv.Config
		want []string
	}{
		{"users", users, []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}},
		{"jwt", jwtOnly, []string{"JWT"}},
		{"both", both, []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "JWT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.cfg)
			got := s.Mechanisms()
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Mechanisms() = %v, want %v", got, tc.want)
			}
			got[0] = "changed" // the caller's copy
			if s.Mechanisms()[0] != tc.want[0] {
				t.Fatal("Mechanisms() returned the server's own slice")
			}
			if s.SessionLifetime() != tc.cfg.SessionLifetime {
				t.Fatalf("SessionLifetime() = %v", s.SessionLifetime())
			}
			for _, m := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "JWT", "plain", "GSSAPI", "", strings.Repeat("X", 500)} {
				sess, err := s.Start(m)
				enabled := slices.Contains(tc.want, m)
				if enabled && (err != nil || sess == nil) {
					t.Fatalf("Start(%q) = %v, %v", m, sess, err)
				}
				if !enabled {
					if !errors.Is(err, wire.ErrUnsupportedSASLMechanism) || sess != nil {
						t.Fatalf("Start(%q) = %v, %v; want ErrUnsupportedSASLMechanism", m, sess, err)
					}
					if len(err.Error()) > 200 {
						t.Fatalf("error message not bounded: %d bytes", len(err.Error()))
					}
				}
			}
		})
	}
}

// failed asserts err is an authentication failure and returns its message.
func failed(t *testing.T, err error) string {
	t.Helper()
	var ae *authsrv.Error
	if !errors.Is(err, wire.ErrSASLAuthenticationFailed) || !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *authsrv.Error wrapping ErrSASLAuthenticationFailed", err)
	}
	return err.Error()
}
