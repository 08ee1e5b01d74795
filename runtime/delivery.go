package runtime

import (
	"sync"
	"sync/atomic"
)

// deliveryQueue runs a producer's SendAsync callbacks, serially and in the
// order their results became known, on one goroutine. Enqueueing never
// blocks (the queue grows), so the actors that complete messages are never
// held up by a slow callback.
type deliveryQueue struct {
	mu      sync.Mutex
	items   []*envelope
	spare   []*envelope
	closed  bool
	signal  chan struct{}
	done    chan struct{}
	gid     atomic.Int64
	onAfter func(e *envelope) // called after each callback ran
}

func newDeliveryQueue(onAfter func(*envelope)) *deliveryQueue {
	q := &deliveryQueue{signal: make(chan struct{}, 1), done: make(chan struct{}), onAfter: onAfter}
	go q.run()
	return q
}

func (q *deliveryQueue) push(envs []*envelope) {
	q.mu.Lock()
	q.items = append(q.items, envs...)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// close lets the goroutine exit once the queue is drained.
func (q *deliveryQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// onDeliveryGoroutine reports whether the caller is a callback.
func (q *deliveryQueue) onDeliveryGoroutine() bool {
	return q.gid.Load() == goroutineID()
}

func (q *deliveryQueue) run() {
	defer close(q.done)
	q.gid.Store(goroutineID())
	for {
		q.mu.Lock()
		batch := q.items
		q.items = q.spare[:0]
		closed := q.closed
		q.mu.Unlock()
		for i, e := range batch {
			e.cb(&e.res, e.res.Err)
			q.onAfter(e)
			batch[i] = nil
		}
		q.mu.Lock()
		q.spare = batch[:0]
		empty := len(q.items) == 0
		q.mu.Unlock()
		if closed && empty {
			return
		}
		if empty {
			<-q.signal
		}
	}
}
