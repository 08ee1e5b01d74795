package runtime

import (
	"bytes"
	"context"
	"fmt"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// limiter bounds the bytes and records a producer holds. Space is reserved
// in the caller's goroutine before a message is handed to the actors and
// released when its result is known.
type limiter struct {
	maxBytes, maxRecs int64
	bytes, recs       atomic.Int64
	waiters           atomic.Int32
	mu                sync.Mutex
	wake              chan struct{} // closed and replaced on release while waiters > 0
	closed            chan struct{}
}

func newLimiter(maxBytes, maxRecs int64) *limiter {
	return &limiter{maxBytes: maxBytes, maxRecs: maxRecs, wake: make(chan struct{}), closed: make(chan struct{})}
}

func (l *limiter) tryAcquire(b int64) bool {
	if l.bytes.Add(b) > l.maxBytes {
		l.bytes.Add(-b)
		return false
	}
	if l.recs.Add(1) > l.maxRecs {
		l.recs.Add(-1)
		l.bytes.Add(-b)
		return false
	}
	return true
}

// acquire reserves b bytes and one record. It blocks until space frees,
// ctx ends or the producer closes, unless failFast.
func (l *limiter) acquire(ctx context.Context, b int64, failFast bool) error {
	if l.tryAcquire(b) {
		return nil
	}
	if failFast {
		return fmt.Errorf("%w: %d bytes in %d records buffered (limits %d bytes, %d records)", ErrBufferFull, l.bytes.Load(), l.recs.Load(), l.maxBytes, l.maxRecs)
	}
	for {
		l.waiters.Add(1)
		l.mu.Lock()
		ch := l.wake
		l.mu.Unlock()
		if l.tryAcquire(b) {
			l.waiters.Add(-1)
			return nil
		}
		select {
		case <-ch:
			l.waiters.Add(-1)
		case <-ctx.Done():
			l.waiters.Add(-1)
			return fmt.Errorf("rustmq: waiting for buffer space: %w", context.Cause(ctx))
		case <-l.closed:
			l.waiters.Add(-1)
			return ErrClosed
		}
	}
}

func (l *limiter) release(b, n int64) {
	l.bytes.Add(-b)
	l.recs.Add(-n)
	if l.waiters.Load() > 0 {
		l.mu.Lock()
		close(l.wake)
		l.wake = make(chan struct{})
		l.mu.Unlock()
	}
}

func (l *limiter) close() { close(l.closed) }

// tracker counts outstanding work and lets callers wait for it to reach zero.
type tracker struct {
	n       atomic.Int64
	mu      sync.Mutex
	waiters []chan struct{}
}

func (t *tracker) add(k int64) { t.n.Add(k) }

func (t *tracker) done(k int64) {
	if t.n.Add(-k) == 0 {
		t.mu.Lock()
		if t.n.Load() == 0 {
			for _, w := range t.waiters {
				close(w)
			}
			t.waiters = nil
		}
		t.mu.Unlock()
	}
}

// wait blocks until the count is zero or ctx ends.
func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n.Load() == 0 {
		t.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	t.waiters = append(t.waiters, ch)
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// goroutineID returns the id of the calling goroutine, read from the header
// line of its stack trace ("goroutine 42 [running]:"). It is used only to
// recognise the delivery goroutine in Flush and Close, never on hot paths.
func goroutineID() int64 {
	var buf [64]byte
	n := goruntime.Stack(buf[:], false)
	line := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(line, ' '); i > 0 {
		id, err := strconv.ParseInt(string(line[:i]), 10, 64)
		if err == nil {
			return id
		}
	}
	return -1
}
