package supervision

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Defaults of [Config]'s restart budget; a zero field means its default.
const (
	// DefaultMaxRestarts is how many restarts a child gets within Window.
	DefaultMaxRestarts = 10
	// DefaultWindow is the span over which restarts are counted, and the
	// calm period after which a child's backoff starts again at Initial.
	DefaultWindow = time.Minute
)

// Kind says which children a restart or stop applies to.
type Kind int

const (
	// OneForOne restarts or stops only the child that failed: right when
	// children are independent (one connection actor per broker).
	OneForOne Kind = iota
	// AllForOne restarts or stops every child of the supervisor when one
	// fails: right when siblings share state that one failure invalidates.
	AllForOne
)

// String returns "one-for-one" or "all-for-one".
func (k Kind) String() string {
	switch k {
	case OneForOne:
		return "one-for-one"
	case AllForOne:
		return "all-for-one"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// GiveUp says what happens to a child that exhausted its restart budget.
type GiveUp int

const (
	// GiveUpStop stops the child (all children for AllForOne); its watchers
	// and its parent receive *actor.Terminated.
	GiveUpStop GiveUp = iota
	// GiveUpEscalate escalates the failure: the supervisor suspends itself
	// and its own parent's strategy decides about the supervisor, with the
	// same reason. The failed child stays suspended until that decision
	// restarts or stops the supervisor (which stops its children).
	GiveUpEscalate
)

// String returns "stop" or "escalate".
func (g GiveUp) String() string {
	switch g {
	case GiveUpStop:
		return "stop"
	case GiveUpEscalate:
		return "escalate"
	}
	return fmt.Sprintf("GiveUp(%d)", int(g))
}

// Event describes one decision of a strategy built by [NewStrategy]. It is
// delivered to Config.Observer.
type Event struct {
	// Child is the actor that failed.
	Child *actor.PID
	// Reason is the value the child panicked with.
	Reason any
	// Directive is what was applied: the Decider's choice, or Stop or
	// Escalate when the restart budget was exhausted (GaveUp).
	Directive actor.Directive
	// Restarts is, for a restart, the attempt number that chose Delay (1
	// for the first failure after a calm period); for a give-up, the number
	// of failures within Window that exhausted the budget; 0 for
	// directives that do not involve the budget.
	Restarts int
	// Delay is how long the restart waits; 0 for other directives.
	Delay time.Duration
	// GaveUp is true when the restart budget was exhausted.
	GaveUp bool
}

// Config configures [NewStrategy]. The zero value is valid: one-for-one,
// the default backoff, 10 restarts per minute, stop on give-up,
// [DefaultDecider], no observer, no logging.
type Config struct {
	// Kind chooses one-for-one (default) or all-for-one.
	Kind Kind
	// Backoff spaces the restarts of a failing child; the zero value is
	// the default backoff (100ms doubling up to 10s, no jitter).
	Backoff Backoff
	// MaxRestarts is the restart budget: a child that fails more than
	// MaxRestarts times within Window is given up on (see GiveUp). 0 means
	// DefaultMaxRestarts (10); negative means unlimited. To never restart,
	// use a Decider that answers Stop.
	MaxRestarts int
	// Window is the span over which failures count against MaxRestarts,
	// and the calm period that resets the backoff: a child that ran for
	// Window since its last restart starts again at Backoff.Initial. 0
	// means DefaultWindow (1 minute); must not be negative and, with a
	// limited budget, must exceed Backoff.Max (otherwise restarts are
	// always further apart than Window and the budget can never run out).
	Window time.Duration
	// GiveUp chooses what happens when the budget is exhausted: stop the
	// child (default) or escalate to the supervisor's parent.
	GiveUp GiveUp
	// Decider classifies a failure; nil means DefaultDecider.
	Decider Decider
	// Observer, if set, receives an Event for every decision. It runs on
	// the supervisor's goroutine while the supervisor handles the failure:
	// it must return quickly and must not panic (a panic there is a
	// failure of the supervisor). Default nil.
	Observer func(Event)
	// Logger receives a Warn line per restart (child, reason, attempt,
	// delay), an Error line per give-up or Stop, a Warn line for Resume and
	// Escalate. nil discards.
	Logger *slog.Logger
}

// ErrInvalidConfig is matched by errors.Is on every *[ConfigError].
var ErrInvalidConfig = errors.New("supervision: invalid config")

// ConfigError names a configuration field whose value cannot be used.
type ConfigError struct {
	Field  string // e.g. "Backoff.Max"
	Value  any
	Reason string
}

// Error says which field is wrong, its value and why.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("supervision: invalid %s %v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	c.Backoff = c.Backoff.WithDefaults()
	if c.MaxRestarts == 0 {
		c.MaxRestarts = DefaultMaxRestarts
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Decider == nil {
		c.Decider = DefaultDecider
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable field as a *[ConfigError]
// (errors.Is(err, [ErrInvalidConfig]) holds): an unknown Kind or GiveUp, a
// negative Window, an invalid Backoff, or a limited budget whose Window does
// not exceed Backoff.Max (all after defaults).
func (c Config) Validate() error {
	switch {
	case c.Kind != OneForOne && c.Kind != AllForOne:
		return &ConfigError{Field: "Kind", Value: int(c.Kind), Reason: "must be OneForOne or AllForOne"}
	case c.GiveUp != GiveUpStop && c.GiveUp != GiveUpEscalate:
		return &ConfigError{Field: "GiveUp", Value: int(c.GiveUp), Reason: "must be GiveUpStop or GiveUpEscalate"}
	case c.Window < 0:
		return &ConfigError{Field: "Window", Value: c.Window, Reason: "must not be negative"}
	}
	if err := c.Backoff.validate("Backoff."); err != nil {
		return err
	}
	d := c.withDefaults()
	if d.MaxRestarts > 0 && d.Window <= d.Backoff.Max {
		return &ConfigError{Field: "Window", Value: d.Window,
			Reason: fmt.Sprintf("must exceed Backoff.Max (%v) when MaxRestarts is limited, or the budget can never run out", d.Backoff.Max)}
	}
	return nil
}
