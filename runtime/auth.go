package runtime

import (
	"context"

	"github.com/rustmq/rustmq-go/transport"
)

// SASLPlain authenticates with user and password (SASL PLAIN, RFC 4616).
// Use it only over verified TLS: the password travels as is.
func SASLPlain(user, password string) transport.Authenticator {
	return transport.Plain(user, password)
}

// ScramSHA256 authenticates with SCRAM-SHA-256 (RFC 5802/7677); the password
// never travels and the broker proves it knows the credentials too.
func ScramSHA256(user, password string) transport.Authenticator {
	return transport.ScramSHA256(user, password)
}

// ScramSHA512 authenticates with SCRAM-SHA-512.
func ScramSHA512(user, password string) transport.Authenticator {
	return transport.ScramSHA512(user, password)
}

// JWT authenticates with a signed token obtained from token on every new
// connection (and re-authentication); the principal is the token's subject.
func JWT(token func(ctx context.Context) (string, error)) transport.Authenticator {
	return transport.JWT(token)
}
