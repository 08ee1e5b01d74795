package supervision_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/rustmq/rustmq-go/supervision"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait of these tests; nothing should take near it.
const waitLimit = 5 * time.Second

// newSystem returns an actor system whose logger discards everything.
func newSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
		// Dead letters start a throttle goroutine that lives one interval;
		// keep it short so goleak does not wait on it.
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	t.Cleanup(sys.Shutdown)
	return sys
}

// note is what test actors report about themselves.
type note struct {
	name        string
	kind        string // started, restarting, crash, pong
	incarnation int
	handled     int // pings handled by this incarnation
	at          time.Time
}

// crash makes a child panic with reason.
type crash struct{ reason any }

// ping makes a child report a pong note.
type ping struct{}

// child is a supervised test actor: it reports its lifecycle and panics on
// *crash.
type child struct {
	name        string
	incarnation int
	handled     int
	notes       chan<- note
}

func (a *child) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.notes <- note{name: a.name, kind: "started", incarnation: a.incarnation, at: time.Now()}
	case *actor.Restarting:
		a.notes <- note{name: a.name, kind: "restarting", incarnation: a.incarnation, at: time.Now()}
	case *ping:
		a.handled++
		a.notes <- note{name: a.name, kind: "pong", incarnation: a.incarnation, handled: a.handled, at: time.Now()}
	case *crash:
		a.notes <- note{name: a.name, kind: "crash", incarnation: a.incarnation, at: time.Now()}
		panic(m.reason)
	}
}

// childProps returns props for a child named name; each incarnation gets
// the next number, starting at 1.
func childProps(name string, notes chan<- note) *actor.Props {
	var n atomic.Int32
	return actor.PropsFromProducer(func() actor.Actor {
		return &child{name: name, incarnation: int(n.Add(1)), notes: notes}
	})
}

// spawned is what a spawner reports after (re)starting its children.
type spawned struct {
	self *actor.PID
	kids map[string]*actor.PID
}

// respawn asks a spawner to spawn its named child again.
type respawn struct{ name string }

// spawner is a supervisor test actor: on Started it spawns its named
// children and reports their PIDs.
type spawner struct {
	kids    map[string]*actor.Props
	order   []string
	reports chan<- spawned
}

func (s *spawner) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		pids := map[string]*actor.PID{}
		for _, name := range s.order {
			pid, err := c.SpawnNamed(s.kids[name], name)
			if err != nil {
				panic(err) // names are unique per spawner; a clash is a bug of the test
			}
			pids[name] = pid
		}
		s.reports <- spawned{self: c.Self(), kids: pids}
	case *respawn:
		pid, _ := c.SpawnNamed(s.kids[m.name], m.name)
		s.reports <- spawned{self: c.Self(), kids: map[string]*actor.PID{m.name: pid}}
	}
}

// spawnerProps returns props of a spawner of the given children (name,
// props pairs in order) supervised by strategy.
func spawnerProps(strategy actor.SupervisorStrategy, reports chan<- spawned, kids ...any) *actor.Props {
	s := &spawner{kids: map[string]*actor.Props{}}
	for i := 0; i < len(kids); i += 2 {
		name := kids[i].(string)
		s.order = append(s.order, name)
		s.kids[name] = kids[i+1].(*actor.Props)
	}
	s.reports = reports
	return actor.PropsFromProducer(func() actor.Actor {
		return &spawner{kids: s.kids, order: s.order, reports: reports}
	}, actor.WithSupervisor(strategy))
}

// watcher forwards *actor.Terminated of the watched PID.
type watcher struct {
	target *actor.PID
	done   chan struct{}
}

func (w *watcher) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		c.Watch(w.target)
	case *actor.Terminated:
		if m.Who.Equal(w.target) {
			close(w.done)
		}
	}
}

// watch returns a channel closed when pid terminates, observed through
// protoactor's Watch by an actor that the test stops at cleanup.
func watch(t *testing.T, sys *actor.ActorSystem, pid *actor.PID) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	w := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &watcher{target: pid, done: done} }))
	t.Cleanup(func() { sys.Root.Stop(w) })
	return done
}

// stopAndWait stops pid and waits for its termination (without futures,
// which protoactor's pinned version implements racily).
func stopAndWait(t *testing.T, sys *actor.ActorSystem, pid *actor.PID) {
	t.Helper()
	done := make(chan struct{})
	w := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &watcher{target: pid, done: done} }))
	defer sys.Root.Stop(w)
	sys.Root.Stop(pid)
	closed(t, done, "termination of "+pid.Id)
}

// recv returns the next value of ch, failing the test after waitLimit.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// nextNote returns the next note of the named actor and kind, dropping
// other notes: give each actor of a test its own channel.
func nextNote(t *testing.T, notes <-chan note, name, kind string) note {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case n := <-notes:
			if n.name == name && n.kind == kind {
				return n
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s of %s", kind, name)
		}
	}
}

// closed waits for ch to be closed.
func closed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// observer returns a Config.Observer and the channel it feeds.
func observer() (func(supervision.Event), <-chan supervision.Event) {
	ch := make(chan supervision.Event, 64)
	return func(ev supervision.Event) { ch <- ev }, ch
}

// family spawns, from the root, a spawner with the given children under
// strategy and returns its PID and its children's PIDs. The spawner is
// stopped at cleanup.
func family(t *testing.T, sys *actor.ActorSystem, strategy actor.SupervisorStrategy, kids ...any) (*actor.PID, map[string]*actor.PID) {
	t.Helper()
	reports := make(chan spawned, 8)
	pid := sys.Root.Spawn(spawnerProps(strategy, reports, kids...))
	t.Cleanup(func() { stopAndWait(t, sys, pid) })
	r := recv(t, reports, "children spawned")
	return pid, r.kids
}

// logRecord is one slog record kept by recordingHandler.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

// recordingHandler keeps every record it handles on a channel.
type recordingHandler struct{ records chan<- logRecord }

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value; return true })
	h.records <- rec
	return nil
}
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordingHandler) WithGroup(string) slog.Handler      { return h }
