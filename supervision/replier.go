package supervision

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// Replier is implemented by messages whose sender waits for an answer: a
// request carrying a reply-to PID or a reply channel. protoactor does not
// redeliver the message that made an actor panic, so such a sender would
// wait forever. The strategies of this package call FailedInActor for the
// message that made a child fail, whatever they decide about the child,
// so that the sender gets an error instead; reason is what the child
// panicked with. It runs on the supervisor's goroutine and must not block.
type Replier interface {
	FailedInActor(sys *actor.ActorSystem, reason any)
}

// replyFailed answers the failed message when it is a Replier, looking
// through protoactor's envelope.
func replyFailed(sys *actor.ActorSystem, message, reason any, log *slog.Logger) {
	if env, ok := message.(*actor.MessageEnvelope); ok {
		message = env.Message
	}
	r, ok := message.(Replier)
	if !ok {
		return
	}
	defer func() {
		// An answer that panics must not take the supervisor down with it.
		if p := recover(); p != nil {
			log.Error("supervision: answering a failed message panicked", slog.String("message", fmt.Sprintf("%T", message)), slog.Any("panic", p))
		}
	}()
	r.FailedInActor(sys, reason)
}

// PanicError is the reason a Replier is given when the actor handling it
// failed: what the actor panicked with.
type PanicError struct {
	// Actor is the PID of the actor that failed.
	Actor string
	// Reason is what it panicked with.
	Reason any
}

// Error says which actor failed and why.
func (e *PanicError) Error() string {
	return fmt.Sprintf("actor %s failed: %v", e.Actor, e.Reason)
}

// Unwrap returns Reason when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Reason.(error)
	return err
}

// ResumeDecider always answers Resume: the child keeps its state and goes
// on with its next message. It suits actors whose state no message can
// leave half changed, such as a parent that only spawns and stops its
// children: restarting one would stop all its children first.
func ResumeDecider(any) actor.Directive { return actor.ResumeDirective }

// PerChild returns a strategy that hands each failure to the strategy pick
// chooses for the failed child (by its PID), so that one parent can resume
// some children and restart others. pick must not return nil.
func PerChild(pick func(child *actor.PID) actor.SupervisorStrategy) actor.SupervisorStrategy {
	return perChild(pick)
}

type perChild func(child *actor.PID) actor.SupervisorStrategy

// HandleFailure implements actor.SupervisorStrategy.
func (p perChild) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, message any) {
	p(child).HandleFailure(sys, sup, child, rs, reason, message)
}
