package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// RouterConfig configures a producer's router.
type RouterConfig struct {
	// Metadata is the PID of the metadata actor.
	Metadata *actor.PID
	// Source is the producer's record source.
	Source Source
	// Batcher is the configuration of the producer's batchers; Topic and
	// Partition are filled per partition. BatchSize and BatchBytes also
	// tell the sticky partitioner when a batch of keyless records is full.
	Batcher BatcherConfig
	// Seed seeds the sticky partitioner (0: random).
	Seed int64
	// Closing, when set and true, says the producer is closing: records the
	// router still holds when it stops fail with ErrClosed rather than
	// ErrActorFailed.
	Closing *atomic.Bool
	// Health, when set, names the last connection failure in the error of
	// a message whose delivery timeout passed while no broker was
	// connected.
	Health *HealthRegistry
	// Logger receives the router's rare complaints; nil discards.
	Logger *slog.Logger
	// Options are added to the router's props.
	Options []actor.PropsOption
}

type routeTopic struct {
	name        string
	partitions  int32
	parts       []*partition
	waiting     []*Record
	sticky      *StickyPartitioner
	stickyPart  int32
	stickyCount int
	stickyBytes int
	flushAfter  bool
}

// routerState is what a router owes and knows, kept across its restarts:
// the partitions (whose buffers and batchers outlive it), the records
// waiting for metadata, and the records it was routing.
type routerState struct {
	started bool
	topics  map[string]*routeTopic
	byPID   map[string]*partition // batcher PID id -> its partition
	limits  batchLimits
	rnd     *rand.Rand
	aborted error
	// cur holds the records drained and being routed; next is the index of
	// the first one not handed on yet (to a partition, the waiting list, or
	// a failure), cursor that of the one being worked on. Records between
	// them wait in the run: consecutive records for one partition, appended
	// under one lock.
	cur     []*Record
	next    int
	cursor  int
	routing bool
	run     routeRun
	buf     []*Record
	one     [1]*Record
}

// internal messages of the router.
type (
	routerSweep struct{}
	topicRetry  struct{ topic string }
	// spawnBatcher asks the producer actor to spawn the batcher of part.
	spawnBatcher struct {
		part    *partition
		props   *actor.Props
		prefix  string
		replyTo *actor.PID
	}
	// batcherSpawned answers spawnBatcher.
	batcherSpawned struct {
		part *partition
		pid  *actor.PID
		err  error
	}
)

// The router's messages to itself may race its stop (see Response).
func (*routerSweep) IgnoreDeadLetterLogging()    {}
func (*topicRetry) IgnoreDeadLetterLogging()     {}
func (*batcherSpawned) IgnoreDeadLetterLogging() {}

// FailedInActor answers the spawn request with the failure.
func (m *spawnBatcher) FailedInActor(sys *actor.ActorSystem, reason any) {
	sys.Root.Send(m.replyTo, &batcherSpawned{part: m.part, err: actorFailed(reason)})
}

// router picks the partition of each record (murmur2 of the key, sticky for
// keyless records, or the caller's explicit choice) and encodes it into the
// open batch of that partition's buffer, waking the partition's batcher
// once per new or filled batch. It drains the producer's Source in bulk:
// one actor message per wake-up, not per record. Its batchers are its
// siblings under the producer actor, so that a restart of the router (which
// stops an actor's children) leaves them and their batches alone.
type router struct {
	cfg   RouterConfig
	st    *routerState
	sys   *actor.ActorSystem
	self  *actor.PID
	swept bool
	quit  chan struct{}

	lastName  string
	lastTopic *routeTopic
}

func newRouterState(cfg RouterConfig) *routerState {
	seed := cfg.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	bb := cfg.Batcher.BatchBytes
	if bb <= 0 {
		bb = 1 << 62
	}
	bs := max(cfg.Batcher.BatchSize, 1)
	return &routerState{
		topics: make(map[string]*routeTopic),
		byPID:  make(map[string]*partition),
		limits: batchLimits{size: bs, bytes: bb, idem: cfg.Batcher.Idempotent, frame: cfg.Batcher.upstreamFrame()},
		rnd:    rand.New(rand.NewSource(seed)),
	}
}

func newRouterProps(cfg RouterConfig, st *routerState) *actor.Props {
	cfg.Logger = orDiscard(cfg.Logger)
	return actor.PropsFromProducer(func() actor.Actor {
		return &router{cfg: cfg, st: st}
	}, cfg.Options...)
}

