package supervision_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Example builds the strategy a connections supervisor might use: restart
// each failed connection actor on its own after 100ms, 200ms, 400ms, ...
// up to 5s with full jitter, give up after 20 failures in a minute, and stop
// at once on credential errors (the default decider's rule).
func Example() {
	cfg := supervision.Config{
		Kind:        supervision.OneForOne,
		Backoff:     supervision.Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Max: 5 * time.Second, Jitter: true},
		MaxRestarts: 20,
		Window:      time.Minute,
		GiveUp:      supervision.GiveUpEscalate,
		Logger:      slog.New(slog.DiscardHandler), // the runtime's logger in real use
		Observer: func(supervision.Event) {
			// Count restarts in a metric, for example. Must not block.
		},
	}
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	props := actor.PropsFromProducer(func() actor.Actor { return &connectionsSupervisor{} },
		actor.WithSupervisor(supervision.NewStrategy(cfg)))
	_ = props // spawn it under the runtime's top-level actor

	// Without jitter, the delays before the first seven restarts:
	b := cfg.Backoff
	b.Jitter = false
	var delays []string
	for attempt := 1; attempt <= 7; attempt++ {
		delays = append(delays, b.Delay(attempt, nil).String())
	}
	fmt.Println(strings.Join(delays, " "))

	// What the default decider makes of two failures:
	lost := fmt.Errorf("conn broker-1: %w", io.EOF)
	fmt.Println(supervision.DefaultDecider(lost))
	fmt.Println(supervision.DefaultDecider(wire.ResponseErr(wire.ErrSASLAuthenticationFailed.Code, nil)))

	// A Window that cannot hold two restarts is refused:
	cfg.Window = 3 * time.Second
	fmt.Println(cfg.Validate())
	// Output:
	// 100ms 200ms 400ms 800ms 1.6s 3.2s 5s
	// RestartDirective
	// StopDirective
	// supervision: invalid Window 3s: must exceed Backoff.Max (5s) when MaxRestarts is limited, or the budget can never run out
}

// connectionsSupervisor stands for the runtime's supervisor of connection
// actors; it spawns them as its children.
type connectionsSupervisor struct{}

func (*connectionsSupervisor) Receive(actor.Context) {}
