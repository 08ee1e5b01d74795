package actors

import (
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// MetadataConfig configures the metadata actor.
type MetadataConfig struct {
	// Bootstrap lists the broker addresses to start from.
	Bootstrap []string
	// StaticPartitions gives partition counts for topics whose metadata
	// lists no partitions (upstream brokers answer an empty topic list);
	// such partitions have no leader and go to connected brokers round
	// robin.
	StaticPartitions map[string]int
	// RefreshInterval is the period of the background refresh of every
	// topic in use; <= 0 disables it.
	RefreshInterval time.Duration
	// RequestTimeout bounds one Metadata request.
	RequestTimeout time.Duration
	// RetryBackoff spaces retries of failed metadata requests.
	RetryBackoff supervision.Backoff
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
	err         error
	subscribers []*actor.PID
}

type leaderWaiter struct {
	req       *LeaderRequest
	needFetch uint64 // answer once fetchDone reaches this
}

// internal messages of the metadata actor.
type (
	metaRefreshTick struct{}
	metaRetryTick   struct{}
	metaFetchExpire struct{ id uint64 }
)

// metadataActor answers topic and leader requests from the brokers'
// metadata. What it owes others (subscribers, waiting leader requests) and
// what it knows lives in a metaState that outlives the actor's restarts, so
// that a restart loses neither; the fetch in progress and the timers belong
// to the incarnation and are started afresh.
type metadataActor struct {
	*metaState
	cfg    MetadataConfig
	sys    *actor.ActorSystem
	self   *actor.PID
	timers []*time.Timer
}

type metaState struct {
	started  bool
	conns    map[string]*actor.PID
	links    map[string]*ConnLink
	ensuring map[string]bool
	brokers  map[string]string // broker id -> address
	topics   map[string]*topicMeta
	waiters  []leaderWaiter

	fetching     bool
	fetchID      uint64
	fetchAgain   bool
	fetchDone    uint64
	fetchFails   int
	retryPending bool
	wantFetch    bool // a fetch is needed as soon as a connection is ready
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
	st := &metaState{
		conns:    make(map[string]*actor.PID),
		links:    make(map[string]*ConnLink),
		ensuring: make(map[string]bool),
		brokers:  make(map[string]string),
		topics:   make(map[string]*topicMeta),
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &metadataActor{cfg: cfg, metaState: st}
	}, opts...)
}

func (a *metadataActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.sys, a.self = c.ActorSystem(), c.Self()
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
		if len(a.topics) > 0 {
			a.requestFetch()
		}
		a.armRefresh()
	case *metaRetryTick:
		a.retryPending = false
		a.requestFetch()
	case *actor.Stopping, *actor.Restarting:
		for _, t := range a.timers {
			t.Stop()
		}
		a.timers = nil
	}
}

