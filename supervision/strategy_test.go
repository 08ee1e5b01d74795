package supervision_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

const ms = time.Millisecond

// smallBackoff is the backoff of the timing tests: 20, 40, 80, 80, ... ms.
var smallBackoff = supervision.Backoff{Initial: 20 * ms, Multiplier: 2, Max: 80 * ms}

// crashAndRestart crashes the named child and waits for its next
// incarnation to start. It returns the crash note, the restart's Event and
// the started note.
func crashAndRestart(t *testing.T, sys *actor.ActorSystem, pid *actor.PID, name string, notes <-chan note, events <-chan supervision.Event, reason any) (note, supervision.Event, note) {
	t.Helper()
	sys.Root.Send(pid, &crash{reason: reason})
	c := nextNote(t, notes, name, "crash")
	ev := recv(t, events, "restart event of "+name)
	s := nextNote(t, notes, name, "started")
	return c, ev, s
}

// TestRestartDelaysFollowCappedExponential checks that restarts wait
// Initial*Multiplier^(n-1) capped at Max: 20, 40, 80, 80 ms, measured from
// the crash to the next incarnation's Started.
func TestRestartDelaysFollowCappedExponential(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	strategy := supervision.NewStrategy(supervision.Config{Backoff: smallBackoff, Window: 5 * time.Second, Observer: obs})
	_, kids := family(t, sys, strategy, "c", childProps("c", notes))
	nextNote(t, notes, "c", "started")

	want := []time.Duration{20 * ms, 40 * ms, 80 * ms, 80 * ms}
	for i, d := range want {
		reason := fmt.Errorf("link %d: %w", i, net.ErrClosed)
		c, ev, s := crashAndRestart(t, sys, kids["c"], "c", notes, events, reason)
		if ev.Directive != actor.RestartDirective || ev.GaveUp || ev.Delay != d || ev.Restarts != i+1 || !ev.Child.Equal(kids["c"]) || ev.Reason != reason {
			t.Fatalf("restart %d: event %+v, want Restart, Delay %v, Restarts %d, Child %v", i+1, ev, d, i+1, kids["c"])
		}
		if s.incarnation != i+2 {
			t.Fatalf("restart %d: started incarnation %d, want %d", i+1, s.incarnation, i+2)
		}
		if gap := s.at.Sub(c.at); gap < d {
			t.Fatalf("restart %d: child restarted %v after crashing, before its delay %v", i+1, gap, d)
		}
	}
}

// TestRestartFullJitterStaysWithinCap checks that jittered delays lie in
// [0, cap] and that restarts still wait at least the drawn delay.
func TestRestartFullJitterStaysWithinCap(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	b := smallBackoff
	b.Jitter = true
	strategy := supervision.NewStrategy(supervision.Config{Backoff: b, MaxRestarts: -1, Observer: obs})
	_, kids := family(t, sys, strategy, "c", childProps("c", notes))
	nextNote(t, notes, "c", "started")

	caps := []time.Duration{20 * ms, 40 * ms, 80 * ms, 80 * ms, 80 * ms}
	for i, cp := range caps {
		c, ev, s := crashAndRestart(t, sys, kids["c"], "c", notes, events, "boom")
		if ev.Directive != actor.RestartDirective || ev.Restarts != i+1 {
			t.Fatalf("restart %d: event %+v", i+1, ev)
		}
		if ev.Delay < 0 || ev.Delay > cp {
			t.Fatalf("restart %d: jittered delay %v outside [0, %v]", i+1, ev.Delay, cp)
		}
		if gap := s.at.Sub(c.at); gap < ev.Delay {
			t.Fatalf("restart %d: restarted %v after crashing, before its delay %v", i+1, gap, ev.Delay)
		}
	}
}

