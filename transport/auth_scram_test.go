package transport_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
	"github.com/xdg-go/scram"
)

type scramCase struct {
	mech string
	hash scram.HashGeneratorFcn
	new  func(user, password string) transport.Authenticator
}

var scramCases = []scramCase{
	{"SCRAM-SHA-256", scram.SHA256, transport.ScramSHA256},
	{"SCRAM-SHA-512", scram.SHA512, transport.ScramSHA512},
}

// newScramServer builds a real SCRAM server (xdg-go/scram) that knows one
// user with the given password.
func newScramServer(t *testing.T, h scram.HashGeneratorFcn, user, password string, iters int) *scram.Server {
	t.Helper()
	c, err := h.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := c.GetStoredCredentialsWithError(scram.KeyFactors{Salt: "0123456789abcdef", Iters: iters})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := h.NewServer(func(name string) (scram.StoredCredentials, error) {
		if name != user {
			return scram.StoredCredentials{}, fmt.Errorf("no user %q", name)
		}
		return creds, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// exchange drives a full client/server conversation the way the connection
// does. tamper may rewrite server-final before the client sees it. It
// returns the server's and the client's verdicts.
func exchange(t *testing.T, a transport.Authenticator, srv *scram.Server, tamper func(string) string) (conv *scram.ServerConversation, serverErr, clientErr error) {
	t.Helper()
	sess, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conv = srv.NewConversation()
	c1, err := sess.Next(nil)
	if err != nil {
		t.Fatalf("client-first: %v", err)
	}
	s1, err := conv.Step(string(c1))
	if err != nil {
		return conv, err, nil
	}
	c2, err := sess.Next([]byte(s1))
	if err != nil {
		t.Fatalf("client-final: %v", err)
	}
	s2, serr := conv.Step(string(c2))
	if tamper != nil {
		s2 = tamper(s2)
	}
	return conv, serr, sess.Verify([]byte(s2))
}

func TestScramRightPassword(t *testing.T) {
	for _, tc := range scramCases {
		t.Run(tc.mech, func(t *testing.T) {
			a := tc.new("alice", "pencil")
			if a.Mechanism() != tc.mech {
				t.Fatalf("Mechanism() = %q", a.Mechanism())
			}
			srv := newScramServer(t, tc.hash, "alice", "pencil", 4096)
			conv, serr, cerr := exchange(t, a, srv, nil)
			if serr != nil || cerr != nil {
				t.Fatalf("server %v, client %v", serr, cerr)
			}
			if !conv.Valid() || conv.Username() != "alice" || conv.AuthzID() != "" {
				t.Fatalf("server: valid %v user %q authz %q", conv.Valid(), conv.Username(), conv.AuthzID())
			}
			// A second session on the same Authenticator works too (cached keys).
			if _, serr, cerr := exchange(t, a, srv, nil); serr != nil || cerr != nil {
				t.Fatalf("second exchange: server %v, client %v", serr, cerr)
			}
		})
	}
}

func TestScramWrongPasswordRejectedByServer(t *testing.T) {
	for _, tc := range scramCases {
		t.Run(tc.mech, func(t *testing.T) {
			srv := newScramServer(t, tc.hash, "alice", "pencil", 4096)
			var final string
			conv, serr, cerr := exchange(t, tc.new("alice", "crayon"), srv, func(s string) string { final = s; return s })
			if serr == nil || conv.Valid() {
				t.Fatal("server accepted a wrong password")
			}
			// The server's "e=invalid-proof" handed to Verify is an auth failure.
			if final != scram.ErrInvalidProof {
				t.Fatalf("server-final %q", final)
			}
			if !errors.Is(cerr, wire.ErrSASLAuthenticationFailed) {
				t.Fatalf("client Verify(%q) = %v, want ErrSASLAuthenticationFailed", final, cerr)
			}
		})
	}
}

func TestScramUnknownUserRejectedByServer(t *testing.T) {
	for _, tc := range scramCases {
		t.Run(tc.mech, func(t *testing.T) {
			srv := newScramServer(t, tc.hash, "alice", "pencil", 4096)
			_, serr, _ := exchange(t, tc.new("mallory", "pencil"), srv, nil)
			if serr == nil {
				t.Fatal("server accepted an unknown user")
			}
		})
	}
}

func TestScramClientRejectsTamperedServerSignature(t *testing.T) {
	for _, tc := range scramCases {
		t.Run(tc.mech, func(t *testing.T) {
			srv := newScramServer(t, tc.hash, "alice", "pencil", 4096)
			flip := func(s string) string {
				sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "v="))
				if err != nil {
					t.Fatalf("server-final %q: %v", s, err)
				}
				sig[0] ^= 0x01
				return "v=" + base64.StdEncoding.EncodeToString(sig)
			}
			_, serr, cerr := exchange(t, tc.new("alice", "pencil"), srv, flip)
			if serr != nil {
				t.Fatalf("server: %v", serr)
			}
			if !errors.Is(cerr, transport.ErrServerSignature) {
				t.Fatalf("client Verify = %v, want ErrServerSignature", cerr)
			}
		})
	}
}

// An impostor that does not know the password (it holds keys for another
// one) and claims success regardless must be caught by the client, whatever
// it sends as server-final.
func TestScramClientRejectsImpostor(t *testing.T) {
	for _, tc := range scramCases {
		t.Run(tc.mech, func(t *testing.T) {
			impostor := newScramServer(t, tc.hash, "alice", "guessed", 4096)
			a := tc.new("alice", "pencil")
			for _, final := range []string{
				"", // what the impostor computes itself is filled in below
				"v=" + base64.StdEncoding.EncodeToString(make([]byte, 64)),
				"v=" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
				"garbage",
				"v=!!!",
				"v=",
			} {
				sess, err := a.Start(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				conv := impostor.NewConversation()
				c1, _ := sess.Next(nil)
				s1, err := conv.Step(string(c1))
				if err != nil {
					t.Fatal(err)
				}
				c2, err := sess.Next([]byte(s1))
				if err != nil {
					t.Fatal(err)
				}
				if final == "" {
					// A well-formed verifier made with the impostor's keys,
					// taken from an exchange it did accept.
					final = forgeVerifier(t, tc, impostor)
				}
				_, _ = conv.Step(string(c2)) // the impostor ignores its verdict
				if err := sess.Verify([]byte(final)); !errors.Is(err, transport.ErrServerSignature) {
					t.Fatalf("Verify(%q) = %v, want ErrServerSignature", final, err)
				}
			}
		})
	}
}

// forgeVerifier returns a well-formed server-final that the impostor's keys
// produce, for a different conversation.
func forgeVerifier(t *testing.T, tc scramCase, impostor *scram.Server) string {
	t.Helper()
	var final string
	_, serr, cerr := exchange(t, tc.new("alice", "guessed"), impostor, func(s string) string { final = s; return s })
	if serr != nil || cerr != nil || !strings.HasPrefix(final, "v=") {
		t.Fatalf("twin exchange: %v %v, final %q", serr, cerr, final)
	}
	return final
}

func TestScramProtocolViolations(t *testing.T) {
	for _, tc := range scramCases {
		t.Run(tc.mech, func(t *testing.T) {
			srv := newScramServer(t, tc.hash, "alice", "pencil", 4096)
			a := tc.new("alice", "pencil")

			// Broker claims completion right after client-first: no proof was
			// exchanged, so the client must not accept the connection.
			s, _ := a.Start(context.Background())
			c1, _ := s.Next(nil)
			s1, err := srv.NewConversation().Step(string(c1))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Verify([]byte(s1)); !errors.Is(err, transport.ErrAuthProtocol) {
				t.Fatalf("early complete: %v, want ErrAuthProtocol", err)
			}

			// Broker asks for a third round.
			s, _ = a.Start(context.Background())
			conv := srv.NewConversation()
			c1, _ = s.Next(nil)
			s1, _ = conv.Step(string(c1))
			c2, _ := s.Next([]byte(s1))
			s2, _ := conv.Step(string(c2))
			if _, err := s.Next([]byte(s2)); !errors.Is(err, transport.ErrAuthProtocol) {
				t.Fatalf("third round: %v, want ErrAuthProtocol", err)
			}
			if err := s.Verify([]byte(s2)); !errors.Is(err, transport.ErrAuthProtocol) {
				t.Fatalf("Verify after failure: %v, want ErrAuthProtocol", err)
			}

			// Garbage server-first.
			s, _ = a.Start(context.Background())
			_, _ = s.Next(nil)
			if _, err := s.Next([]byte("not a scram message")); !errors.Is(err, transport.ErrAuthProtocol) {
				t.Fatalf("garbage server-first: %v, want ErrAuthProtocol", err)
			}
		})
	}
}

// RFC 7677 asks for at least 4096 iterations; a broker offering fewer (to
// make offline guessing cheaper) is refused.
func TestScramRejectsLowIterationCount(t *testing.T) {
	for _, tc := range scramCases {
		t.Run(tc.mech, func(t *testing.T) {
			srv := newScramServer(t, tc.hash, "alice", "pencil", 1024)
			s, _ := tc.new("alice", "pencil").Start(context.Background())
			c1, _ := s.Next(nil)
			s1, err := srv.NewConversation().Step(string(c1))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Next([]byte(s1)); !errors.Is(err, transport.ErrAuthProtocol) {
				t.Fatalf("1024 iterations: %v, want ErrAuthProtocol", err)
			}
		})
	}
}

func TestScramRejectsBadCredentials(t *testing.T) {
	for _, tc := range scramCases {
		for _, bc := range []struct{ name, user, pass, field string }{
			{"empty user", "", "pw", "user"},
			{"empty password", "alice", "", "password"},
			{"prohibited user", "al\u0007ice", "pw", "user"},
			{"prohibited password", "alice", "p\u0007w", "password"},
		} {
			t.Run(tc.mech+"/"+bc.name, func(t *testing.T) {
				a := tc.new(bc.user, bc.pass)
				_, err := a.Start(context.Background())
				var ce *transport.CredentialError
				if !errors.As(err, &ce) || ce.Field != bc.field || ce.Mechanism != tc.mech {
					t.Fatalf("Start = %v, want *CredentialError on %s", err, bc.field)
				}
				if strings.Contains(err.Error(), bc.pass) && bc.pass != "" && bc.field == "password" {
					t.Fatalf("error %q echoes the password", err)
				}
				if a.(interface{ Validate() error }).Validate() == nil {
					t.Fatal("Validate does not report the bad credential")
				}
			})
		}
	}
}

// User names with ',' and '=' are escaped on the wire (RFC 5802 saslname).
func TestScramEscapedUserName(t *testing.T) {
	srv := newScramServer(t, scram.SHA256, "a,b=c", "pw", 4096)
	conv, serr, cerr := exchange(t, transport.ScramSHA256("a,b=c", "pw"), srv, nil)
	if serr != nil || cerr != nil || conv.Username() != "a,b=c" {
		t.Fatalf("server %v client %v user %q", serr, cerr, conv.Username())
	}
}

func TestScramConcurrentSessions(t *testing.T) {
	srv := newScramServer(t, scram.SHA512, "alice", "pencil", 4096)
	a := transport.ScramSHA512("alice", "pencil")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for range 8 {
		wg.Go(func() {
			sess, err := a.Start(context.Background())
			if err == nil {
				conv := srv.NewConversation()
				var c, s []byte
				var str string
				if c, err = sess.Next(nil); err == nil {
					if str, err = conv.Step(string(c)); err == nil {
						if c, err = sess.Next([]byte(str)); err == nil {
							if str, err = conv.Step(string(c)); err == nil {
								s = []byte(str)
								err = sess.Verify(s)
							}
						}
					}
				}
			}
			if err != nil {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatal(failures)
	}
}

// A broker asking for an absurd iteration count would stall the dial in an
// uninterruptible key derivation; the client refuses before deriving.
func TestScramRejectsHugeIterationCount(t *testing.T) {
	for _, tc := range scramCases {
		t.Run(tc.mech, func(t *testing.T) {
			s, _ := tc.new("alice", "pencil").Start(context.Background())
			c1, err := s.Next(nil)
			if err != nil {
				t.Fatal(err)
			}
			_, nonce, ok := strings.Cut(string(c1), ",r=")
			if !ok {
				t.Fatalf("client-first %q has no nonce", c1)
			}
			serverFirst := "r=" + nonce + "srv,s=c2FsdA==,i=2000000000"
			start := time.Now()
			if _, err := s.Next([]byte(serverFirst)); !errors.Is(err, transport.ErrAuthProtocol) {
				t.Fatalf("2e9 iterations: %v, want ErrAuthProtocol", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("refusal took %v: the key was derived first", d)
			}
		})
	}
}
