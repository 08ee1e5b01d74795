package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// The real mechanisms belong to auth_*.go; these tests drive the handshake
// loop with a scripted two-round mechanism "TEST":
//
//	client: "client-first"              broker: "server-first", incomplete
//	client: "client-final:server-first" broker: "server-final", complete
//
// and the client's Verify insists on "server-final".

const testMech = "TEST"

var errBadFinal = errors.New("test mechanism: unexpected final message")

type scriptAuth struct {
	startErr error
	starts   atomic.Int32
}

func (a *scriptAuth) Mechanism() string { return testMech }

func (a *scriptAuth) Start(ctx context.Context) (AuthSession, error) {
	a.starts.Add(1)
	if a.startErr != nil {
		return nil, a.startErr
	}
	return &scriptSession{}, nil
}

type scriptSession struct{ step int }

func (s *scriptSession) Next(challenge []byte) ([]byte, error) {
	s.step++
	switch {
	case s.step == 1 && challenge == nil:
		return []byte("client-first"), nil
	case s.step >= 2:
		return append([]byte("client-final:"), challenge...), nil
	}
	return nil, fmt.Errorf("test mechanism: unexpected challenge %q at step %d", challenge, s.step)
}

func (s *scriptSession) Verify(final []byte) error {
	if string(final) != "server-final" {
		return fmt.Errorf("%w: %q", errBadFinal, final)
	}
	return nil
}

// authBroker scripts the broker side: it answers Authenticate per the
// script above and refuses other requests on connections that have not
// authenticated. Its knobs may be changed between dials.
type authBroker struct {
	mu        sync.Mutex
	lifetime  time.Duration // session_lifetime_ms to announce
	failFrom  int           // exchanges numbered >= failFrom (if > 0) get code 58
	final     string        // final payload; default "server-final"
	endless   bool          // never complete
	completed int           // exchanges completed
	principal map[*quic.Conn]string
	done      chan time.Time // receives the time of each completed exchange
}

func newAuthBroker() *authBroker {
	return &authBroker{principal: map[*quic.Conn]string{}, done: make(chan time.Time, 64)}
}

func (b *authBroker) handle(r *request) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.Type != wire.TypeAuthenticate {
		p, ok := b.principal[r.Conn]
		if !ok {
			return wire.AppendErrorFrame(nil, "not authenticated")
		}
		return append([]byte{r.Type}, p...)
	}
	var req wire.AuthenticateRequest
	if err := req.Unmarshal(r.Body); err != nil {
		return wire.AppendErrorFrame(nil, err.Error())
	}
	resp := wire.AuthenticateResponse{Payload: []byte{}}
	msg := func(s string) *string { return &s }
	switch {
	case req.Mechanism != testMech:
		resp.ErrorCode, resp.ErrorMessage = wire.ErrUnsupportedSASLMechanism.Code, msg("only TEST")
	case string(req.Payload) == "client-first" || b.endless:
		resp.Payload = []byte("server-first")
	case string(req.Payload) == "client-final:server-first":
		n := b.completed + 1
		if b.failFrom > 0 && n >= b.failFrom {
			resp.ErrorCode, resp.ErrorMessage = wire.ErrSASLAuthenticationFailed.Code, msg("credentials revoked")
			break
		}
		b.completed = n
		resp.Complete = true
		resp.Payload = []byte("server-final")
		if b.final != "" {
			resp.Payload = []byte(b.final)
		}
		resp.Principal = msg(fmt.Sprintf("carol#%d", n))
		resp.SessionLifetimeMs = uint64(b.lifetime / time.Millisecond)
		b.principal[r.Conn] = *resp.Principal
		b.done <- time.Now()
	default:
		resp.ErrorCode, resp.ErrorMessage = wire.ErrSASLAuthenticationFailed.Code, msg("bad proof")
	}
	return resp.Append([]byte{wire.TypeAuthenticate})
}

func TestAuthenticateTwoRounds(t *testing.T) {
	ab := newAuthBroker()
	s := startServer(t, serverOpts{handler: ab.handle})
	auth := &scriptAuth{}
	c := dial(t, testDialer(t, s, Config{Auth: auth}), s)
	if c.Principal() != "carol#1" {
		t.Fatalf("principal %q, want carol#1", c.Principal())
	}
	got, err := c.Do(testCtx(t), wire.TypeMetadata, nil)
	if err != nil || string(got) != "carol#1" {
		t.Fatalf("request after authentication: %q, %v", got, err)
	}
	if n := s.Streams(); n != 3 {
		t.Fatalf("%d streams, want 2 authentication rounds and 1 request", n)
	}
}

