package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// DefaultMaxPartitions is MetadataConfig.MaxPartitions when 0 is given.
const DefaultMaxPartitions = 100_000

// MetadataConfig configures the metadata actor.
type MetadataConfig struct {
	// Bootstrap lists the broker addresses to start from.
	Bootstrap []string
	// StaticPartitions gives partition counts for topics whose metadata
	// lists no partitions (upstream brokers answer an empty topic list);
	// such partitions have no leader and go to connected brokers round
	// robin.
	StaticPartitions map[string]int
	// Upstream says the runtime is in upstream mode: a broker that looks
	// like upstream is expected, and not named as a misconfiguration.
	Upstream bool
	// RefreshInterval is the period of the background refresh of every
	// topic in use; <= 0 disables it.
	RefreshInterval time.Duration
	// RequestTimeout bounds one Metadata request.
	RequestTimeout time.Duration
	// RetryBackoff spaces retries of failed metadata requests.
	RetryBackoff supervision.Backoff
	// UnknownTopicGrace is how long a topic the brokers' answers do not
	// list (and that has no static partition count) is asked about again
	// before it is declared unknown: its subscribers and waiting leader
	// requests get ErrUnknownTopic and the actor forgets it. It gives
	// brokers that create topics on first use the time to do so. <= 0:
	// the first answer that does not list it decides.
	UnknownTopicGrace time.Duration
	// UnreachableAfter: while no connection was ever up, once every
	// bootstrap broker has failed this many dials in a row, the topics
	// still unknown are failed with an *UnreachableError. <= 0 disables
	// it (they wait for their messages' delivery timeouts).
	UnreachableAfter int
	// MaxPartitions bounds the partitions of one topic the actor believes;
	// a topic listed with more is a *MetadataError. Default
	// DefaultMaxPartitions.
	MaxPartitions int
	// ConnSupervisor is the PID of the connections supervisor.
	ConnSupervisor *actor.PID
	// Health tells which brokers are connected.
	Health *HealthRegistry
	// Logger receives refresh failures and leader changes; nil discards.
	Logger *slog.Logger
}

type topicMeta struct {
	partitions  int32
	leaders     []string // broker address per partition, "" when none
	known       bool
	subscribers []*actor.PID
	// unknownSince is when an answer first did not list the topic (zero
	// while it is known or was not asked about yet).
	unknownSince time.Time
	// invalid is the last reason its metadata was not believed.
	invalid error
	// gone: the topic was failed with err (unknown, unreachable, invalid
	// metadata); its waiters are answered with err and the actor forgets
	// it.
	gone bool
	err  error
}

type leaderWaiter struct {
	req       *LeaderRequest
	needFetch uint64 // answer once fetchDone reaches this
}

// internal messages of the metadata actor.
type (
	metaRefreshTick struct{}
	metaRetryTick   struct{}
	metaGraceTick   struct{}
	metaFetchExpire struct{ id uint64 }
	// metaTimer is what a timer of the actor delivers: msg, once the
	// actor has forgotten the timer.
	metaTimer struct {
		id  uint64
		msg any
	}
)

// IgnoreDeadLetterLogging: a timer may race the actor's stop.
func (*metaTimer) IgnoreDeadLetterLogging() {}

// metadataActor answers topic and leader requests from the brokers'
// metadata. What it owes others (subscribers, waiting leader requests) and
// what it knows lives in a metaState that outlives the actor's restarts, so
// that a restart loses neither; the fetch in progress and the timers belong
// to the incarnation and are started afresh.
type metadataActor struct {
	*metaState
	cfg  MetadataConfig
	sys  *actor.ActorSystem
	self *actor.PID
	// timers are the incarnation's pending timers by id; each is
	// forgotten when it fires and stopped when the incarnation ends.
	timers  map[uint64]*time.Timer
	timerID uint64
	quit    chan struct{}
}

type metaState struct {
	started  bool
	conns    map[string]*actor.PID
	links    map[string]*ConnLink
	ensuring map[string]bool
	topics   map[string]*topicMeta
	waiters  []leaderWaiter

	fetching     bool
	fetchID      uint64
	fetchTimer   uint64 // the expiry timer of the fetch in progress
	fetchAgain   bool
	fetchDone    uint64
	fetchFails   int
	retryPending bool
	graceTries   int  // fetches asked for topics in their grace
	gracePending bool // a grace retry is scheduled
	wantFetch    bool // a fetch is needed as soon as a connection is ready
	unreachable  bool // the last fetch failure declared the brokers unreachable
	rr           int
}

