package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// maxAuthRounds bounds one Authenticate exchange. SCRAM, the chattiest
// mechanism, needs two rounds; a broker asking for many more is broken or
// hostile.
const maxAuthRounds = 8

// reauthFraction is the share of a session lifetime after which the
// connection authenticates again, leaving the rest as margin for a slow
// broker.
const reauthFraction = 0.8

// authenticate runs one Authenticate exchange (request type 32) with the
// configured Authenticator and records the principal. It returns the
// session lifetime the broker asked for (0 for none) or an *AuthError.
func (c *Conn) authenticate(ctx context.Context) (time.Duration, error) {
	mech := c.auth.Mechanism()
	fail := func(err error) (time.Duration, error) {
		return 0, &AuthError{Addr: c.addr, Mechanism: mech, Err: err}
	}
	sess, err := c.auth.Start(ctx)
	if err != nil {
		return fail(err)
	}
	payload, err := sess.Next(nil)
	if err != nil {
		return fail(err)
	}
	var buf []byte
	for round := 1; ; round++ {
		if round > maxAuthRounds {
			return fail(fmt.Errorf("%w: broker still incomplete after %d rounds", ErrAuthRounds, maxAuthRounds))
		}
		req := wire.AuthenticateRequest{Mechanism: mech, Payload: payload}
		buf = req.Append(buf[:0])
		// roundTrip, not Do: credentials are small, and the request must not
		// be refused by a MaxRequestBytes meant for produce batches.
		body, err := c.roundTrip(ctx, wire.TypeAuthenticate, buf)
		if err != nil {
			return fail(err)
		}
		var resp wire.AuthenticateResponse
		if err := resp.Unmarshal(body); err != nil {
			return fail(fmt.Errorf("%w: %w", ErrMalformedResponse, err))
		}
		if err := wire.ResponseErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
			return fail(err)
		}
		if resp.Complete {
			if err := sess.Verify(resp.Payload); err != nil {
				return fail(err)
			}
			principal := ""
			if resp.Principal != nil {
				principal = *resp.Principal
			}
			c.principal.Store(&principal)
			return lifetimeOf(resp.SessionLifetimeMs), nil
		}
		if payload, err = sess.Next(resp.Payload); err != nil {
			return fail(err)
		}
	}
}

// lifetimeOf converts session_lifetime_ms, saturating instead of overflowing.
func lifetimeOf(ms uint64) time.Duration {
	const maxMs = uint64(1<<63-1) / uint64(time.Millisecond)
	if ms > maxMs {
		ms = maxMs
	}
	return time.Duration(ms) * time.Millisecond
}

// scheduleReauth starts the goroutine that authenticates again at
// reauthFraction of each session lifetime, for as long as the broker keeps
// asking and the connection lives. A failure closes the connection with a
// *ConnError cause wrapping the *AuthError.
func (c *Conn) scheduleReauth(lifetime time.Duration) {
	if lifetime <= 0 {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for lifetime > 0 {
			t := time.NewTimer(time.Duration(float64(lifetime) * reauthFraction))
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(c.ctx, c.authTime)
			next, err := c.authenticate(ctx)
			cancel()
			if err != nil {
				if c.ctx.Err() != nil {
					return // closed meanwhile; the cause is already recorded
				}
				if ae, ok := errors.AsType[*AuthError](err); ok && errors.Is(ae.Err, context.DeadlineExceeded) {
					err = &AuthError{Addr: c.addr, Mechanism: ae.Mechanism,
						Err: fmt.Errorf("re-authentication did not finish within %v: %w", c.authTime, ae.Err)}
				}
				c.logger.Warn("rustmq transport: re-authentication failed; closing the connection", "error", err)
				c.closeWith(&ConnError{Addr: c.addr, Op: "reauthenticate", Err: err}, "re-authentication failed")
				return
			}
			c.logger.Debug("rustmq transport: re-authenticated", "principal", c.Principal(), "lifetime", next)
			lifetime = next
		}
	}()
}
