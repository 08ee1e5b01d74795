package supervision

import (
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Strategy is the actor.SupervisorStrategy built by [New] and [NewStrategy]:
// capped exponential backoff before each restart, a restart budget per
// child, one-for-one or all-for-one. It is safe for concurrent use; one
// Strategy may supervise the children of many actors.
//
// # Per-child bookkeeping
//
// For each failing child the strategy keeps its own small record, keyed by
// the child's *actor.RestartStatistics (the one object protoactor keeps per
// child across restarts): the backoff attempt number, the failure times
// still inside Window (at most MaxRestarts+1 of them) and the moment the
// latest restart is due. It does not append to the RestartStatistics
// itself: that type can only grow, so a child failing steadily for days
// without a calm Window would grow it without bound.
//
// The backoff attempt counter resets after a quiet period: a failure that
// comes Window or later after the child's previous restart took effect
// starts again at attempt 1 (Backoff.Initial), and its budget starts empty.
// Calm is measured from the restart, not from the previous failure, so a
// long backoff delay does not count as calm. Records whose child has been
// calm for Window are dropped, so memory is bounded by the children that
// failed recently.
//
// # Delayed restarts
//
// A restart is scheduled with time.AfterFunc and sent to the children
// (supervisor.RestartChildren) when the delay ends; until then the failed
// child stays suspended and its mailbox keeps queueing user messages. For
// AllForOne the siblings are captured when the failure is handled and keep
// running until the restart. When the delay ends, a child that has stopped
// in the meantime (for example because its supervisor stopped or
// restarted) is skipped, also if a new actor took its name.
type Strategy struct {
	cfg Config         // defaults applied
	rnd func() float64 // jitter source; nil means math/rand/v2

	mu        sync.Mutex
	children  map[any]*childRecord
	lastPrune time.Time
}

type childRecord struct {
	pid      string      // the child's address and id, for Reset
	attempt  int         // restarts since the last calm period
	failures []time.Time // failures within Window, oldest first; only with a limited budget
	calmFrom time.Time   // when the latest scheduled restart is due
}

var _ actor.SupervisorStrategy = (*Strategy)(nil)

// New validates cfg (see [Config.Validate]) and returns the strategy.
func New(cfg Config) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Strategy{cfg: cfg.withDefaults(), children: make(map[any]*childRecord)}, nil
}

// NewStrategy returns the strategy for cfg, to pass to
// actor.WithSupervisor. It panics with the *[ConfigError] if cfg is invalid,
// like regexp.MustCompile; call [Config.Validate] or [New] first when cfg
// comes from users.
//
// As a guardian strategy (actor.WithGuardian), protoactor's guardian cannot
// list its children or escalate: AllForOne then restarts or stops only the
// failed child, and an escalation (by the Decider or GiveUpEscalate) stops
// the child instead and logs an error.
func NewStrategy(cfg Config) actor.SupervisorStrategy {
	s, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return s
}

// HandleFailure implements actor.SupervisorStrategy. protoactor calls it on
// the supervisor's goroutine when child panicked with reason while handling
// message; rs identifies the child across restarts.
//
// Before deciding, it answers message with a [PanicError] when message is a
// [Replier], so that its sender is not left waiting for an answer the
// failed child will never give.
func (s *Strategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, message any) {
	replyFailed(sys, message, &PanicError{Actor: pidString(child), Reason: reason}, s.cfg.Logger)
	directive := s.cfg.Decider(reason)
	key := recordKey(child, rs)
	switch directive {
	case actor.ResumeDirective:
		s.report(sys, Event{Child: child, Reason: reason, Directive: directive})
		sup.ResumeChildren(child)
	case actor.StopDirective:
		s.forget(key)
		s.report(sys, Event{Child: child, Reason: reason, Directive: directive})
		sup.StopChildren(s.targets(sup, child)...)
	case actor.EscalateDirective:
		s.forget(key)
		s.report(sys, Event{Child: child, Reason: reason, Directive: directive})
		s.escalate(sup, child, reason, message)
	case actor.RestartDirective:
		s.restart(sys, sup, child, key, reason, message)
	default:
		s.forget(key)
		s.cfg.Logger.Error("supervision: decider returned an unknown directive; escalating",
			slog.String("child", pidString(child)), slog.Any("directive", directive), slog.Any("reason", reason))
		s.report(sys, Event{Child: child, Reason: reason, Directive: actor.EscalateDirective})
		s.escalate(sup, child, reason, message)
	}
}

// restart counts the failure against the budget and either gives up or
// schedules the restart after the backoff delay.
func (s *Strategy) restart(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, key any, reason, message any) {
	attempt, delay, inWindow, gaveUp := s.recordFailure(key, pidString(child), time.Now())
	if gaveUp {
		ev := Event{Child: child, Reason: reason, Restarts: inWindow, GaveUp: true}
		if s.cfg.GiveUp == GiveUpEscalate {
			ev.Directive = actor.EscalateDirective
			s.report(sys, ev)
			s.escalate(sup, child, reason, message)
			return
		}
		ev.Directive = actor.StopDirective
		s.report(sys, ev)
		sup.StopChildren(s.targets(sup, child)...)
		return
	}
	targets := s.targets(sup, child)
	s.report(sys, Event{Child: child, Reason: reason, Directive: actor.RestartDirective, Restarts: attempt, Delay: delay})

	// Remember which process each PID names now, so that a stale timer
	// never restarts an actor spawned later under the same name.
	procs := make([]actor.Process, len(targets))
	if sys != nil {
		for i, p := range targets {
			procs[i], _ = sys.ProcessRegistry.Get(p)
		}
	}
	fire := func() {
		if sys != nil && sys.IsStopped() {
			return
		}
		live := make([]*actor.PID, 0, len(targets))
		for i, p := range targets {
			if sys != nil {
				if cur, ok := sys.ProcessRegistry.Get(p); !ok || cur != procs[i] {
					continue
				}
			}
			live = append(live, p)
		}
		if len(live) > 0 {
			sup.RestartChildren(live...)
		}
	}
	if delay <= 0 {
		fire()
		return
	}
	time.AfterFunc(delay, fire)
}

