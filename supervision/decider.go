package supervision

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Decider chooses what to do about a child that panicked with reason:
// actor.ResumeDirective, RestartDirective, StopDirective or
// EscalateDirective. It runs on the supervisor's goroutine and must not
// block.
type Decider func(reason any) actor.Directive

// DefaultDecider restarts every failure except those a restart cannot
// cure, which it stops. The branches, in the order they are tried:
//
// Credentials and permissions: Stop. An error wrapping the protocol error
// wire.ErrSASLAuthenticationFailed (58), wire.ErrUnsupportedSASLMechanism
// (33) or wire.ErrTopicAuthorizationFailed (29) — the transport's AuthError
// unwraps to the first two — means the broker refused who we are or what we
// may do. A fresh actor presents the same credentials and is refused again;
// restarting would only hammer the broker's authentication path MaxRestarts
// times before giving up anyway. Stopping at once lets the parent see
// *actor.Terminated and report a configuration error. This branch comes
// first so that an error carrying both an auth code and a network error
// (errors.Join) is not retried.
//
// Connection loss and timeouts: Restart. A net.Error (the transport's
// ConnError and quic-go's errors implement it, as do syscall errors such as
// ECONNRESET), anything matching net.ErrClosed, io.EOF or
// io.ErrUnexpectedEOF (the peer went away mid-stream), and
// context.DeadlineExceeded (a dial or request timed out) describe the link,
// not the actor. A connection actor crashes on purpose when its connection
// dies, and the restart after backoff is the reconnect.
//
// Other protocol errors: Restart. A *wire.Error that is retriable (not
// leader, request timed out, ...) is transient by definition. One that is not
// retriable and not about credentials (message too large, corrupt message,
// invalid record, out-of-order sequence, unknown codes) describes one request,
// not the actor: protoactor does not redeliver the message that made an
// actor panic, so a restart drops the offending request and resumes with
// clean state, while stopping would end a partition's or a broker's pipeline
// for every later message.
//
// Runtime errors and non-error panic values: Restart. A runtime.Error (nil
// dereference, index out of range, panic(nil)) or a panic with a string or
// other value is a bug or a broken invariant in the actor. Escalating would
// widen the blast radius to the parent and every sibling without a better
// chance of recovery; restarting the one actor gives it fresh state and
// drops the message that triggered the bug. If the bug fires on every
// message, the restart budget runs out within Window and Config.GiveUp
// escalates or stops: the budget is the escalation path, not the first
// answer.
//
// Everything else (other errors, including context.Canceled): Restart, the
// generic cure for an actor in an unknown state, bounded by the budget.
//
// DefaultDecider never answers Resume (resuming keeps state that was being
// changed when the panic struck) and never Escalate directly.
func DefaultDecider(reason any) actor.Directive {
	err, isErr := reason.(error)
	if !isErr {
		// Non-error panic values: see "Runtime errors and non-error panic values".
		return actor.RestartDirective
	}
	if isCredentialError(err) {
		return actor.StopDirective
	}
	if isConnectionLoss(err) {
		return actor.RestartDirective
	}
	var rte runtime.Error
	if errors.As(err, &rte) {
		return actor.RestartDirective
	}
	// Other protocol errors and everything else.
	return actor.RestartDirective
}

// isCredentialError reports whether err carries one of the protocol codes
// that no restart can fix.
func isCredentialError(err error) bool {
	if errors.Is(err, wire.ErrSASLAuthenticationFailed) ||
		errors.Is(err, wire.ErrUnsupportedSASLMechanism) ||
		errors.Is(err, wire.ErrTopicAuthorizationFailed) {
		return true
	}
	// A *wire.Error built apart from the table (same code, other pointer).
	var we *wire.Error
	if errors.As(err, &we) && we != nil {
		switch we.Code {
		case wire.ErrSASLAuthenticationFailed.Code,
			wire.ErrUnsupportedSASLMechanism.Code,
			wire.ErrTopicAuthorizationFailed.Code:
			return true
		}
	}
	return false
}

// isConnectionLoss reports whether err looks like a lost or timed-out link.
func isConnectionLoss(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded)
}
