package actors

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// RouterConfig configures a producer's router.
type RouterConfig struct {
	// Metadata is the PID of the metadata actor.
	Metadata *actor.PID
	// NewBatcher returns the props of the batcher of one partition.
	NewBatcher func(topic string, partition int32) *actor.Props
	// Sink receives records the router fails itself (unknown topic past the
	// delivery deadline, invalid explicit partition, abort).
	Sink Sink
	// BatchSize and BatchBytes tell the sticky partitioner when a batch of
	// keyless records is full, so it moves on to another partition.
	BatchSize, BatchBytes int
	// Seed seeds the sticky partitioner (0: random).
	Seed int64
}

type routeTopic struct {
	name        string
	partitions  int32
	err         error
	batchers    []*actor.PID
	waiting     []*Record
	sticky      *StickyPartitioner
	stickyPart  int32
	stickyCount int
	stickyBytes int
	flushAfter  bool
}

type routerSweep struct{}

// router picks the partition of each record (murmur2 of the key, sticky for
// keyless records, or the caller's explicit choice) and forwards it to the
// batcher of that partition, which it spawns on first use as its child.
type router struct {
	cfg     RouterConfig
	sys     *actor.ActorSystem
	self    *actor.PID
	topics  map[string]*routeTopic
	rnd     *rand.Rand
	swept   bool
	timer   *time.Timer
	perPart map[*actor.PID][]*Record // scratch for Records messages
	aborted error
	// stopping is set once the router is stopping: its batchers are being
	// stopped, so nothing is forwarded to them any more (it would reach the
	// dead letters) and records that still arrive fail with ErrClosed.
	stopping bool
}

// NewRouterProps returns the props of a producer's router.
func NewRouterProps(cfg RouterConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		seed := cfg.Seed
		if seed == 0 {
			seed = time.Now().UnixNano()
		}
		return &router{cfg: cfg, topics: make(map[string]*routeTopic), rnd: rand.New(rand.NewSource(seed)), perPart: make(map[*actor.PID][]*Record)}
	})
}

func (a *router) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.sys, a.self = c.ActorSystem(), c.Self()
	case *Record:
		if pid := a.route(c, m); pid != nil {
			c.Send(pid, m)
		}
	case *Records:
		for _, r := range m.Recs {
			if pid := a.route(c, r); pid != nil {
				a.perPart[pid] = append(a.perPart[pid], r)
			}
		}
		for pid, recs := range a.perPart {
			if len(recs) == 1 {
				c.Send(pid, recs[0])
			} else {
				c.Send(pid, &Records{Recs: recs})
			}
			delete(a.perPart, pid)
		}
	case *TopicInfo:
		a.onTopicInfo(c, m)
	case *FlushNow:
		if a.stopping {
			return
		}
		for _, t := range a.topics {
			if len(t.waiting) > 0 {
				t.flushAfter = true // flush them too once metadata routes them
			}
			for _, pid := range t.batchers {
				if pid != nil {
					c.Send(pid, m)
				}
			}
		}
	case *Abort:
		a.aborted = m.Err
		for _, t := range a.topics {
			a.failWaiting(t, func(*Record) error { return m.Err })
			if a.stopping {
				continue
			}
			for _, pid := range t.batchers {
				if pid != nil {
					c.Send(pid, &Abort{Err: m.Err})
				}
			}
		}
		if m.Done != nil {
			close(m.Done)
		}
	case *routerSweep:
		a.swept = false
		a.sweep()
	case *actor.Stopping:
		a.stopping = true
		if a.aborted == nil {
			a.aborted = ErrClosed
		}
		if a.timer != nil {
			a.timer.Stop()
		}
		for _, t := range a.topics {
			a.failWaiting(t, func(*Record) error { return ErrClosed })
		}
	}
}