// recordFailure notes a failure of the child keyed by key at now. It
// returns the attempt number and backoff delay of the restart, or gaveUp
// with the number of failures within Window when the budget is exhausted.
func (s *Strategy) recordFailure(key any, pid string, now time.Time) (attempt int, delay time.Duration, inWindow int, gaveUp bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	rec := s.children[key]
	if rec == nil || now.Sub(rec.calmFrom) >= s.cfg.Window {
		rec = &childRecord{pid: pid}
		s.children[key] = rec
	}
	if s.cfg.MaxRestarts >= 0 {
		old := 0
		for old < len(rec.failures) && now.Sub(rec.failures[old]) >= s.cfg.Window {
			old++
		}
		rec.failures = append(rec.failures[:0], rec.failures[old:]...)
		rec.failures = append(rec.failures, now)
		if len(rec.failures) > s.cfg.MaxRestarts {
			delete(s.children, key)
			return 0, 0, len(rec.failures), true
		}
	}
	if rec.attempt < math.MaxInt32 {
		rec.attempt++
	}
	delay = s.cfg.Backoff.Delay(rec.attempt, s.rnd)
	rec.calmFrom = now.Add(delay)
	return rec.attempt, delay, len(rec.failures), false
}

// pruneLocked drops, at most once per Window, the records of children that
// have been calm for Window: their next failure would start afresh anyway.
func (s *Strategy) pruneLocked(now time.Time) {
	if now.Sub(s.lastPrune) < s.cfg.Window {
		return
	}
	s.lastPrune = now
	for k, r := range s.children {
		if now.Sub(r.calmFrom) >= s.cfg.Window {
			delete(s.children, k)
		}
	}
}

// Reset forgets the failures of child, as a calm Window would: its next
// failure restarts it after Backoff.Initial and starts a fresh budget. Call
// it when the child has shown that it works again, as the runtime does for
// a connection actor whose connection stayed up for a while, so that a new
// incident is not paced by the backoff the previous one built up. It is safe
// to call from any goroutine, and does nothing for a child without failures.
func (s *Strategy) Reset(child *actor.PID) {
	id := pidString(child)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.children {
		if r.pid == id {
			delete(s.children, k)
		}
	}
}

func (s *Strategy) forget(key any) {
	s.mu.Lock()
	delete(s.children, key)
	s.mu.Unlock()
}

// targets returns the children a restart or stop applies to.
func (s *Strategy) targets(sup actor.Supervisor, child *actor.PID) []*actor.PID {
	if s.cfg.Kind != AllForOne {
		return []*actor.PID{child}
	}
	if kids, ok := children(sup); ok && len(kids) > 0 {
		return kids
	}
	return []*actor.PID{child}
}

// children returns sup.Children(), or false for protoactor's guardian,
// whose Children panics.
func children(sup actor.Supervisor) (kids []*actor.PID, ok bool) {
	defer func() {
		if recover() != nil {
			kids, ok = nil, false
		}
	}()
	return sup.Children(), true
}

// escalate hands the failure to the supervisor's parent; protoactor's
// guardian cannot escalate, so under a guardian the child is stopped.
func (s *Strategy) escalate(sup actor.Supervisor, child *actor.PID, reason, message any) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error("supervision: cannot escalate (guardian supervisor); stopping the child instead",
				slog.String("child", pidString(child)), slog.Any("reason", reason), slog.Any("panic", r))
			sup.StopChildren(child)
		}
	}()
	sup.EscalateFailure(reason, message)
}

// report publishes ev on the event stream, logs it and hands it to the
// Observer.
func (s *Strategy) report(sys *actor.ActorSystem, ev Event) {
	if sys != nil && sys.EventStream != nil {
		sys.EventStream.Publish(&actor.SupervisorEvent{Child: ev.Child, Reason: ev.Reason, Directive: ev.Directive})
	}
	attrs := []any{
		slog.String("child", pidString(ev.Child)),
		slog.Any("reason", ev.Reason),
		slog.String("strategy", s.cfg.Kind.String()),
	}
	switch {
	case ev.GaveUp:
		s.cfg.Logger.Error("supervision: restart budget exhausted, giving up",
			append(attrs, slog.Int("failures", ev.Restarts), slog.Int("max_restarts", s.cfg.MaxRestarts),
				slog.Duration("window", s.cfg.Window), slog.String("give_up", s.cfg.GiveUp.String()))...)
	case ev.Directive == actor.RestartDirective:
		s.cfg.Logger.Warn("supervision: restarting child after backoff",
			append(attrs, slog.Int("attempt", ev.Restarts), slog.Duration("delay", ev.Delay))...)
	case ev.Directive == actor.StopDirective:
		s.cfg.Logger.Error("supervision: stopping child", attrs...)
	case ev.Directive == actor.ResumeDirective:
		s.cfg.Logger.Warn("supervision: resuming child", attrs...)
	default:
		s.cfg.Logger.Warn("supervision: escalating failure to the supervisor's parent", attrs...)
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer(ev)
	}
}

// recordKey identifies a child across restarts: its RestartStatistics when
// protoactor supplies one, else its address and id.
func recordKey(child *actor.PID, rs *actor.RestartStatistics) any {
	if rs != nil {
		return rs
	}
	return pidString(child)
}

func pidString(p *actor.PID) string {
	if p == nil {
		return "<nil>"
	}
	return p.Address + "/" + p.Id
}
