package transport_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rustmq/rustmq-go/transport"
)

// plainServerCheck is a test-side PLAIN acceptor written from RFC 4616:
// message = [authzid] NUL authcid NUL passwd.
func plainServerCheck(t *testing.T, payload []byte, users map[string]string) (string, bool) {
	t.Helper()
	parts := bytes.Split(payload, []byte{0})
	if len(parts) != 3 {
		t.Fatalf("PLAIN payload %q has %d NUL-separated parts, want 3", payload, len(parts))
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return "", false
	}
	want, ok := users[user]
	return user, ok && want == pass
}

func TestPlainPayloadAndOneRound(t *testing.T) {
	a := transport.Plain("alice", "s3cret")
	if got := a.Mechanism(); got != "PLAIN" {
		t.Fatalf("Mechanism() = %q", got)
	}
	s, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Next(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("\x00alice\x00s3cret"); !bytes.Equal(p, want) {
		t.Fatalf("payload %q, want %q", p, want)
	}
	if user, ok := plainServerCheck(t, p, map[string]string{"alice": "s3cret"}); !ok || user != "alice" {
		t.Fatalf("server check = %q, %v", user, ok)
	}
	if _, ok := plainServerCheck(t, p, map[string]string{"alice": "other"}); ok {
		t.Fatal("wrong password accepted by the reference check")
	}
	if err := s.Verify(nil); err != nil {
		t.Fatalf("Verify(nil) = %v", err)
	}
	// Finished: any further use is a protocol error.
	if _, err := s.Next(nil); !errors.Is(err, transport.ErrAuthProtocol) {
		t.Fatalf("Next after finish = %v, want ErrAuthProtocol", err)
	}
}

func TestPlainSessionsAreIndependent(t *testing.T) {
	a := transport.Plain("alice", "pw")
	s1, _ := a.Start(context.Background())
	s2, _ := a.Start(context.Background())
	p1, _ := s1.Next(nil)
	p1[1] = 'X' // a caller scribbling on one payload must not reach another session
	p2, _ := s2.Next(nil)
	if string(p2) != "\x00alice\x00pw" {
		t.Fatalf("second session payload %q", p2)
	}
}

func TestPlainProtocolViolations(t *testing.T) {
	a := transport.Plain("alice", "pw")
	cases := []struct {
		name string
		run  func(s transport.AuthSession) error
	}{
		{"second round asked", func(s transport.AuthSession) error {
			if _, err := s.Next(nil); err != nil {
				return err
			}
			_, err := s.Next([]byte("more?"))
			return err
		}},
		{"final data", func(s transport.AuthSession) error {
			if _, err := s.Next(nil); err != nil {
				return err
			}
			return s.Verify([]byte("unexpected"))
		}},
		{"complete before sending", func(s transport.AuthSession) error { return s.Verify(nil) }},
		{"verify twice", func(s transport.AuthSession) error {
			if _, err := s.Next(nil); err != nil {
				return err
			}
			if err := s.Verify(nil); err != nil {
				return err
			}
			return s.Verify(nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := a.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.run(s); !errors.Is(err, transport.ErrAuthProtocol) {
				t.Fatalf("got %v, want ErrAuthProtocol", err)
			}
		})
	}
}

func TestPlainRejectsBadCredentials(t *testing.T) {
	cases := []struct {
		name, user, pass, field string
	}{
		{"empty user", "", "pw", "user"},
		{"empty password", "alice", "", "password"},
		{"NUL in user", "al\x00ice", "pw", "user"},
		{"NUL in password", "alice", "p\x00w", "password"},
		{"invalid UTF-8 user", "al\xffice", "pw", "user"},
		{"invalid UTF-8 password", "alice", "p\xfe", "password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := transport.Plain(tc.user, tc.pass)
			_, err := a.Start(context.Background())
			var ce *transport.CredentialError
			if !errors.As(err, &ce) || ce.Field != tc.field || ce.Mechanism != "PLAIN" {
				t.Fatalf("Start = %v, want *CredentialError on %q", err, tc.field)
			}
			if !errors.Is(err, transport.ErrInvalidCredential) {
				t.Fatalf("%v does not unwrap to ErrInvalidCredential", err)
			}
			v, ok := a.(interface{ Validate() error })
			if !ok || v.Validate() == nil {
				t.Fatal("Validate does not report the bad credential")
			}
		})
	}
}

func TestPlainStartHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := transport.Plain("a", "b").Start(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start on cancelled ctx = %v", err)
	}
}

func TestPlainConcurrentSessions(t *testing.T) {
	a := transport.Plain("alice", "pw")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			s, err := a.Start(context.Background())
			if err != nil {
				errs <- err
				return
			}
			if _, err := s.Next(nil); err != nil {
				errs <- err
				return
			}
			errs <- s.Verify(nil)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
