package transport

import "context"

// Authenticator runs one SASL-style mechanism of the Authenticate extension
// (request type 32, docs/protocol.md) on a fresh connection, before any other
// request. Implementations must be safe for concurrent use: one
// Authenticator serves every connection of a runtime, each through its own
// AuthSession.
type Authenticator interface {
	// Mechanism is the name sent in AuthenticateRequest.mechanism, e.g.
	// "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" or "JWT".
	Mechanism() string
	// Start begins one exchange. ctx bounds any work done to obtain
	// credentials (fetching a token, for instance).
	Start(ctx context.Context) (AuthSession, error)
}

// AuthSession is the client side of one authentication exchange. The
// connection calls Next with nil first and sends what it returns; while the
// broker answers complete=false it calls Next again with the broker's
// payload; when the broker answers complete=true it calls Verify with that
// final payload (SCRAM checks the server signature there).
type AuthSession interface {
	Next(challenge []byte) (response []byte, err error)
	Verify(final []byte) error
}
