// Package authsrv holds the broker's side of the Authenticate extension
// (request type 32): SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and JWT
// verification, each as a Session stepped once per AuthenticateRequest.
// Of this module it imports transport/wire only; beyond the standard library
// it uses github.com/xdg-go/scram and github.com/golang-jwt/jwt/v5.
//
// A Server is built once from a Config (users and passwords, a JWT
// verification key) and is safe for concurrent use; each connection's
// exchange gets its own single-use Session from Server.Start. A failed
// exchange returns an [*Error] that unwraps to wire.ErrSASLAuthenticationFailed
// (code 58), an unknown mechanism one that unwraps to
// wire.ErrUnsupportedSASLMechanism (code 33), so the broker can answer with
// the right error_code. Error messages are safe to send to the client: they
// never say whether a user exists.
package authsrv
