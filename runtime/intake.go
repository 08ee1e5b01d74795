package runtime

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rustmq/rustmq-go/actors"
)

// intake is a producer's front door: the accepted records waiting for the
// router, the buffer accounting, and the flush generations, all under one
// mutex so that accepting a message costs one lock. The router drains it
// in bulk (one actor message per wake-up, not per record); results release
// space in groups.
//
// A message holds its space from acceptance until its result is final: for
// SendAsync until its callback has returned, for Send and SendBatch until
// the result is known. Generations count the same span of life per Flush.
type intake struct {
	mu        sync.Mutex
	recs      []*actors.Record
	scheduled bool  // a wake-up is on its way to the router, or it is draining
	closed    error // set by Close (ErrClosed) or when the router is gone

	maxBytes, maxRecs int64
	bytes, count      int64
	waiters           int           // goroutines blocked for space
	blocked           atomic.Int32  // waiters, readable without mu
	space             chan struct{} // closed and replaced when space frees while waiters > 0

	gen  *flushGen
	gens map[uint16]*flushGen // the generations with messages pending, by id
	// resolvedWaiters counts Flush and Close calls from callbacks waiting
	// for results to become known; resolved is closed and replaced when
	// results are queued for callbacks while there are any.
	resolvedWaiters int
	resolved        chan struct{}

	accepted int64
}

// flushGen counts the messages accepted between two Flush calls whose
// result is not final yet (pending), and how many of those have a known
// result and wait for their callback (queued). A generation takes no
// messages once sealed; done is closed when a sealed generation has
// nothing pending.
type flushGen struct {
	id              uint16
	pending, queued int64
	sealed          bool
	complete        bool // done is closed
	done            chan struct{}
	prev            *flushGen // the generation before; nil once complete
}

func newIntake(maxBytes, maxRecs int64) *intake {
	g := &flushGen{done: make(chan struct{})}
	return &intake{
		maxBytes: maxBytes, maxRecs: maxRecs,
		space:    make(chan struct{}),
		resolved: make(chan struct{}),
		gen:      g,
		gens:     map[uint16]*flushGen{0: g},
	}
}

// fits reports whether n more records of b bytes fit (under mu).
func (in *intake) fits(b, n int64) bool {
	return in.bytes+b <= in.maxBytes && in.count+n <= in.maxRecs
}

// pushLocked takes e while holding mu, its space checked, and reports
// whether the router must be woken.
func (in *intake) pushLocked(e *envelope) bool {
	in.bytes += int64(e.rec.Size)
	in.count++
	in.accepted++
	e.rec.Tag = in.gen.id
	in.gen.pending++
	in.recs = append(in.recs, &e.rec)
	if in.scheduled {
		return false
	}
	in.scheduled = true
	return true
}

// drain implements actors.Source.Drain: it swaps the waiting records with
// dst's storage, and clears scheduled when there are none.
func (in *intake) drain(dst []*actors.Record) []*actors.Record {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.recs) == 0 {
		in.scheduled = false
		return dst
	}
	out := in.recs
	in.recs = dst[:0]
	return out
}

// releaseLocked gives back the space of n finished messages of b bytes.
func (in *intake) releaseLocked(b, n int64) {
	in.bytes -= b
	in.count -= n
}

// signalSpaceLocked wakes the senders waiting for space once a useful share
// of the buffer is free (an eighth of either limit, or all of it), not on
// every release: waking them all for one message's worth would have them
// take turns at the lock for nothing.
func (in *intake) signalSpaceLocked() {
	if in.waiters == 0 {
		return
	}
	if in.count == 0 || (in.maxBytes-in.bytes >= in.maxBytes/8 && in.maxRecs-in.count >= in.maxRecs/8) {
		close(in.space)
		in.space = make(chan struct{})
	}
}

// finishLocked marks k messages of g final (queued: they had waited for
// their callback).
func (in *intake) finishLocked(id uint16, k int64, queued bool) {
	g := in.gens[id]
	g.pending -= k
	if queued {
		g.queued -= k
	}
	in.completeLocked(g)
	in.signalResolvedLocked()
}

func (in *intake) signalResolvedLocked() {
	if in.resolvedWaiters > 0 {
		close(in.resolved)
		in.resolved = make(chan struct{})
	}
}

// queueLocked notes that k messages of g have a known result and wait for
// their callback.
func (in *intake) queueLocked(id uint16, k int64) {
	in.gens[id].queued += k
	in.signalResolvedLocked()
}

