package authsrv

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Mechanism names, as sent in AuthenticateRequest.mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
	MechanismJWT         = "JWT"
)

// ScramIterations is the PBKDF2 iteration count of the SCRAM credentials a
// Server derives at New: the minimum RFC 7677 asks for, and the minimum the
// transport package's clients accept.
const ScramIterations = 4096

// MaxPayload bounds one step's payload. Longer payloads fail the exchange
// before any parsing. JWTs carrying many claims are the largest legitimate
// payloads and stay well below it.
const MaxPayload = 64 << 10

// Config says whom a Server accepts.
type Config struct {
	// Users maps user names to passwords for PLAIN and SCRAM-SHA-256/512.
	// Default nil: those three mechanisms are disabled. Names and passwords
	// must be non-empty valid UTF-8 without NUL bytes, and acceptable to
	// SASLprep (RFC 4013), since SCRAM credentials are derived from them.
	Users map[string]string
	// JWTKey verifies JWT signatures: a []byte HMAC secret of at least 32
	// bytes (HS256/HS384/HS512), an *rsa.PublicKey of at least 2048 bits
	// (RS256/384/512, PS256/384/512), an *ecdsa.PublicKey on P-256, P-384 or
	// P-521 (ES256, ES384, ES512 respectively) or an ed25519.PublicKey
	// (EdDSA). Only the algorithms of the key's type are accepted, so a token
	// cannot choose how it is checked. Default nil: JWT is disabled.
	JWTKey any
	// JWTIssuer, when set, must equal a token's "iss" claim. Default "": not
	// checked.
	JWTIssuer string
	// JWTAudience, when set, must be among a token's "aud" values. Default
	// "": not checked.
	JWTAudience string
	// SessionLifetime is how long an authenticated connection may live
	// before it must authenticate again (AuthenticateResponse
	// session_lifetime_ms). Default 0: no limit. Negative is invalid.
	SessionLifetime time.Duration
}

// Server checks credentials for the mechanisms its Config enables. It is
// safe for concurrent use.
type Server struct {
	mechanisms []string
	lifetime   time.Duration
	plain      map[string][sha256.Size]byte // user -> SHA-256 of the password
	scram256   *scramMech
	scram512   *scramMech
	jwt        *jwtVerifier
}

// New validates cfg and derives what the mechanisms need: the SCRAM stored
// credentials of every user (random salt, [ScramIterations] iterations) and
// the accepted JWT algorithms. It fails naming the field and the offending
// value (never a password) when cfg enables nothing or holds something
// unusable.
func New(cfg Config) (*Server, error) {
	if cfg.SessionLifetime < 0 {
		return nil, fmt.Errorf("authsrv: Config.SessionLifetime %v is negative", cfg.SessionLifetime)
	}
	if len(cfg.Users) == 0 && cfg.JWTKey == nil {
		return nil, errors.New("authsrv: Config enables no mechanism: set Users, JWTKey or both")
	}
	s := &Server{lifetime: cfg.SessionLifetime}
	if len(cfg.Users) > 0 {
		s.plain = make(map[string][sha256.Size]byte, len(cfg.Users))
		for user, pass := range cfg.Users {
			if err := checkUserField("user name", user); err != nil {
				return nil, fmt.Errorf("authsrv: Config.Users key %q: %w", user, err)
			}
			if err := checkUserField("password", pass); err != nil {
				return nil, fmt.Errorf("authsrv: Config.Users[%q]: %w", user, err)
			}
			s.plain[user] = sha256.Sum256([]byte(pass))
		}
		var err error
		if s.scram256, err = newScramMech(MechanismScramSHA256, sha256Gen, cfg.Users); err != nil {
			return nil, err
		}
		if s.scram512, err = newScramMech(MechanismScramSHA512, sha512Gen, cfg.Users); err != nil {
			return nil, err
		}
		s.mechanisms = append(s.mechanisms, MechanismPlain, MechanismScramSHA256, MechanismScramSHA512)
	}
	if cfg.JWTKey != nil {
		v, err := newJWTVerifier(cfg.JWTKey, cfg.JWTIssuer, cfg.JWTAudience)
		if err != nil {
			return nil, err
		}
		s.jwt = v
		s.mechanisms = append(s.mechanisms, MechanismJWT)
	}
	return s, nil
}

