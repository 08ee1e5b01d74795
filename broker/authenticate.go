package broker

// Authenticate (request type 32, this project's extension) runs a SASL-style
// exchange through broker/internal/authsrv: PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512 (two rounds) and JWT, as enabled by Config.Auth. A request
// naming another mechanism than the unfinished exchange starts a new one.
// On success the principal is bound to the QUIC connection (replacing a
// client certificate's common name) and session_lifetime_ms carries
// Auth.SessionLifetime (for JWT, shortened to the token's expiry); after it the connection counts as unauthenticated
// until it authenticates again. A failed exchange leaves the connection
// unauthenticated.
//
// Error codes: 33 for a mechanism not enabled (the message lists the enabled
// ones), 58 for failed authentication (the message says why, without
// echoing secrets).
//
// Departures from upstream: upstream has no request type 32 and answers it
// 0xFF; so does this broker when Config.Auth is nil.

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// authServer is what the handler needs of authsrv.Server.
type authServer interface {
	Mechanisms() []string
	start(mechanism string) (authSession, error)
	lifetimeOf(sess authSession) time.Duration
}

// authSession is one server-side exchange (authsrv.Session).
type authSession interface {
	Step(payload []byte) (resp []byte, done bool, principal string, err error)
}

func encodeAuthenticate(r *wire.AuthenticateResponse) []byte {
	return r.Append(wire.AppendFrame(make([]byte, 0, 1+r.Size()), wire.TypeAuthenticate))
}

func authErr(code uint32, msg string) reply {
	return reply{frame: encodeAuthenticate(&wire.AuthenticateResponse{ErrorCode: code, ErrorMessage: &msg})}
}

func (n *node) handleAuthenticate(c *connection, body []byte) reply {
	b := n.b
	if b.auth == nil {
		return reply{frame: wire.AppendErrorFrame(nil, "unsupported request type 32: authentication is not enabled on this broker")}
	}
	var req wire.AuthenticateRequest
	if err := req.Unmarshal(body); err != nil {
		return decodeError("AuthenticateRequest", err)
	}
	if inj := b.faults.take(wire.TypeAuthenticate, nil, -1); inj != nil {
		return injectedReply(inj, wire.TypeAuthenticate)
	}

	c.mu.Lock()
	sess := c.authSess
	if sess == nil || c.authMech != req.Mechanism {
		c.authSess, c.authMech = nil, ""
		s, err := b.auth.start(req.Mechanism)
		if err != nil {
			c.mu.Unlock()
			code := wire.ErrUnsupportedSASLMechanism.Code
			if !errors.Is(err, wire.ErrUnsupportedSASLMechanism) {
				code = wire.ErrSASLAuthenticationFailed.Code
			}
			return authErr(code, fmt.Sprintf("mechanism %q: %v (enabled: %s)", req.Mechanism, err, strings.Join(b.auth.Mechanisms(), ", ")))
		}
		sess = s
	}
	c.authSess, c.authMech = nil, "" // held by this request until it finishes
	c.mu.Unlock()

	resp, done, principal, err := sess.Step(req.Payload)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if !c.viaCert {
			c.principal, c.authExpires = "", time.Time{}
		}
		b.log.Info("authentication failed", "node", n.id, "remote", c.c.RemoteAddr().String(), "mechanism", req.Mechanism, "err", err)
		code := wire.ErrSASLAuthenticationFailed.Code
		if errors.Is(err, wire.ErrUnsupportedSASLMechanism) {
			code = wire.ErrUnsupportedSASLMechanism.Code
		}
		return authErr(code, err.Error())
	}
	if !done {
		c.authSess, c.authMech = sess, req.Mechanism
		return reply{frame: encodeAuthenticate(&wire.AuthenticateResponse{Payload: resp})}
	}
	lifetime := b.auth.lifetimeOf(sess)
	c.principal, c.viaCert, c.authExpires = principal, false, time.Time{}
	if lifetime > 0 {
		c.authExpires = time.Now().Add(lifetime)
	}
	b.log.Info("authenticated", "node", n.id, "remote", c.c.RemoteAddr().String(), "mechanism", req.Mechanism, "principal", principal)
	return reply{frame: encodeAuthenticate(&wire.AuthenticateResponse{
		Payload: resp, Complete: true, Principal: &principal, SessionLifetimeMs: uint64(lifetime / time.Millisecond),
	})}
}
