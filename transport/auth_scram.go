package transport

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/rustmq/rustmq-go/transport/wire"
	"github.com/xdg-go/scram"
)

// ScramSHA256 returns an Authenticator for SCRAM-SHA-256 (RFC 5802, RFC
// 7677): the client sends client-first, answers the broker's server-first
// with its proof in client-final, and checks the broker's server signature
// in server-final. A broker that cannot prove it holds the user's stored
// credentials fails the exchange with [ErrServerSignature], even when it
// says the exchange is complete.
//
// The user name and password are normalised with SASLprep, as RFC 5802 asks.
// Credentials are checked when a session starts: an empty user or password,
// or one SASLprep rejects, yields a [*CredentialError]; the returned value's
// Validate method reports that earlier. The salted password is derived once
// per salt and iteration count the broker announces (at least 4096
// iterations are required) and cached, so reconnecting is cheap. The
// Authenticator is safe for concurrent use.
func ScramSHA256(user, password string) Authenticator {
	return newScram(MechanismScramSHA256, scram.SHA256, user, password)
}

// ScramSHA512 is [ScramSHA256] with SHA-512 as the hash (SCRAM-SHA-512).
func ScramSHA512(user, password string) Authenticator {
	return newScram(MechanismScramSHA512, scram.SHA512, user, password)
}

func newScram(mechanism string, h scram.HashGeneratorFcn, user, password string) Authenticator {
	a := &scramAuth{mechanism: mechanism}
	switch {
	case user == "":
		a.err = &CredentialError{Mechanism: mechanism, Field: "user", Reason: "must not be empty"}
	case password == "":
		a.err = &CredentialError{Mechanism: mechanism, Field: "password", Reason: "must not be empty"}
	default:
		c, err := h.NewClient(user, password, "")
		if err != nil {
			// Tell which of the two SASLprep refused without echoing either.
			field := "password"
			if _, uerr := h.NewClient(user, "p", ""); uerr != nil {
				field = "user"
			}
			a.err = &CredentialError{Mechanism: mechanism, Field: field, Reason: "rejected by SASLprep: " + err.Error()}
			break
		}
		a.client = c
	}
	return a
}

// MaxScramIterations bounds the PBKDF2 iteration count a broker may ask for
// in server-first. The key derivation runs on the dialing goroutine and
// cannot be interrupted, so without a bound a broker could stall a dial or a
// re-authentication far past DialTimeout. One million is above every
// published recommendation (RFC 7677 asks for at least 4096; OWASP suggests
// 600,000 for PBKDF2-HMAC-SHA256) and costs about a second.
const MaxScramIterations = 1_000_000

// scramIterations reads the i= attribute of a server-first message.
func scramIterations(serverFirst []byte) (int, bool) {
	for _, attr := range strings.Split(string(serverFirst), ",") {
		if v, ok := strings.CutPrefix(attr, "i="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

var _ Authenticator = (*scramAuth)(nil)

// scramAuth is immutable after newScram returns; scram.Client guards its own
// key cache.
type scramAuth struct {
	mechanism string
	client    *scram.Client
	err       error
}

func (a *scramAuth) Mechanism() string { return a.mechanism }

// Validate reports what Start would report about the credentials.
func (a *scramAuth) Validate() error { return a.err }

func (a *scramAuth) Start(ctx context.Context) (AuthSession, error) {
	if a.err != nil {
		return nil, a.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &scramSession{mechanism: a.mechanism, conv: a.client.NewConversation()}, nil
}

// scramSession is one SCRAM conversation; single-use, driven by one
// goroutine.
type scramSession struct {
	mechanism string
	conv      *scram.ClientConversation
	state     int // 0 fresh, 1 client-first sent, 2 client-final sent, 3 finished
}

var _ AuthSession = (*scramSession)(nil)

func (s *scramSession) Next(challenge []byte) ([]byte, error) {
	switch s.state {
	case 0:
		s.state = 1
		first, err := s.conv.Step("")
		if err != nil {
			s.state = 3
			return nil, fmt.Errorf("rustmq: %s client-first: %w", s.mechanism, err)
		}
		return []byte(first), nil
	case 1:
		s.state = 2
		if n, ok := scramIterations(challenge); ok && n > MaxScramIterations {
			s.state = 3
			return nil, fmt.Errorf("%w: %s broker asks for %d iterations, more than the %d this client computes", ErrAuthProtocol, s.mechanism, n, MaxScramIterations)
		}
		final, err := s.conv.Step(string(challenge))
		if err != nil {
			s.state = 3
			return nil, fmt.Errorf("%w: %s server-first rejected: %v", ErrAuthProtocol, s.mechanism, err)
		}
		return []byte(final), nil
	case 2:
		s.state = 3
		return nil, fmt.Errorf("%w: %s broker asked for a third round", ErrAuthProtocol, s.mechanism)
	default:
		return nil, fmt.Errorf("%w: %s session already finished", ErrAuthProtocol, s.mechanism)
	}
}

func (s *scramSession) Verify(final []byte) error {
	if s.state != 2 {
		s.state = 3
		return fmt.Errorf("%w: %s exchange finished before the client sent its proof", ErrAuthProtocol, s.mechanism)
	}
	s.state = 3
	msg := string(final)
	if strings.HasPrefix(msg, "e=") {
		// RFC 5802 lets a server report failure inside server-final.
		return fmt.Errorf("rustmq: %s broker reported %q: %w", s.mechanism, msg, wire.ErrSASLAuthenticationFailed)
	}
	if _, err := s.conv.Step(msg); err != nil {
		return fmt.Errorf("%w (%s: %v)", ErrServerSignature, s.mechanism, err)
	}
	if !s.conv.Valid() {
		return fmt.Errorf("%w (%s)", ErrServerSignature, s.mechanism)
	}
	return nil
}
