package transport

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Plain returns an Authenticator for SASL PLAIN (RFC 4616): one round whose
// payload is an empty authorization identity, the user and the password,
// each preceded by a NUL byte. PLAIN sends the password itself, so use it
// only over TLS (which every connection of this package is).
//
// Credentials are checked when a session starts: an empty user or password,
// invalid UTF-8 or a NUL byte in either yields a [*CredentialError]. Call
// the returned value's Validate method (interface{ Validate() error }) to
// learn that earlier. The Authenticator is safe for concurrent use.
func Plain(user, password string) Authenticator {
	a := &plainAuth{}
	a.err = checkPlainField("user", user)
	if a.err == nil {
		a.err = checkPlainField("password", password)
	}
	if a.err == nil {
		payload := make([]byte, 0, 2+len(user)+len(password))
		payload = append(payload, 0)
		payload = append(payload, user...)
		payload = append(payload, 0)
		payload = append(payload, password...)
		a.payload = payload
	}
	return a
}

func checkPlainField(field, v string) error {
	switch {
	case v == "":
		return &CredentialError{Mechanism: MechanismPlain, Field: field, Reason: "must not be empty"}
	case !utf8.ValidString(v):
		return &CredentialError{Mechanism: MechanismPlain, Field: field, Reason: "must be valid UTF-8"}
	case strings.IndexByte(v, 0) >= 0:
		return &CredentialError{Mechanism: MechanismPlain, Field: field, Reason: "must not contain a NUL byte"}
	}
	return nil
}

var _ Authenticator = (*plainAuth)(nil)

// plainAuth is immutable after Plain returns.
type plainAuth struct {
	payload []byte // "\x00user\x00password"; never handed out, sessions copy it
	err     error  // what Plain found wrong with the credentials
}

func (a *plainAuth) Mechanism() string { return MechanismPlain }

// Validate reports what Start would report about the credentials.
func (a *plainAuth) Validate() error { return a.err }

func (a *plainAuth) Start(ctx context.Context) (AuthSession, error) {
	if a.err != nil {
		return nil, a.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &oneRoundSession{mechanism: MechanismPlain, payload: append([]byte(nil), a.payload...)}, nil
}

// oneRoundSession is the client side of a mechanism that sends one message
// and expects the broker to finish with no data: PLAIN and JWT. It is
// single-use and, like every AuthSession, driven by one goroutine.
type oneRoundSession struct {
	mechanism string
	payload   []byte
	state     int // 0 fresh, 1 payload sent, 2 finished
}

var _ AuthSession = (*oneRoundSession)(nil)

func (s *oneRoundSession) Next(challenge []byte) ([]byte, error) {
	switch s.state {
	case 0:
		s.state = 1
		p := s.payload
		s.payload = nil
		return p, nil
	case 1:
		s.state = 2
		return nil, fmt.Errorf("%w: %s has one round but the broker asked for another", ErrAuthProtocol, s.mechanism)
	default:
		return nil, fmt.Errorf("%w: %s session already finished", ErrAuthProtocol, s.mechanism)
	}
}

func (s *oneRoundSession) Verify(final []byte) error {
	if s.state != 1 {
		s.state = 2
		return fmt.Errorf("%w: %s exchange finished before the client sent its message", ErrAuthProtocol, s.mechanism)
	}
	s.state = 2
	if len(final) != 0 {
		return fmt.Errorf("%w: %s broker sent %d bytes of final data where none belongs", ErrAuthProtocol, s.mechanism, len(final))
	}
	return nil
}
