package supervision

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults of [Backoff]; a zero field means its default.
const (
	// DefaultBackoffInitial is the delay before the first retry.
	DefaultBackoffInitial = 100 * time.Millisecond
	// DefaultBackoffMax caps every delay.
	DefaultBackoffMax = 10 * time.Second
	// DefaultBackoffMultiplier is the growth factor between attempts.
	DefaultBackoffMultiplier = 2.0
)

// Backoff is a capped exponential backoff: the delay before attempt n is
//
//	d(n) = min(Max, Initial * Multiplier^(n-1))
//
// and with Jitter a uniformly random duration in [0, d(n)] ("full jitter"),
// which spreads the retries of many clients that failed together. A Backoff
// is a plain value, safe for concurrent use; it is shared by the supervision
// strategies, the batcher's retries and the connection actors' reconnects.
type Backoff struct {
	// Initial is the delay before the first retry. Default
	// DefaultBackoffInitial (100ms); must not be negative.
	Initial time.Duration
	// Max caps every delay. Default DefaultBackoffMax (10s); must not be
	// negative nor below Initial.
	Max time.Duration
	// Multiplier is the factor between consecutive delays. Default
	// DefaultBackoffMultiplier (2); must be >= 1 (1 gives a constant delay).
	Multiplier float64
	// Jitter selects full jitter: each delay is drawn uniformly from
	// [0, d(n)] instead of being d(n). Default false.
	Jitter bool
}

// WithDefaults returns b with each zero field replaced by its default.
func (b Backoff) WithDefaults() Backoff {
	if b.Initial == 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Max == 0 {
		b.Max = DefaultBackoffMax
	}
	if b.Multiplier == 0 {
		b.Multiplier = DefaultBackoffMultiplier
	}
	return b
}

// Validate reports, after defaults, a negative Initial or Max, a Max below
// Initial, or a Multiplier below 1 (or NaN or infinite) as a *[ConfigError]
// naming the field and its value; errors.Is(err, [ErrInvalidConfig]) holds.
func (b Backoff) Validate() error {
	return b.validate("Backoff.")
}

func (b Backoff) validate(prefix string) error {
	d := b.WithDefaults()
	switch {
	case b.Initial < 0:
		return &ConfigError{Field: prefix + "Initial", Value: b.Initial, Reason: "must not be negative"}
	case b.Max < 0:
		return &ConfigError{Field: prefix + "Max", Value: b.Max, Reason: "must not be negative"}
	case math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0) || d.Multiplier < 1:
		return &ConfigError{Field: prefix + "Multiplier", Value: b.Multiplier, Reason: "must be at least 1 and finite (0 means the default 2)"}
	case d.Max < d.Initial:
		return &ConfigError{Field: prefix + "Max", Value: d.Max,
			Reason: fmt.Sprintf("must not be below %sInitial (%v); 0 means the default %v", prefix, d.Initial, DefaultBackoffMax)}
	}
	return nil
}

// Delay returns the delay before retry number attempt (1 for the first
// retry; smaller values count as 1): min(Max, Initial*Multiplier^(attempt-1)),
// or with Jitter a value uniformly drawn from [0, that]. Zero fields take
// their defaults. The arithmetic runs in float64 and saturates at Max, so
// any attempt, however large, gives at most Max and never a negative
// duration.
//
// rnd supplies the jitter as a number in [0, 1) (values outside [0, 1] are
// clamped); nil uses math/rand/v2's Float64. It is not called without Jitter.
// Values Validate rejects do not make Delay panic: a negative Initial or Max
// counts as 0, a Multiplier below 1 as 1.
func (b Backoff) Delay(attempt int, rnd func() float64) time.Duration {
	b = b.WithDefaults()
	initial, ceiling := max(b.Initial, 0), max(b.Max, 0)
	mult := b.Multiplier
	if !(mult >= 1) { // also catches NaN
		mult = 1
	}
	attempt = max(attempt, 1)
	d := ceiling
	if f := float64(initial) * math.Pow(mult, float64(attempt-1)); f < float64(ceiling) {
		// f is finite and below a time.Duration here, so the conversion is exact enough and in range.
		d = time.Duration(f)
	}
	if !b.Jitter {
		return d
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	if !(r > 0) { // negative or NaN
		return 0
	}
	if r >= 1 {
		return d
	}
	return time.Duration(r * float64(d))
}