// recover readies the state for a new incarnation: the fetch in progress
// and the timers died with the old one (an answer to that fetch is ignored,
// its id being stale), and requests for connections still unanswered may
// never be answered.
func (a *metadataActor) recover() {
	a.fetching, a.fetchAgain, a.retryPending = false, false, false
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

func (a *metadataActor) ensure(addr string) {
	if a.conns[addr] != nil || a.ensuring[addr] {
		return
	}
	a.ensuring[addr] = true
	a.sys.Root.Send(a.cfg.ConnSupervisor, &EnsureConn{Addr: addr, ReplyTo: a.self})
}

func (a *metadataActor) after(d time.Duration, msg any) {
	sys, self := a.sys, a.self
	a.timers = append(a.timers, time.AfterFunc(d, func() { sys.Root.Send(self, msg) }))
	if len(a.timers) > 64 {
		// Drop the references of timers that surely fired already.
		a.timers = append(a.timers[:0], a.timers[len(a.timers)-16:]...)
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

// connected returns the ready connection actors' addresses, the connected
// ones first, each group sorted.
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

func (a *metadataActor) fetch() {
	addrs := a.readyAddrs()
	if len(addrs) == 0 {
		a.wantFetch = true
		for _, addr := range a.cfg.Bootstrap {
			a.ensure(addr)
		}
		for _, addr := range a.brokers {
			a.ensure(addr)
		}
		return
	}
	a.wantFetch = false
	// Try a different broker after each failure.
	addr := addrs[(a.rr+a.fetchFails)%len(addrs)]
	names := make([]string, 0, len(a.topics))
	for name := range a.topics {
		names = append(names, name)
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
	a.after(a.cfg.RequestTimeout+time.Second, &metaFetchExpire{id: a.fetchID})
}

func (a *metadataActor) onFetchResponse(m *Response) {
	a.fetching = false
	a.fetchDone++
	var resp wire.MetadataResponse
	err := m.Err
	if err == nil {
		err = resp.Unmarshal(m.Body)
	}
	if err != nil {
		a.fetchFails++
		a.cfg.Logger.Warn("rustmq: metadata request failed", slog.String("broker", m.Addr), slog.Any("error", err))
		a.scheduleRetry()
		if !retriable(err) {
			a.reportPermanent(err)
		}
	} else {
		a.fetchFails = 0
		a.apply(&resp)
	}
	if a.fetchAgain {
		a.fetchAgain = false
		a.fetch()
	}
	a.answerLeaders()
}

func (a *metadataActor) scheduleRetry() {
	if a.retryPending {
		return
	}
	a.retryPending = true
	a.after(a.cfg.RetryBackoff.Delay(a.fetchFails, nil), &metaRetryTick{})
}

func (a *metadataActor) apply(resp *wire.MetadataResponse) {
	for _, b := range resp.Brokers {
		addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.PortQUIC)))
		a.brokers[b.ID] = addr
		a.ensure(addr)
	}
	listed := make(map[string]*wire.TopicMetadata, len(resp.TopicsMetadata))
	for i := range resp.TopicsMetadata {
		listed[resp.TopicsMetadata[i].Name] = &resp.TopicsMetadata[i]
	}
	unknown := false
	for name, t := range a.topics {
		oldN, oldKnown := t.partitions, t.known
		tm := listed[name]
		switch {
		case tm != nil && len(tm.Partitions) > 0:
			n := int32(0)
			for _, p := range tm.Partitions {
				if int32(p.PartitionID)+1 > n {
					n = int32(p.PartitionID) + 1
				}
			}
			leaders := make([]string, n)
			for _, p := range tm.Partitions {
				if p.Leader != nil {
					leaders[p.PartitionID] = a.brokers[*p.Leader]
				}
			}
			if t.known {
				for i := range leaders {
					if i < len(t.leaders) && t.leaders[i] != leaders[i] {
						a.cfg.Logger.Info("rustmq: partition leader changed", slog.String("topic", name), slog.Int("partition", i), slog.String("from", t.leaders[i]), slog.String("to", leaders[i]))
					}
				}
			}
			t.partitions, t.leaders, t.known, t.err = n, leaders, true, nil
		case a.cfg.StaticPartitions[name] > 0:
			t.partitions, t.leaders, t.known, t.err = int32(a.cfg.StaticPartitions[name]), nil, true, nil
		default:
			if !t.known {
				t.err = fmt.Errorf("%w: %q", ErrUnknownTopic, name)
				unknown = true
			}
		}
		if t.known && (t.partitions != oldN || !oldKnown) {
			for _, s := range t.subscribers {
				a.sys.Root.Send(s, &TopicInfo{Topic: name, Partitions: t.partitions})
			}
		}
	}
	if unknown {
		a.fetchFails++
		a.scheduleRetry()
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
	if a.fetchDone < w.needFetch {
		return false
	}
	r := w.req
	t := a.topics[r.Topic]
	if t == nil || !t.known {
		if t != nil && t.err != nil && a.fetchDone >= w.needFetch && w.needFetch > 0 {
			a.sys.Root.Send(r.ReplyTo, &LeaderInfo{Topic: r.Topic, Partition: r.Partition, Err: t.err})
			return true
		}
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

// reportPermanent tells the subscribers of every topic still unknown, and
// the waiting leader requests, about a failure that waiting cannot fix
// (refused credentials, TLS verification), so their records fail now.
func (a *metadataActor) reportPermanent(err error) {
	for name, t := range a.topics {
		if t.known {
			continue
		}
		for _, s := range t.subscribers {
			a.sys.Root.Send(s, &TopicInfo{Topic: name, Err: err})
		}
	}
	keep := a.waiters[:0]
	for _, w := range a.waiters {
		if t := a.topics[w.req.Topic]; t == nil || !t.known {
			a.sys.Root.Send(w.req.ReplyTo, &LeaderInfo{Topic: w.req.Topic, Partition: w.req.Partition, Err: err})
			continue
		}
		keep = append(keep, w)
	}
	clear(a.waiters[len(keep):])
	a.waiters = keep
}