// NewMetadataProps returns the props of the metadata actor.
// opts are added to the props.
func NewMetadataProps(cfg MetadataConfig, opts ...actor.PropsOption) *actor.Props {
	cfg.Logger = orDiscard(cfg.Logger)
	cfg.RetryBackoff = cfg.RetryBackoff.WithDefaults()
	if cfg.Health == nil {
		cfg.Health = NewHealthRegistry()
	}
	if cfg.MaxPartitions <= 0 {
		cfg.MaxPartitions = DefaultMaxPartitions
	}
	st := &metaState{
		conns:    make(map[string]*actor.PID),
		links:    make(map[string]*ConnLink),
		ensuring: make(map[string]bool),
		topics:   make(map[string]*topicMeta),
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &metadataActor{cfg: cfg, metaState: st}
	}, opts...)
}

func (a *metadataActor) Receive(c actor.Context) {
	msg := c.Message()
	if t, ok := msg.(*metaTimer); ok {
		if _, live := a.timers[t.id]; !live {
			return // stopped, or from an earlier incarnation
		}
		delete(a.timers, t.id)
		msg = t.msg
	}
	switch m := msg.(type) {
	case *actor.Started:
		a.sys, a.self = c.ActorSystem(), c.Self()
		a.timers, a.quit = make(map[uint64]*time.Timer), make(chan struct{})
		if a.started {
			a.recover()
		}
		a.started = true
		for _, addr := range a.cfg.Bootstrap {
			a.ensure(addr)
		}
		a.armRefresh()
		if a.wantFetch || len(a.waiters) > 0 {
			a.requestFetch()
		}
	case *ConnReady:
		delete(a.ensuring, m.Addr)
		if m.Err != nil || m.PID == nil {
			a.scheduleRetry()
			return
		}
		a.conns[m.Addr] = m.PID
		a.links[m.Addr] = m.Link
		if a.wantFetch && !a.fetching {
			a.fetch()
		}
		a.answerLeaders()
	case *ConnGone:
		delete(a.conns, m.Addr)
		delete(a.links, m.Addr)
	case *TopicRequest:
		t := a.topic(m.Topic)
		a.addSubscriber(t, m.ReplyTo)
		if t.known {
			a.sys.Root.Send(m.ReplyTo, &TopicInfo{Topic: m.Topic, Partitions: t.partitions})
			return
		}
		a.requestFetch()
	case *LeaderRequest:
		a.topic(m.Topic)
		w := leaderWaiter{req: m}
		if m.Refresh || !a.topics[m.Topic].known {
			w.needFetch = a.requestFetch()
		}
		a.waiters = append(a.waiters, w)
		a.answerLeaders()
	case *Response:
		if m.ID != a.fetchID || !a.fetching {
			return
		}
		a.onFetchResponse(m)
	case *metaFetchExpire:
		if m.id == a.fetchID && a.fetching {
			a.onFetchResponse(&Response{ID: m.id, Err: fmt.Errorf("%w: metadata", ErrRequestTimeout)})
		}
	case *metaRefreshTick:
		a.pruneSubscribers()
		if len(a.topics) > 0 {
			a.requestFetch()
		}
		a.armRefresh()
	case *metaRetryTick:
		a.retryPending = false
		a.requestFetch()
	case *metaGraceTick:
		a.gracePending = false
		a.requestFetch()
	case *actor.Stopping, *actor.Restarting:
		close(a.quit)
		for _, t := range a.timers {
			t.Stop()
		}
		clear(a.timers)
	}
}

// recover readies the state for a new incarnation: the fetch in progress
// and the timers died with the old one (an answer to that fetch is ignored,
// its id being stale), and requests for connections still unanswered may
// never be answered.
func (a *metadataActor) recover() {
	a.fetching, a.fetchAgain, a.retryPending, a.gracePending = false, false, false, false
	a.fetchID++
	clear(a.ensuring)
	a.wantFetch = true
}

func (a *metadataActor) topic(name string) *topicMeta {
	t := a.topics[name]
	if t == nil {
		t = &topicMeta{}
		a.topics[name] = t
	}
	return t
}

func (a *metadataActor) addSubscriber(t *topicMeta, pid *actor.PID) {
	for _, s := range t.subscribers {
		if s.Equal(pid) {
			return
		}
	}
	t.subscribers = append(t.subscribers, pid)
}