func (a *router) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *Wake:
		a.drain(c)
	case *TopicInfo:
		a.onTopicInfo(c, m)
	case *batcherSpawned:
		a.onSpawned(c, m)
	case *FlushNow:
		a.drain(c)
		for _, t := range a.st.topics {
			if len(t.waiting) > 0 {
				t.flushAfter = true // flush them too once metadata routes them
			}
			for _, p := range t.parts {
				if p != nil && p.markFlush() && p.batcher != nil {
					c.Send(p.batcher, wakeBatcher)
				}
			}
		}
	case *Abort:
		a.st.aborted = m.Err
		a.drain(c)
		for _, t := range a.st.topics {
			a.failWaiting(t, func(*Record) error { return m.Err })
			for _, p := range t.parts {
				if p != nil && p.batcher != nil {
					c.Send(p.batcher, &Abort{Err: m.Err})
				}
			}
		}
		closeOnce(m.Done)
	case *routerSweep:
		a.swept = false
		a.sweep()
	case *topicRetry:
		if t := a.st.topics[m.topic]; t != nil && t.partitions == 0 {
			c.Send(a.cfg.Metadata, &TopicRequest{Topic: m.topic, ReplyTo: a.self})
		}
	case *actor.Terminated:
		a.onTerminated(m)
	case *actor.Started:
		a.start(c)
	case *actor.Restarting:
		a.stopTimers()
	case *actor.Stopping:
		a.stopTimers()
		err := error(ErrClosed)
		if a.cfg.Closing == nil || !a.cfg.Closing.Load() {
			err = fmt.Errorf("%w: the router was stopped by its supervisor", ErrActorFailed)
		}
		a.st.aborted = err
		a.drain(c)
		for _, t := range a.st.topics {
			a.failWaiting(t, func(*Record) error { return err })
		}
	}
}

// start begins an incarnation. After a restart it settles the record the
// old one was routing when it failed (failed with ErrActorFailed unless it
// had been handed on: it may be what made the router panic), routes the
// rest of that drain, and asks again for the topics still unknown.
func (a *router) start(c actor.Context) {
	a.sys, a.self = c.ActorSystem(), c.Self()
	a.quit = make(chan struct{})
	st := a.st
	if st.started {
		if st.routing {
			if i := st.cursor; i >= st.next && i < len(st.cur) && st.cur[i] != nil {
				r := st.cur[i]
				st.cur[i] = nil
				a.fail(r, fmt.Errorf("%w: the router panicked while routing the message", ErrActorFailed))
			}
			st.run = routeRun{}
			a.routeRest(c)
		}
		for name, t := range st.topics {
			if t.partitions == 0 {
				c.Send(a.cfg.Metadata, &TopicRequest{Topic: name, ReplyTo: a.self})
			}
			// A wake-up owed to a batcher may have died with the old
			// incarnation.
			for _, p := range t.parts {
				if p != nil && p.batcher != nil {
					c.Send(p.batcher, wakeBatcher)
				}
			}
			if len(t.waiting) > 0 {
				a.armSweep()
			}
		}
	}
	st.started = true
	a.drain(c)
}

func (a *router) stopTimers() {
	if a.quit != nil {
		select {
		case <-a.quit:
		default:
			close(a.quit)
		}
	}
	a.swept = false
}

// after sends msg to the router after d, unless this incarnation stopped.
func (a *router) after(d time.Duration, msg any) {
	sys, self, quit := a.sys, a.self, a.quit
	time.AfterFunc(d, func() {
		select {
		case <-quit:
		default:
			sys.Root.Send(self, msg)
		}
	})
}

// drain routes every record the Source holds.
func (a *router) drain(c actor.Context) {
	st := a.st
	for {
		recs := a.cfg.Source.Drain(st.buf[:0])
		if len(recs) == 0 {
			st.buf = recs
			return
		}
		st.cur, st.next, st.routing = recs, 0, true
		a.routeRest(c)
		clear(recs)
		st.buf = recs[:0]
	}
}

// routeRun is consecutive records of cur bound for one partition.
type routeRun struct {
	part  *partition
	start int // index in cur of its first record
	n     int
}

// routeRest routes cur from next on (skipping records set to nil).
func (a *router) routeRest(c actor.Context) {
	st := a.st
	for i := st.next; i < len(st.cur); i++ {
		st.cursor = i
		r := st.cur[i]
		if r == nil {
			if st.run.n == 0 {
				st.next = i + 1
			}
			continue
		}
		part := a.place(c, r)
		if part == nil {
			// Handed on already (waiting, failed): what the run holds goes
			// first, to keep the order.
			a.flushRun(c)
			st.next = i + 1
			continue
		}
		if st.run.n > 0 && (part != st.run.part || st.run.start+st.run.n != i) {
			a.flushRun(c)
		}
		if st.run.n == 0 {
			st.run = routeRun{part: part, start: i}
		}
		st.run.n++
	}
	a.flushRun(c)
	st.cur, st.next, st.cursor, st.routing = nil, 0, 0, false
}

