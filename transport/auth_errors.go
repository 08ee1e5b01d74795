package transport

import "errors"

// Mechanism names sent in AuthenticateRequest.mechanism by the authenticators
// of this package.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
	MechanismJWT         = "JWT"
)

// ErrInvalidCredential is what every [*CredentialError] unwraps to: the
// credentials given to an authenticator cannot be used, so nothing was sent.
var ErrInvalidCredential = errors.New("rustmq: invalid credential")

// ErrAuthProtocol reports a broker that broke the shape of an authentication
// exchange: it asked for another round where the mechanism has none, finished
// before the client had sent its proof, sent data where none belongs, or sent
// a message the mechanism cannot parse. It also reports an AuthSession used
// out of order or reused after it finished.
var ErrAuthProtocol = errors.New("rustmq: authentication exchange broken")

// ErrServerSignature reports a SCRAM broker that failed to prove it holds the
// user's credentials: its final message did not carry the expected server
// signature. The connection must not be trusted.
var ErrServerSignature = errors.New("rustmq: broker failed to prove it knows the credentials")

// CredentialError reports credentials an authenticator rejects before
// sending anything: an empty user name, a password a mechanism cannot carry,
// a missing or empty token. It unwraps to [ErrInvalidCredential].
type CredentialError struct {
	Mechanism string // e.g. "PLAIN"
	Field     string // "user", "password" or "token"
	Reason    string // what is wrong with it; never the secret itself
}

// Error implements the error interface.
func (e *CredentialError) Error() string {
	return "rustmq: " + e.Mechanism + " " + e.Field + ": " + e.Reason
}

// Unwrap returns [ErrInvalidCredential].
func (e *CredentialError) Unwrap() error { return ErrInvalidCredential }