// waitLocked blocks until b bytes and one record fit, ctx ends, or the intake
// closes; it returns holding mu on success.
func (in *intake) waitLocked(ctx context.Context, b int64) error {
	for !in.fits(b, 1) {
		if in.closed != nil {
			return in.closed
		}
		in.waiters++
		in.blocked.Add(1)
		ch := in.space
		in.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = fmt.Errorf("rustmq: waiting for buffer space: %w", context.Cause(ctx))
		}
		in.mu.Lock()
		in.waiters--
		in.blocked.Add(-1)
		if err != nil {
			return err
		}
	}
	return in.closed
}

// fullError describes a full buffer (under mu).
func (in *intake) fullErrorLocked() error {
	return fmt.Errorf("%w: %d bytes in %d records buffered (limits %d bytes, %d records)", ErrBufferFull, in.bytes, in.count, in.maxBytes, in.maxRecs)
}

// closeWith refuses every later message with err and returns the records
// still waiting for the router, now the caller's to fail.
func (in *intake) closeWith(err error) []*actors.Record {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed == nil {
		in.closed = err
	}
	if in.waiters > 0 {
		close(in.space)
		in.space = make(chan struct{})
	}
	out := in.recs
	in.recs = nil
	return out
}

// stop refuses every later message with err, wakes the senders waiting
// for space (they get err), and seals the last generation, which it
// returns. The records waiting for the router stay for it to drain.
func (in *intake) stop(err error) *flushGen {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed == nil {
		in.closed = err
	}
	if in.waiters > 0 {
		close(in.space)
		in.space = make(chan struct{})
	}
	return in.sealLocked()
}

// sealLocked starts a new generation and returns the old one, sealed.
//
// Generations are named by a 16-bit id that envelopes carry; an id is
// free again once its generation is complete. Should every id be taken by
// a generation still pending (65,536 Flush calls while a message waits),
// it returns nil and starts nothing, and the caller waits for some
// generation to complete (waitAnyLocked) before trying again. Once the
// intake is closed no message can join the current generation, which is
// then sealed without a successor.
func (in *intake) sealLocked() *flushGen {
	old := in.gen
	id := old.id + 1
	for in.gens[id] != nil && id != old.id {
		id++
	}
	if id == old.id && in.closed == nil {
		return nil
	}
	old.sealed = true
	if id != old.id {
		in.gen = &flushGen{id: id, done: make(chan struct{}), prev: old}
		in.gens[id] = in.gen
	}
	in.completeLocked(old)
	return old
}

// anySealedLocked returns a sealed generation still pending, to wait for
// when every id is taken.
func (in *intake) anySealedLocked() *flushGen {
	for _, g := range in.gens {
		if g.sealed && !g.complete {
			return g
		}
	}
	return nil
}

// completeLocked closes g's done once it is sealed and has nothing
// pending, and frees its id unless it is still the current generation.
func (in *intake) completeLocked(g *flushGen) {
	if g.pending != 0 || !g.sealed {
		return
	}
	if !g.complete {
		g.complete = true
		close(g.done)
	}
	if g != in.gen {
		delete(in.gens, g.id)
	}
}

// waitGens waits until every generation up to g has no message pending,
// or ctx ends.
func (in *intake) waitGens(ctx context.Context, g *flushGen) error {
	for cur := g; cur != nil; {
		select {
		case <-cur.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		in.mu.Lock()
		next := cur.prev
		in.mu.Unlock()
		cur = next
	}
	in.mu.Lock()
	g.prev = nil // complete for good: later waits need not walk it
	in.mu.Unlock()
	return nil
}

// waitResolved waits until every message of the generations up to g has a
// known result (pending only in the callback queue), or ctx ends: what a
// callback can wait for without waiting for itself.
func (in *intake) waitResolved(ctx context.Context, g *flushGen) error {
	in.mu.Lock()
	in.resolvedWaiters++
	defer func() {
		in.resolvedWaiters--
		in.mu.Unlock()
	}()
	for {
		open := false
		for cur := g; cur != nil; cur = cur.prev {
			if cur.pending > cur.queued {
				open = true
				break
			}
		}
		if !open {
			return nil
		}
		ch := in.resolved
		in.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = context.Cause(ctx)
		}
		in.mu.Lock()
		if err != nil {
			return err
		}
	}
}
