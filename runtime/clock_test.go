package runtime

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestClock: the coarse clock follows the time while messages are
// accepted, never goes backwards, stops after clockIdle without one (so an
// idle producer keeps no goroutine ticking) and starts again with a fresh
// reading; close stops it for good.
func TestClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var accepted atomic.Int64
		c := clock{accepted: accepted.Load}
		first := c.read()
		if first != time.Now().UnixNano() {
			t.Fatalf("first reading %d, now %d", first, time.Now().UnixNano())
		}
		for range 50 {
			accepted.Add(1)
			time.Sleep(clockTick)
			synctest.Wait()
			if got, want := c.read(), time.Now().UnixNano(); got < want-int64(clockTick) || got > want {
				t.Fatalf("reading %v behind the time", time.Duration(want-got))
			}
		}
		// Idle: the goroutine stops within clockIdle twice over.
		time.Sleep(2*clockIdle + clockTick)
		synctest.Wait()
		if c.now.Load() != 0 {
			t.Fatal("the clock still runs after being idle")
		}
		time.Sleep(time.Hour)
		if got := c.read(); got != time.Now().UnixNano() {
			t.Fatal("a restarted clock does not start from a fresh reading")
		}
		c.close()
		if c.read() == 0 || c.run {
			t.Fatal("a closed clock must still read the time, without a goroutine")
		}
	})
}