// pruneSubscribers forgets subscribers that no longer exist (closed
// producers and readers) and the topics nobody asks about any more, so
// that they leave the Metadata requests.
func (a *metadataActor) pruneSubscribers() {
	waited := make(map[string]bool, len(a.waiters))
	for _, w := range a.waiters {
		waited[w.req.Topic] = true
	}
	for name, t := range a.topics {
		keep := t.subscribers[:0]
		for _, s := range t.subscribers {
			if _, alive := a.sys.ProcessRegistry.Get(s); alive {
				keep = append(keep, s)
			}
		}
		clear(t.subscribers[len(keep):])
		t.subscribers = keep
		if len(keep) == 0 && !waited[name] {
			delete(a.topics, name)
		}
	}
}

func (a *metadataActor) ensure(addr string) {
	if a.conns[addr] != nil || a.ensuring[addr] {
		return
	}
	a.ensuring[addr] = true
	a.sys.Root.Send(a.cfg.ConnSupervisor, &EnsureConn{Addr: addr, ReplyTo: a.self})
}

// after delivers msg to the actor after d, unless the incarnation ends
// first; it returns the timer's id for cancel.
func (a *metadataActor) after(d time.Duration, msg any) uint64 {
	a.timerID++
	id := a.timerID
	sys, self, quit := a.sys, a.self, a.quit
	tm := &metaTimer{id: id, msg: msg}
	a.timers[id] = time.AfterFunc(d, func() {
		select {
		case <-quit:
		default:
			sys.Root.Send(self, tm)
		}
	})
	return id
}

// cancel stops the timer id if it has not fired.
func (a *metadataActor) cancel(id uint64) {
	if t := a.timers[id]; t != nil {
		t.Stop()
		delete(a.timers, id)
	}
}

func (a *metadataActor) armRefresh() {
	if a.cfg.RefreshInterval > 0 {
		a.after(a.cfg.RefreshInterval, &metaRefreshTick{})
	}
}

// requestFetch makes sure a fetch that starts from now on will happen and
// returns the value of fetchDone after which its answer is in.
func (a *metadataActor) requestFetch() uint64 {
	if a.fetching {
		a.fetchAgain = true
		return a.fetchDone + 2
	}
	a.fetch()
	return a.fetchDone + 1
}

// readyAddrs returns the addresses with a connection actor, the connected
// ones only if there are any, each group sorted.
func (a *metadataActor) readyAddrs() []string {
	var up, other []string
	for addr := range a.conns {
		if a.cfg.Health.Connected(addr) {
			up = append(up, addr)
		} else {
			other = append(other, addr)
		}
	}
	sort.Strings(up)
	sort.Strings(other)
	if len(up) > 0 {
		return up
	}
	return other
}

// ensureKnown asks for the connection actors of the bootstrap brokers and
// of the leaders of the partitions in use; never of every broker an answer
// listed, which a broker may make thousands.
func (a *metadataActor) ensureKnown() {
	for _, addr := range a.cfg.Bootstrap {
		a.ensure(addr)
	}
	for _, t := range a.topics {
		for _, addr := range t.leaders {
			if addr != "" {
				a.ensure(addr)
			}
		}
	}
}

