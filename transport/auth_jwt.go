package transport

import (
	"context"
	"fmt"
)

// JWT returns an Authenticator whose single round sends a signed JSON Web
// Token (compact serialisation) as the payload; the broker verifies it and
// takes its "sub" claim as the principal.
//
// token is called once per session, that is once per connection
// (re)authentication, with the context that bounds the handshake, so a
// function that refreshes or rotates tokens is honoured on every reconnect.
// An error from token is returned wrapped; a nil token function or an empty
// token yields a [*CredentialError]. token must be safe for concurrent use;
// the Authenticator itself is.
func JWT(token func(ctx context.Context) (string, error)) Authenticator {
	return &jwtAuth{token: token}
}

var _ Authenticator = (*jwtAuth)(nil)

type jwtAuth struct {
	token func(ctx context.Context) (string, error)
}

func (a *jwtAuth) Mechanism() string { return MechanismJWT }

// Validate reports a missing token function; tokens themselves are only
// checked when a session starts.
func (a *jwtAuth) Validate() error {
	if a.token == nil {
		return &CredentialError{Mechanism: MechanismJWT, Field: "token", Reason: "no token function"}
	}
	return nil
}

func (a *jwtAuth) Start(ctx context.Context) (AuthSession, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tok, err := a.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("rustmq: JWT token function: %w", err)
	}
	if tok == "" {
		return nil, &CredentialError{Mechanism: MechanismJWT, Field: "token", Reason: "token function returned an empty token"}
	}
	return &oneRoundSession{mechanism: MechanismJWT, payload: []byte(tok)}, nil
}
