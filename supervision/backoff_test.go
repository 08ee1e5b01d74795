package supervision_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/supervision"
)

func TestBackoffDelaySequence(t *testing.T) {
	b := supervision.Backoff{Initial: 20 * ms, Multiplier: 2, Max: 80 * ms}
	for attempt, want := range map[int]time.Duration{
		-3: 20 * ms, 0: 20 * ms, 1: 20 * ms, 2: 40 * ms, 3: 80 * ms, 4: 80 * ms, 50: 80 * ms,
	} {
		if got := b.Delay(attempt, nil); got != want {
			t.Errorf("Delay(%d) = %v, want %v", attempt, got, want)
		}
	}
	// A multiplier of 1 is a constant delay; a fractional one grows slowly.
	if got := (supervision.Backoff{Initial: 30 * ms, Multiplier: 1, Max: time.Second}).Delay(10, nil); got != 30*ms {
		t.Errorf("constant backoff Delay(10) = %v, want 30ms", got)
	}
	if got := (supervision.Backoff{Initial: 100 * ms, Multiplier: 1.5, Max: time.Second}).Delay(3, nil); got != 225*ms {
		t.Errorf("Multiplier 1.5 Delay(3) = %v, want 225ms", got)
	}
}

func TestBackoffDefaults(t *testing.T) {
	var zero supervision.Backoff
	d := zero.WithDefaults()
	if d.Initial != supervision.DefaultBackoffInitial || d.Max != supervision.DefaultBackoffMax || d.Multiplier != supervision.DefaultBackoffMultiplier || d.Jitter {
		t.Fatalf("WithDefaults of zero = %+v", d)
	}
	if supervision.DefaultBackoffInitial != 100*ms || supervision.DefaultBackoffMax != 10*time.Second || supervision.DefaultBackoffMultiplier != 2.0 {
		t.Fatal("default constants differ from the contract")
	}
	for attempt, want := range map[int]time.Duration{1: 100 * ms, 2: 200 * ms, 7: 6400 * ms, 8: 10 * time.Second, 1000: 10 * time.Second} {
		if got := zero.Delay(attempt, nil); got != want {
			t.Errorf("zero Backoff Delay(%d) = %v, want %v", attempt, got, want)
		}
	}
	// Set fields survive WithDefaults.
	set := supervision.Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 3, Jitter: true}
	if set.WithDefaults() != set {
		t.Fatalf("WithDefaults changed set fields: %+v", set.WithDefaults())
	}
}

// TestBackoffDelayOverflow checks that huge attempts and multipliers
// saturate at Max instead of overflowing to negative or infinite values.
func TestBackoffDelayOverflow(t *testing.T) {
	cases := []supervision.Backoff{
		{Initial: time.Millisecond, Max: time.Hour, Multiplier: 2},
		{Initial: time.Millisecond, Max: math.MaxInt64, Multiplier: 2},
		{Initial: math.MaxInt64 / 2, Max: math.MaxInt64, Multiplier: 3},
		{Initial: time.Second, Max: time.Minute, Multiplier: 1e300},
	}
	for _, b := range cases {
		for _, attempt := range []int{63, 64, 65, 1024, 1 << 40, math.MaxInt} {
			got := b.Delay(attempt, nil)
			if got != b.Max {
				t.Errorf("%+v Delay(%d) = %v, want Max %v", b, attempt, got, b.Max)
			}
			b.Jitter = true
			if j := b.Delay(attempt, func() float64 { return 0.999999 }); j < 0 || j > b.Max {
				t.Errorf("%+v jittered Delay(%d) = %v, outside [0, Max]", b, attempt, j)
			}
			b.Jitter = false
		}
	}
}