// TestBackoffResetsAfterCalmWindow checks that a child that ran calmly for
// Window after its restart starts again at Initial.
func TestBackoffResetsAfterCalmWindow(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	window := 400 * ms // long enough for two quick failures on a loaded machine
	strategy := supervision.NewStrategy(supervision.Config{
		Backoff: supervision.Backoff{Initial: 20 * ms, Max: 40 * ms}, Window: window, Observer: obs,
	})
	_, kids := family(t, sys, strategy, "c", childProps("c", notes))
	nextNote(t, notes, "c", "started")

	_, ev1, _ := crashAndRestart(t, sys, kids["c"], "c", notes, events, "one")
	_, ev2, started := crashAndRestart(t, sys, kids["c"], "c", notes, events, "two")
	if ev1.Delay != 20*ms || ev2.Delay != 40*ms || ev2.Restarts != 2 {
		t.Fatalf("before the calm period: delays %v, %v (attempt %d), want 20ms, 40ms (attempt 2)", ev1.Delay, ev2.Delay, ev2.Restarts)
	}
	// The behaviour under test is the passing of time: let the child run
	// calmly for longer than Window.
	time.Sleep(window - time.Since(started.at) + 20*ms)
	_, ev3, _ := crashAndRestart(t, sys, kids["c"], "c", notes, events, "three")
	if ev3.Delay != 20*ms || ev3.Restarts != 1 {
		t.Fatalf("after the calm period: delay %v attempt %d, want 20ms attempt 1", ev3.Delay, ev3.Restarts)
	}
}

// TestResetForgetsFailures checks that Reset starts a child's backoff and
// budget afresh at once, without waiting for a calm Window, and leaves
// other children's records alone.
func TestResetForgetsFailures(t *testing.T) {
	sys := newSystem(t)
	na, nb := make(chan note, 64), make(chan note, 64)
	obs, events := observer()
	strategy := supervision.NewStrategy(supervision.Config{Backoff: smallBackoff, MaxRestarts: 2, Window: time.Hour, Observer: obs})
	_, kids := family(t, sys, strategy, "a", childProps("a", na), "b", childProps("b", nb))
	nextNote(t, na, "a", "started")
	nextNote(t, nb, "b", "started")

	for i, d := range []time.Duration{20 * ms, 40 * ms} {
		if _, ev, _ := crashAndRestart(t, sys, kids["a"], "a", na, events, "a fails"); ev.Delay != d || ev.Restarts != i+1 {
			t.Fatalf("a, restart %d: %+v", i+1, ev)
		}
	}
	if _, ev, _ := crashAndRestart(t, sys, kids["b"], "b", nb, events, "b fails"); ev.Delay != 20*ms {
		t.Fatalf("b, first restart: %+v", ev)
	}
	strategy.(*supervision.Strategy).Reset(kids["a"])
	// Without the reset a's third failure would exhaust its budget of two.
	for i, d := range []time.Duration{20 * ms, 40 * ms} {
		if _, ev, _ := crashAndRestart(t, sys, kids["a"], "a", na, events, "a fails again"); ev.GaveUp || ev.Delay != d || ev.Restarts != i+1 {
			t.Fatalf("a after Reset, restart %d: %+v, want delay %v attempt %d", i+1, ev, d, i+1)
		}
	}
	if _, ev, _ := crashAndRestart(t, sys, kids["b"], "b", nb, events, "b fails again"); ev.Delay != 40*ms || ev.Restarts != 2 {
		t.Fatalf("b's record was touched by a's Reset: %+v", ev)
	}
	strategy.(*supervision.Strategy).Reset(actor.NewPID("nonhost", "nobody")) // no record: nothing happens
}

