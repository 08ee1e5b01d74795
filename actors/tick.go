package actors

import "time"

// A Tick is a time in Unix milliseconds modulo 2^32: how a [Record] keeps
// its delivery deadline in four bytes instead of eight. Two ticks compare
// correctly while they are less than [MaxTickSpan] apart, which bounds the
// delivery timeouts a producer accepts. The zero Tick means "no time".
type Tick uint32

// MaxTickSpan is the longest span across which two Ticks still compare
// correctly: 2^31-1 milliseconds, about 24.8 days.
const MaxTickSpan = (1<<31 - 1) * time.Millisecond

// TickAt returns the Tick of ms, a time in Unix milliseconds. A time whose
// Tick would be zero, once every 49.7 days, is moved to the next
// millisecond: zero means no time.
func TickAt(ms int64) Tick {
	if t := Tick(uint32(ms)); t != 0 {
		return t
	}
	return 1
}

// TickOf returns the Tick of t, a time in Unix nanoseconds.
func TickOf(t int64) Tick { return TickAt(t / int64(time.Millisecond)) }

// Before reports whether t is earlier than u.
func (t Tick) Before(u Tick) bool { return int32(t-u) < 0 }

// Add returns t moved by d milliseconds.
func (t Tick) Add(d int64) Tick { return Tick(uint32(t) + uint32(d)) }

// UnixMilli returns the time in Unix milliseconds that t stands for, the
// one nearest to ref (Unix milliseconds): correct when the two are less
// than MaxTickSpan apart.
func (t Tick) UnixMilli(ref int64) int64 { return ref + int64(int32(uint32(t)-uint32(ref))) }

// earliest returns the earlier of two deadlines, where zero is none.
func earliest(a, b Tick) Tick {
	if a == 0 || (b != 0 && b.Before(a)) {
		return b
	}
	return a
}

// passed reports whether deadline d (zero: none) is before now.
func passed(d, now Tick) bool { return d != 0 && d.Before(now) }