// route returns the batcher of r's partition, or nil when r waits for
// metadata or was failed.
func (a *router) route(c actor.Context, r *Record) *actor.PID {
	if a.aborted != nil {
		a.fail(r, a.aborted)
		return nil
	}
	t := a.topics[r.Topic]
	if t == nil {
		t = &routeTopic{name: r.Topic, stickyPart: -1, sticky: NewStickyPartitioner(a.rnd)}
		a.topics[r.Topic] = t
		c.Send(a.cfg.Metadata, &TopicRequest{Topic: r.Topic, ReplyTo: c.Self()})
	}
	if t.partitions == 0 {
		if r.Span.IsSampled() {
			eventWaitMetadata(r)
		}
		t.waiting = append(t.waiting, r)
		a.armSweep()
		return nil
	}
	var p int32
	rule := "explicit"
	switch {
	case r.Explicit:
		if r.Partition < 0 || r.Partition >= t.partitions {
			a.fail(r, fmt.Errorf("%w: %s/%d (topic has %d partitions)", ErrInvalidPartition, r.Topic, r.Partition, t.partitions))
			return nil
		}
		p = r.Partition
	case r.Wire.Key != nil:
		p, rule = KeyPartition(r.Wire.Key, t.partitions), "key"
	default:
		rule = "sticky"
		if t.stickyPart < 0 || t.stickyPart >= t.partitions || t.stickyCount >= a.cfg.BatchSize || t.stickyBytes >= a.cfg.BatchBytes {
			if t.stickyPart >= 0 {
				t.sticky.OnNewBatch(t.partitions, t.stickyPart)
			}
			t.stickyPart = t.sticky.Partition(t.partitions)
			t.stickyCount, t.stickyBytes = 0, 0
		}
		p = t.stickyPart
		t.stickyCount++
		t.stickyBytes += r.Size
	}
	r.Partition = p
	if r.Span.IsSampled() {
		eventRouted(r, rule)
	}
	return a.batcher(c, t, p)
}

func (a *router) batcher(c actor.Context, t *routeTopic, p int32) *actor.PID {
	if int(p) >= len(t.batchers) {
		t.batchers = append(t.batchers, make([]*actor.PID, int(p)+1-len(t.batchers))...)
	}
	pid := t.batchers[p]
	if pid == nil {
		pid = c.Spawn(a.cfg.NewBatcher(t.name, p))
		t.batchers[p] = pid
	}
	return pid
}

func (a *router) onTopicInfo(c actor.Context, m *TopicInfo) {
	t := a.topics[m.Topic]
	if t == nil {
		return
	}
	if m.Err != nil || m.Partitions <= 0 {
		t.err = m.Err
		if m.Err != nil && !retriable(m.Err) {
			// Waiting cannot help (credentials refused, TLS failure).
			a.failWaiting(t, func(*Record) error { return m.Err })
		}
		return
	}
	t.partitions, t.err = m.Partitions, nil
	waiting := t.waiting
	t.waiting = nil
	for _, r := range waiting {
		if pid := a.route(c, r); pid != nil {
			c.Send(pid, r)
		}
	}
	if t.flushAfter {
		t.flushAfter = false
		for _, pid := range t.batchers {
			if pid != nil {
				c.Send(pid, &FlushNow{})
			}
		}
	}
}

func (a *router) fail(r *Record, err error) {
	if !r.Explicit {
		r.Partition = -1
	}
	r.Err = err
	r.Offset = -1
	a.cfg.Sink.Deliver([]*Record{r})
}

func (a *router) failWaiting(t *routeTopic, why func(*Record) error) {
	keep := t.waiting[:0]
	var failed []*Record
	for _, r := range t.waiting {
		if err := why(r); err != nil {
			if !r.Explicit {
				r.Partition = -1
			}
			r.Err, r.Offset = err, -1
			failed = append(failed, r)
		} else {
			keep = append(keep, r)
		}
	}
	clear(t.waiting[len(keep):])
	t.waiting = keep
	if len(failed) > 0 {
		a.cfg.Sink.Deliver(failed)
	}
}

const sweepInterval = 50 * time.Millisecond

func (a *router) armSweep() {
	if a.swept {
		return
	}
	a.swept = true
	sys, self := a.sys, a.self
	a.timer = time.AfterFunc(sweepInterval, func() { sys.Root.Send(self, &routerSweep{}) })
}

// sweep fails waiting records whose delivery deadline passed or whose
// context ended.
func (a *router) sweep() {
	now := time.Now()
	pending := false
	for _, t := range a.topics {
		a.failWaiting(t, func(r *Record) error {
			if err := r.cancelled(); err != nil {
				return err
			}
			if !r.Deadline.IsZero() && now.After(r.Deadline) {
				if t.err != nil {
					return fmt.Errorf("%w: %w", ErrDeliveryTimeout, t.err)
				}
				return fmt.Errorf("%w: no metadata for topic %q", ErrDeliveryTimeout, t.name)
			}
			return nil
		})
		pending = pending || len(t.waiting) > 0
	}
	if pending {
		a.armSweep()
	}
}
