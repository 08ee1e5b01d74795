package actors

import (
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// atomicCounter hands out increasing numbers; safe for concurrent use.
type atomicCounter struct{ n atomic.Uint64 }

func newAtomicCounter() *atomicCounter { return &atomicCounter{} }

func (c *atomicCounter) next() uint64 { return c.n.Add(1) }

// orDiscard returns l, or a logger that discards everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// retriable reports whether another attempt of a failed request may
// succeed: connection loss, timeouts, an actor that panicked on the
// request, the broker codes docs/protocol.md marks retriable, and the
// upstream texts classifyUpstream marks so.
func retriable(err error) bool {
	if u, ok := errors.AsType[*UpstreamRefusal](err); ok {
		return u.Retriable
	}
	return errors.Is(err, ErrNotConnected) || errors.Is(err, ErrRequestTimeout) || errors.Is(err, ErrActorFailed) ||
		transport.IsRetriable(err) || wire.IsRetriable(err)
}