// TestBudgetExhaustedStopsChild checks that the failure beyond MaxRestarts
// within Window stops the child (Terminated via Watch).
func TestBudgetExhaustedStopsChild(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	logs := make(chan logRecord, 16)
	strategy := supervision.NewStrategy(supervision.Config{
		Backoff: supervision.Backoff{Initial: 5 * ms, Max: 10 * ms}, MaxRestarts: 2, Window: 5 * time.Second, Observer: obs,
		Logger: slog.New(recordingHandler{logs}),
	})
	_, kids := family(t, sys, strategy, "c", childProps("c", notes))
	nextNote(t, notes, "c", "started")
	terminated := watch(t, sys, kids["c"])

	for i := range 2 {
		if _, ev, _ := crashAndRestart(t, sys, kids["c"], "c", notes, events, "flaky"); ev.Directive != actor.RestartDirective {
			t.Fatalf("failure %d within budget: %+v", i+1, ev)
		}
		l := recv(t, logs, "restart log line")
		if l.level != slog.LevelWarn || l.attrs["attempt"].Int64() != int64(i+1) || l.attrs["delay"].Duration() != time.Duration(5<<i)*ms || l.attrs["reason"].Any() != "flaky" {
			t.Fatalf("restart %d logged %v %q %v", i+1, l.level, l.msg, l.attrs)
		}
	}
	sys.Root.Send(kids["c"], &crash{reason: "flaky"})
	ev := recv(t, events, "give-up event")
	if !ev.GaveUp || ev.Directive != actor.StopDirective || ev.Restarts != 3 || ev.Delay != 0 {
		t.Fatalf("third failure: event %+v, want GaveUp Stop with 3 failures", ev)
	}
	if l := recv(t, logs, "give-up log line"); l.level != slog.LevelError || l.attrs["failures"].Int64() != 3 {
		t.Fatalf("give-up logged %v %q %v", l.level, l.msg, l.attrs)
	}
	closed(t, terminated, "Terminated of the given-up child")
}

// TestBudgetExhaustedEscalates checks that with GiveUpEscalate the
// grandparent's strategy receives the failure of the parent, and that its
// decision (Stop) takes the parent and the child down.
func TestBudgetExhaustedEscalates(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	gpObs, gpEvents := observer()
	parentStrategy := supervision.NewStrategy(supervision.Config{
		Backoff: supervision.Backoff{Initial: 5 * ms, Max: 10 * ms}, MaxRestarts: 1, Window: 5 * time.Second,
		GiveUp: supervision.GiveUpEscalate, Observer: obs,
	})
	gpStrategy := supervision.NewStrategy(supervision.Config{
		Decider:  func(any) actor.Directive { return actor.StopDirective },
		Observer: gpObs,
	})
	parentReports := make(chan spawned, 8)
	_, parents := family(t, sys, gpStrategy, "parent", spawnerProps(parentStrategy, parentReports, "c", childProps("c", notes)))
	kids := recv(t, parentReports, "parent's children").kids
	nextNote(t, notes, "c", "started")
	parentGone := watch(t, sys, parents["parent"])
	childGone := watch(t, sys, kids["c"])

	if _, ev, _ := crashAndRestart(t, sys, kids["c"], "c", notes, events, "first"); ev.Directive != actor.RestartDirective {
		t.Fatalf("first failure: %+v", ev)
	}
	reason := errors.New("second")
	sys.Root.Send(kids["c"], &crash{reason: reason})
	ev := recv(t, events, "give-up event")
	if !ev.GaveUp || ev.Directive != actor.EscalateDirective || ev.Restarts != 2 {
		t.Fatalf("second failure: event %+v, want GaveUp Escalate", ev)
	}
	gp := recv(t, gpEvents, "grandparent's event")
	if !gp.Child.Equal(parents["parent"]) || gp.Reason != reason || gp.Directive != actor.StopDirective {
		t.Fatalf("grandparent saw %+v, want the parent %v failing with %v, stopped", gp, parents["parent"], reason)
	}
	closed(t, parentGone, "Terminated of the parent")
	closed(t, childGone, "Terminated of the child")
}

// TestDeciderEscalate checks that an Escalate decision reaches the
// grandparent's strategy at once, without touching the budget.
func TestDeciderEscalate(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	gpObs, gpEvents := observer()
	parentStrategy := supervision.NewStrategy(supervision.Config{
		Decider:  func(any) actor.Directive { return actor.EscalateDirective },
		Observer: obs,
	})
	gpStrategy := supervision.NewStrategy(supervision.Config{
		Decider:  func(any) actor.Directive { return actor.StopDirective },
		Observer: gpObs,
	})
	parentReports := make(chan spawned, 8)
	_, parents := family(t, sys, gpStrategy, "parent", spawnerProps(parentStrategy, parentReports, "c", childProps("c", notes)))
	kids := recv(t, parentReports, "parent's children").kids
	nextNote(t, notes, "c", "started")
	parentGone := watch(t, sys, parents["parent"])

	sys.Root.Send(kids["c"], &crash{reason: "up"})
	if ev := recv(t, events, "parent's event"); ev.Directive != actor.EscalateDirective || ev.GaveUp || ev.Restarts != 0 {
		t.Fatalf("parent's event %+v, want Escalate without give-up", ev)
	}
	if gp := recv(t, gpEvents, "grandparent's event"); !gp.Child.Equal(parents["parent"]) || gp.Reason != "up" {
		t.Fatalf("grandparent saw %+v", gp)
	}
	closed(t, parentGone, "Terminated of the parent")
}