// TestBackoffDelayInvalidValues checks that values Validate rejects do not
// make Delay negative or panic.
func TestBackoffDelayInvalidValues(t *testing.T) {
	for _, b := range []supervision.Backoff{
		{Initial: -time.Second, Max: time.Second, Multiplier: 2},
		{Initial: time.Second, Max: -time.Second, Multiplier: 2},
		{Initial: time.Second, Max: 10 * time.Second, Multiplier: 0.5},
		{Initial: time.Second, Max: 10 * time.Second, Multiplier: math.NaN()},
		{Initial: time.Second, Max: 10 * time.Second, Multiplier: -2},
	} {
		for attempt := 1; attempt < 10; attempt++ {
			if d := b.Delay(attempt, nil); d < 0 || d > max(b.Max, 10*time.Second) {
				t.Errorf("%+v Delay(%d) = %v", b, attempt, d)
			}
		}
	}
	if d := (supervision.Backoff{Initial: time.Second, Max: 10 * time.Second, Multiplier: 0.5}).Delay(5, nil); d != time.Second {
		t.Errorf("Multiplier below 1 should count as 1: Delay(5) = %v", d)
	}
}

// TestBackoffJitterBounds drives full jitter with a deterministic source.
func TestBackoffJitterBounds(t *testing.T) {
	b := supervision.Backoff{Initial: 20 * ms, Multiplier: 2, Max: 80 * ms, Jitter: true}
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	cases := []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{1, 0, 0},
		{1, 0.5, 10 * ms},
		{2, 0.25, 10 * ms},
		{3, 0.5, 40 * ms},
		{9, 0.5, 40 * ms},
		{3, 1, 80 * ms},           // the cap itself is reachable
		{3, 7, 80 * ms},           // out-of-range sources are clamped
		{3, -1, 0},                // ... on both sides
		{3, math.NaN(), 0},        // and NaN gives no delay rather than garbage
		{3, math.Inf(1), 80 * ms}, // +Inf clamps to the cap
		{1, 0.999999, 19999980 * time.Nanosecond},
	}
	for _, c := range cases {
		if got := b.Delay(c.attempt, fixed(c.r)); got != c.want {
			t.Errorf("Delay(%d) with rnd %v = %v, want %v", c.attempt, c.r, got, c.want)
		}
	}
	// Without a source, math/rand/v2 is used: every draw stays in [0, cap]
	// and the draws are not all the same.
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := b.Delay(2, nil)
		if d < 0 || d > 40*ms {
			t.Fatalf("jittered Delay(2) = %v outside [0, 40ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct jittered delays in 1000 draws", len(seen))
	}
	// Without Jitter the source is never consulted.
	b.Jitter = false
	b.Delay(1, func() float64 { t.Fatal("rnd called without Jitter"); return 0 })
}

func TestBackoffValidate(t *testing.T) {
	valid := []supervision.Backoff{
		{},
		{Initial: time.Second, Max: time.Second, Multiplier: 1},
		{Initial: 20 * time.Second, Max: time.Minute},
	}
	for _, b := range valid {
		if err := b.Validate(); err != nil {
			t.Errorf("%+v: %v", b, err)
		}
	}
	invalid := map[string]supervision.Backoff{
		"Backoff.Initial":    {Initial: -1},
		"Backoff.Max":        {Max: -1},
		"Backoff.Multiplier": {Multiplier: 0.5},
	}
	invalid2 := []struct {
		field string
		b     supervision.Backoff
	}{
		{"Backoff.Multiplier", supervision.Backoff{Multiplier: math.NaN()}},
		{"Backoff.Multiplier", supervision.Backoff{Multiplier: math.Inf(1)}},
		{"Backoff.Multiplier", supervision.Backoff{Multiplier: -1}},
		{"Backoff.Max", supervision.Backoff{Initial: time.Minute}}, // default Max 10s below Initial
		{"Backoff.Max", supervision.Backoff{Initial: time.Second, Max: time.Millisecond}},
	}
	for f, b := range invalid {
		invalid2 = append(invalid2, struct {
			field string
			b     supervision.Backoff
		}{f, b})
	}
	for _, c := range invalid2 {
		err := c.b.Validate()
		var ce *supervision.ConfigError
		if !errors.Is(err, supervision.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: Validate = %v, want a ConfigError on %s", c.b, err, c.field)
		}
	}
}
