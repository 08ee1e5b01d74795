package actors

import (
	"testing"
	"time"
)

// Ticks wrap every 2^32 ms (49.7 days): comparisons and the way back to
// Unix milliseconds must hold across the wrap, which a producer running
// long enough meets.
func TestTickAcrossTheWrap(t *testing.T) {
	const wrap = int64(1) << 32
	span := int64(MaxTickSpan / time.Millisecond)
	for _, ref := range []int64{
		time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC).UnixMilli(),
		40*wrap - 1, 40 * wrap, 40*wrap + 1, // about 2056
		40*wrap - span/2, 40*wrap + span/2,
	} {
		for _, d := range []int64{2, 1000, 120_000, span - 1} {
			early, late := TickAt(ref-d/2), TickAt(ref+d/2) // within the span of each other
			if !early.Before(late) || late.Before(early) {
				t.Errorf("ref %d ± %d/2: %d before %d is %v, the reverse %v", ref, d, early, late, early.Before(late), late.Before(early))
			}
			for _, ms := range []int64{ref - d, ref + d} {
				tk := Tick(uint32(ms))
				if got := tk.UnixMilli(ref); got != ms {
					t.Errorf("tick of %d read against %d: %d", ms, ref, got)
				}
			}
		}
		if got := TickAt(ref).Add(120_000).UnixMilli(ref); got != ref+120_000 && TickAt(ref) != 1 {
			t.Errorf("ref %d + 2m: %d", ref, got)
		}
	}
}

// Zero is no deadline: the one millisecond in 2^32 whose Tick would be
// zero gets the next one, so that such a record still expires.
func TestTickZeroIsNone(t *testing.T) {
	ms := int64(41) << 32
	if got := TickAt(ms); got != 1 {
		t.Fatalf("TickAt(%d) = %d, want 1", ms, got)
	}
	if passed(0, TickAt(ms+5)) {
		t.Error("no deadline passed")
	}
	if !passed(TickAt(ms), TickAt(ms+5)) {
		t.Error("a deadline at the wrap never passes")
	}
	if got := earliest(0, 7); got != 7 {
		t.Errorf("earliest(0, 7) = %d", got)
	}
	if got := earliest(TickAt(ms+10), TickAt(ms-10)); got != TickAt(ms-10) {
		t.Errorf("earliest across the wrap = %d, want %d", got, TickAt(ms-10))
	}
	r := Record{Deadline: TickAt(ms)}
	if r.expired(TickAt(ms)) || !r.expired(TickAt(ms+2)) {
		t.Error("expired at the wrap")
	}
}
