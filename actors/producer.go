package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// ProducerConfig configures the actor of one producer: the parent of its
// router and batchers.
type ProducerConfig struct {
	// Router configures the router (and through it the batchers).
	Router RouterConfig
	// Strategy supervises the router and the batchers (built with
	// supervision.NewStrategy from the producer's configuration).
	Strategy actor.SupervisorStrategy
	// OnRouterStopped, when set, is called on the producer actor's
	// goroutine when the router stopped for good (its supervisor gave up)
	// while the producer was not closing: the producer can route nothing
	// any more. It must not block.
	OnRouterStopped func()
	// Ready, when set, receives the router's PID once the router exists:
	// messages for it sent before then would reach the dead letters. It
	// must be buffered.
	Ready chan<- *actor.PID
	// Options are added to the producer actor's props.
	Options []actor.PropsOption
}

// producerActor is the parent of one producer's router and batchers, the
// producer[topic] of the actor tree:
//
//	producer
//	├── router               drains the producer's records, partitions them
//	├── batcher-<topic>-0-…  sends one partition's batches
//	└── batcher-<topic>-1-…
//
// The batchers are the router's siblings, not its children: protoactor stops
// an actor's children before restarting it, and a router's restart must not
// take the partitions' batches with it. The router asks this actor to spawn
// each batcher and watches it. The actor itself holds nothing that a failed
// message could leave half changed; its own supervisor resumes it.
type producerActor struct {
	cfg      ProducerConfig
	st       *routerState
	router   *actor.PID
	stopping bool // its children are stopping with it
}

// NewProducerProps returns the props of a producer actor. The router's
// state (its partitions, the records waiting for metadata) is created here
// and outlives the router's restarts.
func NewProducerProps(cfg ProducerConfig) *actor.Props {
	st := newRouterState(cfg.Router)
	opts := append([]actor.PropsOption{actor.WithSupervisor(cfg.Strategy)}, cfg.Options...)
	return actor.PropsFromProducer(func() actor.Actor {
		return &producerActor{cfg: cfg, st: st}
	}, opts...)
}

func (a *producerActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		if a.router == nil {
			pid, err := c.SpawnNamed(newRouterProps(a.cfg.Router, a.st), "router")
			if err != nil {
				panic(err) // the name is ours alone: this cannot happen
			}
			a.router = pid
			if a.cfg.Ready != nil {
				select {
				case a.cfg.Ready <- pid:
				default:
				}
			}
		}
	case *actor.Stopping:
		a.stopping = true
	case *spawnBatcher:
		pid := c.SpawnPrefix(m.props, m.prefix)
		c.Send(m.replyTo, &batcherSpawned{part: m.part, pid: pid})
	case *actor.Terminated:
		// A child stopped for good. The router watches its batchers through
		// this parent, which sees every child end: a protoactor Watch of
		// its own would, when the producer closes, send its notices to the
		// router after it has stopped too.
		closing := a.stopping || (a.cfg.Router.Closing != nil && a.cfg.Router.Closing.Load())
		switch {
		case closing || a.router == nil:
		case m.Who.Equal(a.router):
			a.router = nil
			if a.cfg.OnRouterStopped != nil {
				a.cfg.OnRouterStopped()
			}
		default:
			c.Send(a.router, m)
		}
	}
}