func checkUserField(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("empty %s", what)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%s contains a NUL byte", what)
	}
	return nil
}

// Mechanisms lists the enabled mechanism names: PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512 when Config.Users is set, then JWT when Config.JWTKey is.
// The caller may keep the returned slice.
func (s *Server) Mechanisms() []string { return append([]string(nil), s.mechanisms...) }

// SessionLifetime returns Config.SessionLifetime: 0 means no limit.
func (s *Server) SessionLifetime() time.Duration { return s.lifetime }

// LifetimeOf returns how long the connection that completed sess may stay
// authenticated: Config.SessionLifetime, shortened for a JWT session to the
// time left before the token expires (at least one millisecond, so the
// answer never reads as "no limit"). Sessions of other Servers, and sessions
// not completed successfully, get SessionLifetime.
func (s *Server) LifetimeOf(sess Session) time.Duration {
	js, ok := sess.(*jwtSession)
	if !ok || js.server != s || js.expires.IsZero() {
		return s.lifetime
	}
	left := time.Until(js.expires)
	if left < time.Millisecond {
		left = time.Millisecond
	}
	if s.lifetime > 0 && s.lifetime < left {
		return s.lifetime
	}
	return left
}

// Session is the broker's side of one authentication exchange. Step takes
// the payload of each AuthenticateRequest in turn and returns the payload to
// answer with; done reports the exchange complete, and then principal names
// who authenticated. A failure returns an [*Error] unwrapping to
// wire.ErrSASLAuthenticationFailed and ends the session; so does any step
// after the session is done. A Session is single-use and must be stepped by
// one goroutine at a time.
type Session interface {
	Step(payload []byte) (resp []byte, done bool, principal string, err error)
}

// Start begins an exchange for mechanism. A mechanism this Server does not
// enable (names are case-sensitive, as in SASL) yields an [*Error]
// unwrapping to wire.ErrUnsupportedSASLMechanism.
func (s *Server) Start(mechanism string) (Session, error) {
	switch {
	case mechanism == MechanismPlain && s.plain != nil:
		return &plainSession{server: s}, nil
	case mechanism == MechanismScramSHA256 && s.scram256 != nil:
		return s.scram256.start(), nil
	case mechanism == MechanismScramSHA512 && s.scram512 != nil:
		return s.scram512.start(), nil
	case mechanism == MechanismJWT && s.jwt != nil:
		return &jwtSession{server: s}, nil
	}
	enabled := append([]string(nil), s.mechanisms...)
	sort.Strings(enabled)
	return nil, &Error{
		Mechanism: clip(mechanism),
		Reason:    "mechanism not enabled; this broker offers " + strings.Join(enabled, ", "),
		Err:       wire.ErrUnsupportedSASLMechanism,
	}
}

// clip keeps an untrusted name short and printable for error messages.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(fmt.Sprintf("%q", s), "?")
}

// Error is an authentication failure. Its message (Mechanism and Reason) is
// meant for the client and never says whether a user exists; Cause, when
// set, carries detail for the broker's own logs (a JWT library error, for
// instance) and is left out of the message.
type Error struct {
	Mechanism string
	Reason    string
	Err       *wire.Error // wire.ErrSASLAuthenticationFailed or wire.ErrUnsupportedSASLMechanism
	Cause     error
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Mechanism + ": " + e.Reason }

// Unwrap returns the wire error (so errors.Is(err,
// wire.ErrSASLAuthenticationFailed) holds) and Cause when set.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Reasons shared by the mechanisms. "authentication failed" deliberately
// covers both an unknown user and a wrong password.
const (
	reasonFailed   = "authentication failed"
	reasonFinished = "exchange already finished"
	reasonTooLarge = "payload larger than 64 KiB"
)

func fail(mechanism, reason string, cause error) *Error {
	return &Error{Mechanism: mechanism, Reason: reason, Err: wire.ErrSASLAuthenticationFailed, Cause: cause}
}
