package runtime

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/supervision"
)

// testHooks are fault injection points for this package's tests, set through
// Config.hooks (export_test.go); a runtime built by users has none.
type testHooks struct {
	// middleware is added to the props of every actor of the tree, so that
	// a test can make any actor panic on a chosen message.
	middleware []actor.ReceiverMiddleware
	// parts, when set, runs each time an actor asks for a message's
	// contents (Source.Parts), on the actor's goroutine: a test can panic
	// there to fail the router in the middle of routing.
	parts func(m *Message)
}

// propsOptions returns the options added to the props of every actor.
func (r *Runtime) propsOptions() []actor.PropsOption {
	if r.hooks == nil || len(r.hooks.middleware) == 0 {
		return nil
	}
	return []actor.PropsOption{actor.WithReceiverMiddleware(r.hooks.middleware...)}
}

// newStrategy returns the strategy of a producer's router and batchers.
func (r *Runtime) newStrategy(c supervision.Config) actor.SupervisorStrategy {
	if c.Logger == nil {
		c.Logger = r.log
	}
	return supervision.NewStrategy(c)
}