// flushRun encodes the run's records into their partition's open batch
// under one lock and wakes the batcher if it must be.
func (a *router) flushRun(c actor.Context) {
	st := a.st
	run := st.run
	if run.n == 0 {
		return
	}
	st.run = routeRun{}
	part := run.part
	wake, taken := part.appendRecs(st.cur[run.start:run.start+run.n], a.cfg.Source, func(k int) {
		st.cursor = run.start + k
		st.next = run.start + k
	})
	st.next = run.start + taken
	if taken < run.n {
		// Its batcher stopped for good: the partition starts afresh.
		st.run = routeRun{part: a.freshPartition(c, part), start: run.start + taken, n: run.n - taken}
		a.flushRun(c)
	}
	if wake && part.batcher != nil {
		c.Send(part.batcher, wakeBatcher)
	}
}

// freshPartition replaces old, whose batcher is gone, with a new partition.
func (a *router) freshPartition(c actor.Context, old *partition) *partition {
	t := a.st.topics[old.topic]
	if int(old.id) < len(t.parts) && t.parts[old.id] == old {
		t.parts[old.id] = nil
	}
	return a.partitionOf(c, t, old.id)
}

// topicOf returns the routing state of r's topic, creating it (and asking
// the metadata actor about it) on first use.
func (a *router) topicOf(c actor.Context, r *Record) *routeTopic {
	name := a.cfg.Source.Topic(r)
	if a.lastTopic != nil && name == a.lastName {
		return a.lastTopic
	}
	t := a.st.topics[name]
	if t == nil {
		t = &routeTopic{name: name, stickyPart: -1, sticky: NewStickyPartitioner(a.st.rnd)}
		a.st.topics[name] = t
		c.Send(a.cfg.Metadata, &TopicRequest{Topic: name, ReplyTo: a.self})
	}
	a.lastName, a.lastTopic = name, t
	return t
}

// place decides where r goes: it returns r's partition, or nil when r was
// handed on at once (to the topic's waiting list while the partition count
// is unknown, or to its failure).
func (a *router) place(c actor.Context, r *Record) *partition {
	st := a.st
	if st.aborted != nil {
		a.fail(r, st.aborted)
		return nil
	}
	t := a.topicOf(c, r)
	if t.partitions == 0 {
		t.waiting = append(t.waiting, r)
		if r.Flags&FlagSampled != 0 {
			eventWaitMetadata(a.cfg.Source, r)
		}
		a.armSweep()
		return nil
	}
	var p int32
	switch {
	case r.Flags&FlagExplicit != 0:
		if p = r.Partition(); p < 0 || p >= t.partitions {
			a.fail(r, fmt.Errorf("%w: %s/%d (topic has %d partitions)", ErrInvalidPartition, t.name, p, t.partitions))
			return nil
		}
	case r.Flags&FlagKeyed != 0:
		p = HashPartition(r.Route, t.partitions)
	default:
		if t.stickyPart < 0 || t.stickyPart >= t.partitions || t.stickyCount >= st.limits.size || t.stickyBytes >= st.limits.bytes {
			if t.stickyPart >= 0 {
				t.sticky.OnNewBatch(t.partitions, t.stickyPart)
			}
			t.stickyPart = t.sticky.Partition(t.partitions)
			t.stickyCount, t.stickyBytes = 0, 0
		}
		p = t.stickyPart
		t.stickyCount++
		t.stickyBytes += int(r.Size) // an estimate is enough to move on
	}
	// Once in its partition the record is the batcher's, which may complete
	// it (and the runtime reuse its envelope) at any moment: nothing after
	// the run is appended may read it.
	return a.partitionOf(c, t, p)
}

// partitionOf returns partition p of t, creating it and asking the
// producer actor for its batcher on first use.
func (a *router) partitionOf(c actor.Context, t *routeTopic, p int32) *partition {
	if int(p) >= len(t.parts) {
		t.parts = append(t.parts, make([]*partition, int(p)+1-len(t.parts))...)
	}
	part := t.parts[p]
	if part == nil {
		part = newPartition(t.name, p, &a.st.limits)
		t.parts[p] = part
		a.spawnBatcher(c, part)
	}
	return part
}

func (a *router) spawnBatcher(c actor.Context, part *partition) {
	cfg := a.cfg.Batcher
	cfg.Topic, cfg.Partition, cfg.Source, cfg.Closing = part.topic, part.id, a.cfg.Source, a.cfg.Closing
	if cfg.Metadata == nil {
		cfg.Metadata = a.cfg.Metadata
	}
	part.spawning = true
	c.Send(c.Parent(), &spawnBatcher{
		part:    part,
		props:   newBatcherProps(cfg, part),
		prefix:  "batcher-" + part.topic + "-" + strconv.Itoa(int(part.id)) + "-",
		replyTo: a.self,
	})
}

