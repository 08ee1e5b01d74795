package broker

// Reorder buffer of idempotent Produce requests (a departure upstream does
// not need, since upstream has no idempotence extension; docs/protocol.md says only
// that a batch that skips ahead is answered 45).
//
// A client pipelines several batches of one partition, each on its own QUIC
// stream, and QUIC does not order streams against each other: batch N+1 may
// reach the broker before batch N although the client sent N first. Over
// TCP the connection would have ordered them. So a batch whose sequence is
// ahead of the next expected one of its (producer id, topic, partition) -
// or, for a producer id the partition has not seen, any sequence above 0 -
// waits here, holding neither the partition's lock nor anything of other
// partitions or producers, until an append moves the producer's next
// sequence up to or past it. It then takes the partition's lock again and is
// checked afresh: appended, a duplicate, or 45 (it began inside the batch
// that filled the gap). If the gap is still open when
// Config.IdempotenceReorderWindow or the request's timeout_ms passes,
// whichever comes first, the batch is answered 45 as without the buffer. At
// most maxReorderWaiting batches wait per (producer id, partition); more are
// answered 45 at once, so memory stays bounded. Closing the broker or the
// connection ends every wait (the request is dropped unanswered).

import (
	"slices"
	"sync"
)

// maxReorderWaiting bounds the batches waiting per (producer id, partition).
const maxReorderWaiting = 16

// reorderWaiter is one batch waiting for its predecessors. ready is closed
// when the producer's next sequence reaches seq.
type reorderWaiter struct {
	pid, seq uint64
	ready    chan struct{}
}

// reorder is one partition's waiting batches, by producer id. add and
// advance are called with the partition's lock held, so a wake-up cannot
// slip between a batch's check and its registration; remove is called
// without it. mu orders after partition.lock.
type reorder struct {
	mu      sync.Mutex
	waiting map[uint64][]*reorderWaiter
	total   int
	// changed is closed and replaced whenever a batch starts or stops
	// waiting, so tests can wait for a state without polling.
	changed chan struct{}
}

func newReorder() *reorder {
	return &reorder{waiting: map[uint64][]*reorderWaiter{}, changed: make(chan struct{})}
}

// add registers a batch of pid starting at seq, or returns nil when pid
// already has maxReorderWaiting batches waiting. Partition lock held.
func (r *reorder) add(pid, seq uint64) *reorderWaiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	ws := r.waiting[pid]
	if len(ws) >= maxReorderWaiting {
		return nil
	}
	w := &reorderWaiter{pid: pid, seq: seq, ready: make(chan struct{})}
	r.waiting[pid] = append(ws, w)
	r.total++
	r.signalLocked()
	return w
}

// advance wakes pid's batches starting at or below next, the producer's new
// next sequence, and forgets them. Partition lock held.
func (r *reorder) advance(pid, next uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ws, ok := r.waiting[pid]
	if !ok {
		return
	}
	keep := ws[:0]
	for _, w := range ws {
		if w.seq <= next {
			close(w.ready)
			r.total--
			continue
		}
		keep = append(keep, w)
	}
	if len(keep) == len(ws) {
		return
	}
	clear(ws[len(keep):])
	if len(keep) == 0 {
		delete(r.waiting, pid)
	} else {
		r.waiting[pid] = keep
	}
	r.signalLocked()
}

// remove forgets w after its wait ended without a wake-up. It reports
// false when advance has already woken (and forgotten) it, in which case
// the caller should check its batch again rather than give up.
func (r *reorder) remove(w *reorderWaiter) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ws := r.waiting[w.pid]
	for i, x := range ws {
		if x != w {
			continue
		}
		ws = slices.Delete(ws, i, i+1)
		if len(ws) == 0 {
			delete(r.waiting, w.pid)
		} else {
			r.waiting[w.pid] = ws
		}
		r.total--
		r.signalLocked()
		return true
	}
	return false
}

// count returns how many batches wait, and a channel closed at the next
// change of that number.
func (r *reorder) count() (int, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.changed
}

func (r *reorder) signalLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}
