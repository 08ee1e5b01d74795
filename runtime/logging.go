package runtime

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// demoteHandler passes records to h one level lower than they were logged
// (INFO as DEBUG, WARN as INFO, ERROR as WARN). The runtime hands it to
// protoactor, whose own lines (system started, dead letters, supervision
// of actors that crash on purpose when a connection is lost) are internals
// of the runtime: a user's INFO log should hold the runtime's lines, not
// the actor system's, which stay available at DEBUG. Once off is set (the
// runtime has shut down) it drops everything: protoactor's throttled
// dead-letter summary is logged from a timer that outlives the system, and
// an embedded library says nothing after Close has returned.
type demoteHandler struct {
	h   slog.Handler
	off *atomic.Bool
}

// demote returns the level one step (4) below l.
func demote(l slog.Level) slog.Level { return l - 4 }

func (d demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !d.off.Load() && d.h.Enabled(ctx, demote(l))
}

func (d demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if d.off.Load() {
		return nil
	}
	r.Level = demote(r.Level)
	return d.h.Handle(ctx, r)
}

func (d demoteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteHandler{d.h.WithAttrs(attrs), d.off}
}

func (d demoteHandler) WithGroup(name string) slog.Handler {
	return demoteHandler{d.h.WithGroup(name), d.off}
}
