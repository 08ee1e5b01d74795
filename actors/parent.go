package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// parentActor spawns children on request and supervises them with the
// strategy of its props. The runtime's top-level supervisor and its
// producers supervisor are parent actors.
type parentActor struct {
	stopping map[string][]chan struct{} // child PID id -> StopChild waiters
}

// NewParentProps returns the props of an actor that spawns a child for each
// *[SpawnChild] it receives, stops one for each *[StopChild], and applies
// strategy to its children's failures.
// opts are added to the props.
func NewParentProps(strategy actor.SupervisorStrategy, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &parentActor{stopping: make(map[string][]chan struct{})}
	}, append([]actor.PropsOption{actor.WithSupervisor(strategy)}, opts...)...)
}

func (a *parentActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *SpawnChild:
		var pid *actor.PID
		var err error
		if m.Name == "" {
			pid = c.Spawn(m.Props)
		} else {
			pid, err = c.SpawnNamed(m.Props, m.Name)
		}
		m.Reply <- SpawnResult{PID: pid, Err: err}
	case *StopChild:
		isChild := false
		for _, ch := range c.Children() {
			if ch.Equal(m.PID) {
				isChild = true
				break
			}
		}
		if !isChild {
			close(m.Done)
			return
		}
		a.stopping[m.PID.Id] = append(a.stopping[m.PID.Id], m.Done)
		c.Stop(m.PID)
	case *actor.Terminated:
		// protoactor has removed the child from the children by now.
		for _, done := range a.stopping[m.Who.Id] {
			close(done)
		}
		delete(a.stopping, m.Who.Id)
	}
}

// connSupervisor owns the connection actors, one per broker address, named
// by the address so that a restart keeps the PID.
type connSupervisor struct {
	newConfig func(addr string) ConnConfig
	opts      []actor.PropsOption
	links     map[string]*ConnLink // kept for the life of the supervisor
	conns     map[string]*actor.PID
	byID      map[string]string // PID id -> address
	watchers  map[string][]*actor.PID
	stopping  bool
}

// NewConnSupervisorProps returns the props of the connections supervisor.
// newConfig returns the configuration of the connection actor of one
// address (the supervisor sets its Link); the strategy (built by
// supervision.NewStrategy) restarts failed connection actors with backoff.
// opts are added to the props of the supervisor and of every connection
// actor.
func NewConnSupervisorProps(strategy actor.SupervisorStrategy, newConfig func(addr string) ConnConfig, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &connSupervisor{
			newConfig: newConfig,
			opts:      opts,
			links:     make(map[string]*ConnLink),
			conns:     make(map[string]*actor.PID),
			byID:      make(map[string]string),
			watchers:  make(map[string][]*actor.PID),
		}
	}, append([]actor.PropsOption{actor.WithSupervisor(strategy)}, opts...)...)
}

func (a *connSupervisor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *EnsureConn:
		if a.stopping {
			// The runtime is closing: no new connection. The asker is
			// stopping as well and needs no answer.
			return
		}
		link := a.links[m.Addr]
		if link == nil {
			link = &ConnLink{Addr: m.Addr}
			a.links[m.Addr] = link
		}
		pid := a.conns[m.Addr]
		if pid == nil {
			cfg := a.newConfig(m.Addr)
			cfg.Addr, cfg.Link = m.Addr, link
			var err error
			pid, err = c.SpawnNamed(NewConnProps(cfg, a.opts...), m.Addr)
			if err != nil {
				// The name is still registered: the previous actor of this
				// address is finishing its stop. Use its PID; the sender
				// will ask again when it learns the actor is gone.
				pid = actor.NewPID(c.Self().Address, c.Self().Id+"/"+m.Addr)
			} else {
				a.conns[m.Addr] = pid
				a.byID[pid.Id] = m.Addr
			}
		}
		if m.ReplyTo != nil {
			if !m.Once {
				a.addWatcher(m.Addr, m.ReplyTo)
			}
			c.Send(m.ReplyTo, &ConnReady{Addr: m.Addr, PID: pid, Link: link})
		}
	case *actor.Stopping:
		// The runtime is shutting down: the watchers are stopping too, and
		// ConnGone would only reach the dead letters.
		a.stopping = true
	case *actor.Terminated:
		addr, ok := a.byID[m.Who.Id]
		if !ok {
			return
		}
		delete(a.byID, m.Who.Id)
		delete(a.conns, addr)
		if a.stopping {
			return
		}
		for _, w := range a.watchers[addr] {
			c.Send(w, &ConnGone{Addr: addr})
		}
	}
}

func (a *connSupervisor) addWatcher(addr string, pid *actor.PID) {
	for _, w := range a.watchers[addr] {
		if w.Equal(pid) {
			return
		}
	}
	a.watchers[addr] = append(a.watchers[addr], pid)
}
