package supervision_test

import (
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/supervision"
)

// askCrash is a request whose handling panics; its sender waits on answer.
type askCrash struct{ answer chan error }

// FailedInActor implements supervision.Replier.
func (m *askCrash) FailedInActor(_ *actor.ActorSystem, reason any) {
	if err, ok := reason.(error); ok {
		m.answer <- err
	}
}

// crashOnAsk panics on *askCrash and reports the rest like child.
type crashOnAsk struct{ child }

func (a *crashOnAsk) Receive(c actor.Context) {
	if _, ok := c.Message().(*askCrash); ok {
		panic("cannot answer")
	}
	a.child.Receive(c)
}

// TestReplierAnsweredOnFailure: a request that made its receiver panic is
// answered by the supervisor with a *PanicError naming the actor and the
// reason, whatever the strategy decides about the child (restart here);
// without it the sender would wait for ever, as protoactor never
// redelivers the message.
func TestReplierAnsweredOnFailure(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	props := actor.PropsFromProducer(func() actor.Actor { return &crashOnAsk{child{name: "c", incarnation: 1, notes: notes}} })
	_, kids := family(t, sys, supervision.NewStrategy(supervision.Config{}), "c", props)
	nextNote(t, notes, "c", "started")
	answer := make(chan error, 1)
	sys.Root.Send(kids["c"], &askCrash{answer: answer})
	err := recv(t, answer, "answer to the failed request")
	var pe *supervision.PanicError
	if !errors.As(err, &pe) || pe.Reason != "cannot answer" || pe.Actor == "" {
		t.Fatalf("answer %v, want a PanicError", err)
	}
	nextNote(t, notes, "c", "started") // restarted
}

// TestPerChildStrategy: PerChild hands each failure to the strategy chosen
// for the failed child: one child is resumed (state kept) while its
// sibling is restarted.
func TestPerChildStrategy(t *testing.T) {
	sys := newSystem(t)
	notes := make(chan note, 64)
	resume := supervision.NewStrategy(supervision.Config{Decider: supervision.ResumeDecider})
	restart := supervision.NewStrategy(supervision.Config{})
	strategy := supervision.PerChild(func(child *actor.PID) actor.SupervisorStrategy {
		if child.Id[len(child.Id)-1] == 'r' {
			return resume
		}
		return restart
	})
	_, kids := family(t, sys, strategy, "keeper", childProps("keeper", notes), "fresh", childProps("fresh", notes))
	// The two children start in either order.
	started := map[string]bool{}
	for len(started) < 2 {
		select {
		case n := <-notes:
			if n.kind == "started" {
				started[n.name] = true
			}
		case <-time.After(waitLimit):
			t.Fatalf("children started: %v, want keeper and fresh", started)
		}
	}
	sys.Root.Send(kids["fresh"], &crash{reason: "x"})
	if n := nextNote(t, notes, "fresh", "started"); n.incarnation != 2 {
		t.Fatalf("fresh restarted as incarnation %d", n.incarnation)
	}
	sys.Root.Send(kids["keeper"], &crash{reason: "x"})
	sys.Root.Send(kids["keeper"], &ping{})
	if n := nextNote(t, notes, "keeper", "pong"); n.incarnation != 1 {
		t.Fatalf("keeper answered as incarnation %d: restarted instead of resumed", n.incarnation)
	}
}