func (a *metadataActor) fetch() {
	addrs := a.readyAddrs()
	if len(addrs) == 0 {
		a.wantFetch = true
		a.ensureKnown()
		return
	}
	a.wantFetch = false
	// Try a different broker after each failure.
	addr := addrs[(a.rr+a.fetchFails)%len(addrs)]
	names := make([]string, 0, len(a.topics))
	for name, t := range a.topics {
		if !t.gone {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	req := wire.MetadataRequest{Topics: names}
	a.fetchID++
	a.fetching = true
	a.sys.Root.Send(a.conns[addr], &Request{
		ReqType:  wire.TypeMetadata,
		Body:     req.Append(make([]byte, 0, req.Size())),
		Deadline: time.Now().Add(a.cfg.RequestTimeout),
		ReplyTo:  a.self,
		ID:       a.fetchID,
	})
	a.fetchTimer = a.after(a.cfg.RequestTimeout+time.Second, &metaFetchExpire{id: a.fetchID})
}

func (a *metadataActor) onFetchResponse(m *Response) {
	a.fetching = false
	a.fetchDone++
	a.cancel(a.fetchTimer)
	var resp wire.MetadataResponse
	err := m.Err
	if err == nil {
		err = resp.Unmarshal(m.Body)
	}
	if err != nil {
		a.fetchFails++
		level := slog.LevelWarn
		if a.fetchFails > 1 {
			level = slog.LevelDebug // the first failure of a series says it
		}
		a.cfg.Logger.Log(context.Background(), level, "rustmq: metadata request failed",
			slog.String("broker", m.Addr), slog.Int("failures", a.fetchFails), slog.Any("error", err))
		a.scheduleRetry()
		switch {
		case !retriable(err):
			a.failUnknown(err)
		case errors.Is(err, ErrNotConnected):
			a.checkUnreachable()
		}
	} else {
		a.fetchFails = 0
		a.unreachable = false
		a.apply(m.Addr, &resp)
	}
	if a.fetchAgain {
		a.fetchAgain = false
		a.fetch()
	}
	a.answerLeaders()
	a.purge()
}

func (a *metadataActor) scheduleRetry() {
	if a.retryPending {
		return
	}
	a.retryPending = true
	a.after(a.cfg.RetryBackoff.Delay(a.fetchFails, nil), &metaRetryTick{})
}

// checkUnreachable applies the fail-fast policy for a runtime that never
// reached a broker: once every bootstrap broker has failed
// UnreachableAfter dials in a row, the topics still unknown fail with an
// *UnreachableError listing each broker's last failure. A runtime that
// was connected once rides an outage out instead: its messages wait until
// their delivery timeouts.
func (a *metadataActor) checkUnreachable() {
	n := a.cfg.UnreachableAfter
	if n <= 0 || a.cfg.Health.Reached() {
		return
	}
	ue := &UnreachableError{}
	for _, addr := range a.cfg.Bootstrap {
		h, ok := a.cfg.Health.get(addr)
		if !ok || h.DialFailures < n {
			return
		}
		ue.Brokers = append(ue.Brokers, BrokerFailure{Addr: addr, Dials: h.DialFailures, Err: h.LastError})
	}
	level := slog.LevelDebug
	if !a.unreachable {
		level = slog.LevelWarn
		a.unreachable = true
	}
	a.cfg.Logger.Log(context.Background(), level, "rustmq: no bootstrap broker reachable; failing the messages waiting for metadata", slog.Any("error", ue))
	a.failUnknown(ue)
}

// failUnknown fails every topic still unknown with err, which waiting
// cannot fix (refused credentials, TLS verification, no broker reachable).
func (a *metadataActor) failUnknown(err error) {
	for name, t := range a.topics {
		if !t.known {
			a.fail(name, t, err)
		}
	}
}

// fail tells t's subscribers that it failed with err and marks it gone:
// its waiting leader requests are answered with err, then it is
// forgotten (purge); a later request for it starts afresh.
func (a *metadataActor) fail(name string, t *topicMeta, err error) {
	for _, s := range t.subscribers {
		a.sys.Root.Send(s, &TopicInfo{Topic: name, Err: err})
	}
	t.subscribers = nil
	t.gone, t.err = true, err
}

// purge forgets the topics that failed, once their waiters are answered.
func (a *metadataActor) purge() {
	for name, t := range a.topics {
		if t.gone {
			delete(a.topics, name)
		}
	}
}

// answerLeaders answers every waiting LeaderRequest it can.
func (a *metadataActor) answerLeaders() {
	keep := a.waiters[:0]
	for _, w := range a.waiters {
		if !a.answer(w) {
			keep = append(keep, w)
		}
	}
	clear(a.waiters[len(keep):])
	a.waiters = keep
}

func (a *metadataActor) answer(w leaderWaiter) bool {
	r := w.req
	t := a.topics[r.Topic]
	if t != nil && t.gone {
		a.sys.Root.Send(r.ReplyTo, &LeaderInfo{Topic: r.Topic, Partition: r.Partition, Err: t.err})
		return true
	}
	if a.fetchDone < w.needFetch || t == nil || !t.known {
		return false
	}
	if r.Partition < 0 || r.Partition >= t.partitions {
		a.sys.Root.Send(r.ReplyTo, &LeaderInfo{Topic: r.Topic, Partition: r.Partition,
			Err: fmt.Errorf("%w: %s/%d (topic has %d)", ErrInvalidPartition, r.Topic, r.Partition, t.partitions)})
		return true
	}
	if int(r.Partition) < len(t.leaders) && t.leaders[r.Partition] != "" {
		addr := t.leaders[r.Partition]
		pid := a.conns[addr]
		if pid == nil {
			a.ensure(addr)
			return false
		}
		a.sys.Root.Send(r.ReplyTo, &LeaderInfo{Topic: r.Topic, Partition: r.Partition, Conn: pid, Addr: addr, Link: a.links[addr]})
		return true
	}
	addrs := a.readyAddrs()
	if len(addrs) == 0 {
		for _, addr := range a.cfg.Bootstrap {
			a.ensure(addr)
		}
		return false
	}
	addr := addrs[a.rr%len(addrs)]
	a.rr++
	a.sys.Root.Send(r.ReplyTo, &LeaderInfo{Topic: r.Topic, Partition: r.Partition, Conn: a.conns[addr], Addr: addr, Link: a.links[addr]})
	return true
}