// TestKindSiblings checks that AllForOne restarts the failed child's
// siblings and OneForOne does not.
func TestKindSiblings(t *testing.T) {
	for _, kind := range []supervision.Kind{supervision.OneForOne, supervision.AllForOne} {
		t.Run(kind.String(), func(t *testing.T) {
			sys := newSystem(t)
			notesA, notesB := make(chan note, 64), make(chan note, 64)
			obs, events := observer()
			strategy := supervision.NewStrategy(supervision.Config{Kind: kind, Backoff: smallBackoff, Observer: obs})
			_, kids := family(t, sys, strategy, "a", childProps("a", notesA), "b", childProps("b", notesB))
			nextNote(t, notesA, "a", "started")
			nextNote(t, notesB, "b", "started")

			_, ev, _ := crashAndRestart(t, sys, kids["a"], "a", notesA, events, "a fails")
			if !ev.Child.Equal(kids["a"]) || ev.Directive != actor.RestartDirective {
				t.Fatalf("event %+v, want a restart of a", ev)
			}
			if kind == supervision.AllForOne {
				if s := nextNote(t, notesB, "b", "started"); s.incarnation != 2 {
					t.Fatalf("sibling b started incarnation %d, want 2", s.incarnation)
				}
				return
			}
			// OneForOne: b never restarts. A restart sent to b together
			// with a's would reach b's mailbox before this ping (system
			// messages overtake user messages), so b must answer as
			// incarnation 1 having reported nothing else.
			sys.Root.Send(kids["b"], &ping{})
			n := recv(t, notesB, "pong of b")
			if n.kind != "pong" || n.incarnation != 1 {
				t.Fatalf("sibling b reported %s of incarnation %d, want a pong of incarnation 1", n.kind, n.incarnation)
			}
		})
	}
}

// TestAllForOneStopStopsSiblings checks that a Stop decision under
// AllForOne stops every child.
func TestAllForOneStopStopsSiblings(t *testing.T) {
	sys := newSystem(t)
	strategy := supervision.NewStrategy(supervision.Config{
		Kind:    supervision.AllForOne,
		Decider: func(any) actor.Directive { return actor.StopDirective },
	})
	_, kids := family(t, sys, strategy, "a", childProps("a", make(chan note, 8)), "b", childProps("b", make(chan note, 8)))
	aGone, bGone := watch(t, sys, kids["a"]), watch(t, sys, kids["b"])
	sys.Root.Send(kids["a"], &crash{reason: "fatal"})
	closed(t, aGone, "Terminated of a")
	closed(t, bGone, "Terminated of b")
}

// TestDeciderStop checks that a Stop decision stops the child without a
// restart.
func TestDeciderStop(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	strategy := supervision.NewStrategy(supervision.Config{
		Decider:  func(any) actor.Directive { return actor.StopDirective },
		Observer: obs,
	})
	_, kids := family(t, sys, strategy, "c", childProps("c", notes))
	nextNote(t, notes, "c", "started")
	gone := watch(t, sys, kids["c"])
	sys.Root.Send(kids["c"], &crash{reason: "fatal"})
	if ev := recv(t, events, "stop event"); ev.Directive != actor.StopDirective || ev.GaveUp {
		t.Fatalf("event %+v, want Stop", ev)
	}
	closed(t, gone, "Terminated of the stopped child")
	for len(notes) > 0 {
		if n := <-notes; n.kind == "started" || n.kind == "restarting" {
			t.Fatalf("stopped child reported %s", n.kind)
		}
	}
}

