package runtime

import (
	"sync"
	"sync/atomic"
	"time"
)

// clock is a producer's coarse clock: what every accepted message needs of
// the time (its timestamp in milliseconds, its delivery deadline) does not
// need a fresh reading each, and on virtual machines time.Now costs about a
// hundred nanoseconds, a twentieth of what the producer spends on a
// message. While messages flow, a goroutine refreshes the reading every
// clockTick; it stops after clockIdle without an accepted message, and the
// next message reads the time itself and starts it again. Readings never
// go backwards, so timestamps keep the order of acceptance.
type clock struct {
	now atomic.Int64 // Unix nanoseconds; 0 while the goroutine is stopped
	// last is the latest reading, kept while the goroutine is stopped:
	// the reference against which envelopes' deadline Ticks are read.
	last   atomic.Int64
	mu     sync.Mutex
	run    bool
	closed bool
	stop   chan struct{}
	done   chan struct{}
	// accepted reads the producer's count of accepted messages (for the
	// idle check); seen is what the goroutine last saw of it.
	accepted func() int64
	seen     int64
}

const (
	clockTick = time.Millisecond
	clockIdle = 200 * time.Millisecond
)

// read returns the current coarse time in Unix nanoseconds.
func (c *clock) read() int64 {
	if now := c.now.Load(); now != 0 {
		return now
	}
	now := time.Now().UnixNano()
	c.start(now)
	return now
}

func (c *clock) start(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run || c.closed {
		return
	}
	c.run = true
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	c.seen = c.accepted()
	c.now.Store(now)
	c.last.Store(now)
	go c.loop(c.stop, c.done)
}

func (c *clock) loop(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(clockTick)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if now := time.Now().UnixNano(); now > c.now.Load() {
			c.now.Store(now)
			c.last.Store(now)
		}
		if idle++; idle < int(clockIdle/clockTick) {
			continue
		}
		idle = 0
		n := c.accepted()
		c.mu.Lock()
		if n == c.seen {
			// Nobody used it for a while: stop, and let the next reader
			// start it with a fresh reading.
			c.run = false
			c.now.Store(0)
			c.mu.Unlock()
			return
		}
		c.seen = n
		c.mu.Unlock()
	}
}

// lastMilli returns the latest reading in Unix milliseconds without
// starting the goroutine: within a delivery timeout of the acceptance of
// every message still buffered, as its reading was taken at acceptance.
func (c *clock) lastMilli() int64 { return c.last.Load() / int64(time.Millisecond) }

// close stops the goroutine and waits for it.
func (c *clock) close() {
	c.mu.Lock()
	run, stop, done := c.run, c.stop, c.done
	c.run, c.closed = false, true
	c.now.Store(0)
	c.mu.Unlock()
	if run {
		close(stop)
		<-done
	}
}