func TestAuthenticateFailures(t *testing.T) {
	startErr := errors.New("token source down")
	for _, tc := range []struct {
		name      string
		broker    func(*authBroker)
		auth      *scriptAuth
		is        error
		streams   int
		retriable bool
	}{
		{"refused", func(b *authBroker) { b.failFrom = 1 }, &scriptAuth{}, wire.ErrSASLAuthenticationFailed, 2, false},
		{"server proof wrong", func(b *authBroker) { b.final = "forged" }, &scriptAuth{}, errBadFinal, 2, false},
		{"endless rounds", func(b *authBroker) { b.endless = true }, &scriptAuth{}, ErrAuthRounds, maxAuthRounds, false},
		{"start fails", func(*authBroker) {}, &scriptAuth{startErr: startErr}, startErr, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ab := newAuthBroker()
			tc.broker(ab)
			s := startServer(t, serverOpts{handler: ab.handle})
			_, err := testDialer(t, s, Config{Auth: tc.auth}).Dial(testCtx(t), s.Addr())
			ae := errAs[*AuthError](t, err)
			if !errors.Is(err, tc.is) || ae.Mechanism != testMech || ae.Addr != s.Addr() {
				t.Fatalf("got %v, want an AuthError matching %v", err, tc.is)
			}
			if IsRetriable(err) != tc.retriable {
				t.Fatalf("IsRetriable(%v) = %v", err, !tc.retriable)
			}
			if n := s.Streams(); n != tc.streams {
				t.Fatalf("%d streams, want %d", n, tc.streams)
			}
		})
	}
}

func TestAuthenticateUnsupportedMechanism(t *testing.T) {
	ab := newAuthBroker()
	s := startServer(t, serverOpts{handler: ab.handle})
	_, err := testDialer(t, s, Config{Auth: otherMech{}}).Dial(testCtx(t), s.Addr())
	var re *wire.ResponseError
	if !errors.As(err, &re) || !errors.Is(err, wire.ErrUnsupportedSASLMechanism) || re.Message != "only TEST" {
		t.Fatalf("got %v, want UNSUPPORTED_SASL_MECHANISM with the broker's message", err)
	}
}

type otherMech struct{}

func (otherMech) Mechanism() string                          { return "OTHER" }
func (otherMech) Start(context.Context) (AuthSession, error) { return &scriptSession{}, nil }

func TestReauthenticateBeforeSessionEnds(t *testing.T) {
	const lifetime = 100 * time.Millisecond
	ab := newAuthBroker()
	ab.lifetime = lifetime
	s := startServer(t, serverOpts{handler: ab.handle})
	auth := &scriptAuth{}
	c := dial(t, testDialer(t, s, Config{Auth: auth}), s)
	var times []time.Time
	for len(times) < 4 {
		select {
		case at := <-ab.done:
			times = append(times, at)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d authentications happened", len(times))
		}
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < lifetime*8/10 {
			t.Fatalf("re-authenticated after %v, earlier than 80%% of %v", gap, lifetime)
		}
	}
	// The client finished exchange 3 before starting exchange 4.
	if p := c.Principal(); p != "carol#3" && p != "carol#4" {
		t.Fatalf("principal %q, want the re-authenticated one", p)
	}
	if got, err := c.Do(testCtx(t), wire.TypeMetadata, nil); err != nil || len(got) == 0 {
		t.Fatalf("request between re-authentications: %q, %v", got, err)
	}
	if c.Context().Err() != nil {
		t.Fatal("connection ended while re-authenticating successfully")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReauthenticationFailureClosesConnection(t *testing.T) {
	ab := newAuthBroker()
	ab.lifetime = 50 * time.Millisecond
	ab.failFrom = 2
	s := startServer(t, serverOpts{handler: ab.handle})
	c := dial(t, testDialer(t, s, Config{Auth: &scriptAuth{}}), s)
	waitDone(t, c.Context().Done(), "the connection to close after a failed re-authentication")
	cause := errAs[*ConnError](t, context.Cause(c.Context()))
	if cause.Op != "reauthenticate" || !errors.Is(cause, wire.ErrSASLAuthenticationFailed) {
		t.Fatalf("cause %v", cause)
	}
	errAs[*AuthError](t, cause)
	_, err := c.Do(testCtx(t), wire.TypeMetadata, nil)
	if !errors.Is(err, net.ErrClosed) || !errors.Is(err, wire.ErrSASLAuthenticationFailed) || IsRetriable(err) {
		t.Fatalf("Do after failed re-authentication: %v", err)
	}
}