// TestDefaultDeciderStopsOnAuthFailure checks the default decider end to
// end: a child failing with a SASL authentication error is stopped, not
// restarted.
func TestDefaultDeciderStopsOnAuthFailure(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	strategy := supervision.NewStrategy(supervision.Config{Observer: obs})
	_, kids := family(t, sys, strategy, "c", childProps("c", notes))
	gone := watch(t, sys, kids["c"])
	reason := fmt.Errorf("dial: %w", wire.ResponseErr(wire.ErrSASLAuthenticationFailed.Code, nil))
	sys.Root.Send(kids["c"], &crash{reason: reason})
	if ev := recv(t, events, "stop event"); ev.Directive != actor.StopDirective || ev.Reason != reason {
		t.Fatalf("event %+v, want Stop for %v", ev, reason)
	}
	closed(t, gone, "Terminated of the child")
}

// TestDeciderResume checks that a Resume decision keeps the same
// incarnation and its state.
func TestDeciderResume(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	strategy := supervision.NewStrategy(supervision.Config{
		Decider:  func(any) actor.Directive { return actor.ResumeDirective },
		Observer: obs,
	})
	_, kids := family(t, sys, strategy, "c", childProps("c", notes))
	nextNote(t, notes, "c", "started")
	sys.Root.Send(kids["c"], &ping{})
	if p := nextNote(t, notes, "c", "pong"); p.handled != 1 {
		t.Fatalf("first pong handled %d", p.handled)
	}
	sys.Root.Send(kids["c"], &crash{reason: "hiccup"})
	if ev := recv(t, events, "resume event"); ev.Directive != actor.ResumeDirective {
		t.Fatalf("event %+v, want Resume", ev)
	}
	sys.Root.Send(kids["c"], &ping{})
	for {
		n := recv(t, notes, "pong after resume")
		switch n.kind {
		case "started", "restarting":
			t.Fatalf("resumed child reported %s", n.kind)
		case "pong":
			if n.incarnation != 1 || n.handled != 2 {
				t.Fatalf("after resume: incarnation %d handled %d, want 1 and 2 (state kept)", n.incarnation, n.handled)
			}
			return
		}
	}
}

// TestStaleRestartSkipsNewNamesake checks that a restart whose child was
// stopped during the backoff delay does not hit a new actor spawned under
// the same name.
func TestStaleRestartSkipsNewNamesake(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	obs, events := observer()
	delay := 300 * ms // long enough to stop and respawn the child before it ends
	strategy := supervision.NewStrategy(supervision.Config{Backoff: supervision.Backoff{Initial: delay, Max: delay}, Observer: obs})
	reports := make(chan spawned, 8)
	parent := sys.Root.Spawn(spawnerProps(strategy, reports, "c", childProps("c", notes)))
	t.Cleanup(func() { stopAndWait(t, sys, parent) })
	old := recv(t, reports, "children").kids["c"]
	nextNote(t, notes, "c", "started")

	sys.Root.Send(old, &crash{reason: "boom"})
	ev := recv(t, events, "restart event")
	stopAndWait(t, sys, old) // stopped while its restart is pending
	sys.Root.Send(parent, &respawn{name: "c"})
	fresh := recv(t, reports, "respawned child").kids["c"]
	if !fresh.Equal(old) {
		t.Fatalf("respawned child %v does not reuse the name of %v", fresh, old)
	}
	started := nextNote(t, notes, "c", "started")
	// Wait past the pending restart's due time, then ask the new child: a
	// stale restart would have been processed before this ping.
	time.Sleep(time.Until(started.at.Add(ev.Delay + 50*ms)))
	sys.Root.Send(fresh, &ping{})
	for {
		n := recv(t, notes, "pong of the new child")
		switch n.kind {
		case "restarting", "started":
			t.Fatalf("new namesake %s by a stale restart", n.kind)
		case "pong":
			if n.incarnation != 2 {
				t.Fatalf("pong from incarnation %d, want the new one (2)", n.incarnation)
			}
			return
		}
	}
}