func (a *router) onSpawned(c actor.Context, m *batcherSpawned) {
	part := m.part
	part.spawning = false
	if m.err != nil {
		a.cfg.Logger.Warn("rustmq: spawning a batcher failed; retrying", slog.String("topic", part.topic), slog.Int("partition", int(part.id)), slog.Any("error", m.err))
		a.spawnBatcher(c, part)
		return
	}
	part.batcher = m.pid
	a.st.byPID[m.pid.Id] = part
	c.Send(m.pid, wakeBatcher)
}

// onTerminated handles the end of a batcher, which the producer actor (the
// parent of both) passes on: its supervisor gave up on it. It failed what
// it held; the partition starts afresh with the next record.
func (a *router) onTerminated(m *actor.Terminated) {
	part := a.st.byPID[m.Who.Id]
	if part == nil {
		return
	}
	delete(a.st.byPID, m.Who.Id)
	err := fmt.Errorf("%w: the batcher of %s/%d stopped", ErrActorFailed, part.topic, part.id)
	if a.cfg.Closing != nil && a.cfg.Closing.Load() {
		err = ErrClosed
	}
	for _, bt := range part.takeAll(true) {
		a.cfg.Source.Deliver(bt.recs, Outcome{Partition: part.id, Base: -1, Err: err})
		recycle(bt)
	}
	if t := a.st.topics[part.topic]; t != nil && int(part.id) < len(t.parts) && t.parts[part.id] == part {
		t.parts[part.id] = nil
	}
}

func (a *router) onTopicInfo(c actor.Context, m *TopicInfo) {
	t := a.st.topics[m.Topic]
	if t == nil {
		return
	}
	if m.Err != nil || m.Partitions <= 0 {
		switch {
		case m.Err == nil:
		case isActorFailure(m.Err):
			// The metadata actor lost the request: ask again.
			if t.partitions == 0 {
				a.after(sweepInterval, &topicRetry{topic: m.Topic})
			}
		case t.partitions == 0:
			// The metadata actor gave up on the topic (unknown, no broker
			// reachable, metadata not believed, credentials refused): the
			// waiting records fail with its reason, and the next record
			// for the topic asks again.
			a.failWaiting(t, func(*Record) error { return m.Err })
			delete(a.st.topics, m.Topic)
			if a.lastTopic == t {
				a.lastName, a.lastTopic = "", nil
			}
		}
		return
	}
	t.partitions = m.Partitions
	// Routed like a drain, so that a panic on the way loses none of them.
	st := a.st
	st.cur, st.next, st.routing = t.waiting, 0, true
	t.waiting = nil
	a.routeRest(c)
	if t.flushAfter {
		t.flushAfter = false
		for _, p := range t.parts {
			if p != nil && p.markFlush() && p.batcher != nil {
				c.Send(p.batcher, wakeBatcher)
			}
		}
	}
}

// fail delivers r's failure at once.
func isActorFailure(err error) bool { return errors.Is(err, ErrActorFailed) }

func (a *router) fail(r *Record, err error) {
	part := int32(-1)
	if r.Flags&FlagExplicit != 0 {
		part = r.Partition()
	}
	a.st.one[0] = r
	a.cfg.Source.Deliver(a.st.one[:], Outcome{Partition: part, Base: -1, Err: err})
	a.st.one[0] = nil
}

func (a *router) failWaiting(t *routeTopic, why func(*Record) error) {
	keep := t.waiting[:0]
	for _, r := range t.waiting {
		if err := why(r); err != nil {
			a.fail(r, err)
		} else {
			keep = append(keep, r)
		}
	}
	clear(t.waiting[len(keep):])
	t.waiting = keep
}

const sweepInterval = 50 * time.Millisecond

func (a *router) armSweep() {
	if a.swept {
		return
	}
	a.swept = true
	a.after(sweepInterval, &routerSweep{})
}

// sweep fails waiting records whose delivery deadline passed or whose
// context ended.
func (a *router) sweep() {
	now := TickOf(UnixNano())
	pending := false
	for _, t := range a.st.topics {
		a.failWaiting(t, func(r *Record) error {
			if err := cancelled(a.cfg.Source, r); err != nil {
				return err
			}
			if r.expired(now) {
				if h := a.cfg.Health; h != nil && !h.AnyConnected() {
					if last := h.LastFailure(); last != nil {
						return fmt.Errorf("%w: no metadata for topic %q: no broker connected; the last failure: %w", ErrDeliveryTimeout, t.name, last)
					}
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
