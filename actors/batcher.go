package actors

import (
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Counters are a producer's atomic counters, shared by its batchers and read
// by the runtime's metrics snapshot. All fields are safe for concurrent use.
type Counters struct {
	BatchesSent      atomic.Int64 // produce requests written (retries included)
	RecordsSent      atomic.Int64 // records in those requests
	BytesSent        atomic.Int64 // request body bytes written
	Retries          atomic.Int64 // batches scheduled for another attempt
	InFlight         atomic.Int64 // produce requests awaiting their response
	ProducerIDResets atomic.Int64 // idempotence sequences restarted under a fresh producer id
	CompressedIn     atomic.Int64 // value bytes given to the codec
	CompressedOut    atomic.Int64 // value bytes the codec produced
	// RequestsCompleted counts produce requests whose outcome is known
	// (answered, timed out, or given up on by an abort); RequestsFailed
	// those of them that failed. MessagesCompleted and MessagesFailed count
	// the records in them. They are the totals of the
	// messaging.client.operation.duration and messaging.client.sent.messages
	// instruments.
	RequestsCompleted atomic.Int64
	RequestsFailed    atomic.Int64
	MessagesCompleted atomic.Int64
	MessagesFailed    atomic.Int64
}

// BatcherConfig configures the batchers of a producer; the router fills
// Topic and Partition for each.
type BatcherConfig struct {
	Topic     string
	Partition int32
	// BatchSize closes a batch at this many records.
	BatchSize int
	// BatchBytes bounds the record bytes of one request, counted as the
	// broker counts them (the encoded size of every record as written:
	// compressed value, codec header, trace headers and, on the first
	// record, the idempotence headers). A batch closes when the next record
	// would not fit; a single record larger than BatchBytes travels alone.
	BatchBytes int
	// Linger is how long an open batch waits for more records; 0 sends as
	// soon as a request slot is free.
	Linger time.Duration
	// MaxInFlight bounds the batches sent and not yet acknowledged.
	MaxInFlight int
	// Acks is the acknowledgement level of every request.
	Acks wire.Acks
	// Idempotent stamps rmq-pid/rmq-seq on the first record of each batch.
	Idempotent bool
	// Upstream is upstream mode: batches close so that a request fits one
	// QUIC packet (transport.OneDatagramBytes), and the broker's 0xFF
	// texts are classified as upstream RustMQ writes them
	// (classifyUpstream). The connection must carry one request at a time
	// (transport.Config.SerialRequests) for a request to travel alone.
	Upstream bool
	// NewProducerID returns a fresh random producer id (never 0); called
	// at start and whenever the sequence must restart.
	NewProducerID func() uint64
	// RequestTimeout bounds one produce request.
	RequestTimeout time.Duration
	// Backoff spaces the attempts of a failed batch.
	Backoff supervision.Backoff
	// MaxRetries bounds the attempts after the first; < 0 means unlimited
	// (the delivery timeout still applies).
	MaxRetries int
	// Metadata is the PID of the metadata actor.
	Metadata *actor.PID
	// Source is the producer's record source; every record ends in its
	// Deliver.
	Source Source
	// Counters, shared with the producer.
	Counters *Counters
	// Meters, when set, receive the same measurements as Counters.
	Meters *Meters
	// Tracer starts the "send <topic>" spans; nil disables them.
	Tracer trace.Tracer
	// ClientID is reported on spans.
	ClientID string
	// Logger receives retries and producer id resets; nil discards.
	Logger *slog.Logger
	// Closing, when set and true, says the producer is closing: records
	// held when the batcher stops fail with ErrClosed rather than
	// ErrActorFailed.
	Closing *atomic.Bool
	// Options are added to the batcher's props.
	Options []actor.PropsOption
}

// batcherRun is a batcher's state that outlives its restarts: what it owes
// (the batches taken, their stamps) and the sequence it keeps. It lives in
// the partition and is only touched from the batcher's goroutine.
type batcherRun struct {
	started bool
	batches []*batch // sent at least once and not completed, in sequence order
	// sent counts the batches ever added to batches; each batch keeps its
	// number (batch.ord), so that the window of window() is counted from
	// the oldest batch not acknowledged yet.
	sent    uint64
	pending []*batch // taken from the buffer by a sweep, not sent yet
	stalled bool
	// lastFail is the partition's last failure (an attempt's, or the
	// leader lookup's) since its last success, named by the error of
	// records whose delivery timeout passes in the buffer.
	lastFail error
	pid      uint64
	nextSeq  uint64
	ackedEnd uint64 // sequence after the last acknowledged record of pid
	aborted  error
	// viaActor are the attempts sent through the connection actor's
	// mailbox, by request id, until their answer comes.
	viaActor map[uint64]*batch
	// watched is the connection actor watched (the last leader): the watch
	// outlives an incarnation, and must be undone when the batcher stops.
	watched *actor.PID
}

// internal messages of the batcher.
type (
	batcherWake struct{}
	lingerTick  struct{ gen uint64 }
	retryTick   struct{}
	sweepTick   struct{}
	// reqDone is the outcome of a request run on a live connection.
	reqDone struct {
		bt        *batch
		reqID     uint64
		base      int64
		err       error
		principal string
		delivered bool // the request's goroutine delivered the success
	}
)

var wakeBatcher = &batcherWake{}

// The batcher's messages to itself may race its stop (see Response).
func (*reqDone) IgnoreDeadLetterLogging()     {}
func (*lingerTick) IgnoreDeadLetterLogging()  {}
func (*retryTick) IgnoreDeadLetterLogging()   {}
func (*sweepTick) IgnoreDeadLetterLogging()   {}
func (*batcherWake) IgnoreDeadLetterLogging() {}

// batcher sends the batches of one partition to the partition leader with
// at most MaxInFlight outstanding, retries failures in order, and completes
// every record. The router fills the partition's buffer; the batcher takes
// from it when a request slot is free.
//
// Ordering and idempotence on retries: after any failure the batcher stops
// sending new batches (stalled), lets the requests in flight finish, then
// resends the failed batches in sequence order, one at a time and each
// after its backoff, until none of them is left; then it pipelines again. A
// batch answered "out of order sequence" (45) while an earlier batch of its
// producer id was unacknowledged is retried with the same stamp. When a
// batch must be abandoned (delivery timeout, retry budget, an error that
// retrying cannot fix) the sequence of its producer id is broken at the
// broker, so the partition switches to a fresh random producer id starting
// at sequence 0; batches already stamped with the old id are retried with
// it (a duplicate is then recognised) until the broker says they were not
// written, and only then restamped.
//
// A restart keeps the partition's batches and sequence (they live in the
// partition): attempts in flight whose outcome the batcher has not seen
// are resent with the same stamp, which an idempotent broker recognises.
type batcher struct {
	cfg  BatcherConfig
	part *partition
	run  *batcherRun
	bm   batchMetrics
	sys  *actor.ActorSystem
	self *actor.PID
	c    actor.Context

	leader      *actor.PID
	link        *ConnLink
	leaderAddr  string
	leaderAsked bool

	head      []byte // the head of the request body, for rebuilt batches
	tail      []byte // acks and timeout, appended when a batch is sealed
	lingerGen uint64
	lingerSet bool
	sweepSet  bool
	formed    bool // a batch was sent since the last sweep
	retrySet  bool
	taken     []*batch
	quit      chan struct{} // closed when this incarnation stops
	// stopped is closed when the batcher stops for good: a request's
	// goroutine then tells it nothing (the message would be a dead letter)
	// but still delivers a success it won.
	stopped chan struct{}
}

// newBatcherProps returns the props of the batcher of part.
func newBatcherProps(cfg BatcherConfig, part *partition) *actor.Props {
	cfg.Logger = orDiscard(cfg.Logger)
	if cfg.Counters == nil {
		cfg.Counters = &Counters{}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1
	}
	timeout := cfg.RequestTimeout.Milliseconds()
	if timeout > math.MaxUint32 {
		timeout = math.MaxUint32
	}
	tail := requestTail(cfg.Acks, uint32(timeout))
	return actor.PropsFromProducer(func() actor.Actor {
		return &batcher{cfg: cfg, part: part, run: &part.run, bm: newBatchMetrics(cfg), head: part.head, tail: tail}
	}, cfg.Options...)
}

func (b *batcher) Receive(c actor.Context) {
	b.c = c
	switch m := c.Message().(type) {
	case *batcherWake:
		b.progress()
	case *reqDone:
		b.onDone(m)
	case *Response:
		b.onResponse(m)
	case *LeaderInfo:
		b.onLeader(m)
	case *lingerTick:
		if m.gen == b.lingerGen {
			b.lingerSet = false
			b.progress()
		}
	case *retryTick:
		b.retrySet = false
		if b.leader == nil {
			b.askLeader(false)
		}
		b.progress()
	case *sweepTick:
		b.sweepSet = false
		b.sweep()
	case *FlushNow:
		b.progress()
	case *Abort:
		b.run.aborted = m.Err
		b.failAll(m.Err, true)
	case *actor.Terminated:
		b.onTerminated(m)
	case *actor.Started:
		b.sys, b.self = c.ActorSystem(), c.Self()
		b.quit = make(chan struct{})
		b.stopped = make(chan struct{})
		b.start()
	case *actor.Restarting:
		b.stopTimers()
	case *actor.Stopping:
		close(b.stopped)
		b.stopTimers()
		if b.run.watched != nil {
			c.Unwatch(b.run.watched) // it outlives us: no notice for a stopped actor
		}
		err := error(ErrClosed)
		if b.cfg.Closing == nil || !b.cfg.Closing.Load() {
			err = fmt.Errorf("%w: the batcher of %s/%d was stopped by its supervisor", ErrActorFailed, b.cfg.Topic, b.cfg.Partition)
		}
		b.failAll(err, true)
		for _, bt := range b.part.takeAll(true) {
			b.deliverErr(bt.recs, err)
			recycle(bt)
		}
	}
}

// start begins an incarnation. After a restart the attempts in flight are
// settled: one whose success a request goroutine already delivered keeps
// its coming reqDone; any other is treated as a failed attempt of unknown
// outcome and resent with the same stamp.
func (b *batcher) start() {
	r := b.run
	if b.cfg.Idempotent && r.pid == 0 {
		r.pid = b.cfg.NewProducerID()
	}
	if r.started {
		for _, bt := range append([]*batch(nil), r.batches...) {
			if !bt.inFlight {
				continue
			}
			if !bt.owner.CompareAndSwap(bt.reqID, 0) {
				// Its goroutine delivered the success; the reqDone saying so
				// may have been the message that was lost. Settle it here
				// (a reqDone still to come finds it settled) and leave the
				// batch to the garbage collector rather than the pool: the
				// goroutine may still be reading it.
				bt.inFlight = false
				b.remove(bt)
				if b.cfg.Idempotent && bt.pid == r.pid && bt.seq+uint64(len(bt.recs)) > r.ackedEnd {
					r.ackedEnd = bt.seq + uint64(len(bt.recs))
				}
				continue
			}
			b.finishRequest(bt, errBatcherRestarted)
			bt.failures++
			bt.lastErr = &ProduceError{Topic: b.cfg.Topic, Partition: b.cfg.Partition, Broker: bt.addr, Err: errBatcherRestarted}
			endSendSpan(bt, errBatcherRestarted)
			r.stalled = true
		}
	}
	r.started = true
	b.askLeader(false)
	b.progress()
}

var errBatcherRestarted = fmt.Errorf("%w: the batcher restarted while the request was in flight", ErrNotConnected)

func (b *batcher) stopTimers() {
	if b.quit != nil {
		select {
		case <-b.quit:
		default:
			close(b.quit)
		}
	}
	b.lingerSet, b.sweepSet, b.retrySet = false, false, false
}

// after sends msg to the batcher after d, unless this incarnation has
// stopped by then (mail to a stopped actor would reach the dead letters,
// and a restarted one arms its own timers).
func (b *batcher) after(d time.Duration, msg any) {
	sys, self, quit := b.sys, b.self, b.quit
	time.AfterFunc(d, func() {
		select {
		case <-quit:
		default:
			sys.Root.Send(self, msg)
		}
	})
}

func (b *batcher) askLeader(refresh bool) {
	if b.leaderAsked {
		return
	}
	b.leaderAsked = true
	b.sys.Root.Send(b.cfg.Metadata, &LeaderRequest{Topic: b.cfg.Topic, Partition: b.cfg.Partition, Refresh: refresh, ReplyTo: b.self})
}

func (b *batcher) onLeader(m *LeaderInfo) {
	b.leaderAsked = false
	if m.Err != nil {
		b.run.lastFail = m.Err
		if retriable(m.Err) {
			// Ask again after a pause; records wait until their deadline.
			if !b.retrySet {
				b.retrySet = true
				b.after(b.cfg.Backoff.Delay(1, nil), &retryTick{})
			}
			b.armSweep()
			return
		}
		// The answer is about the records buffered now: they are taken
		// before the first of these results goes out, so that a record
		// sent after its caller has seen one is not failed by this answer
		// too (it asks again).
		buffered := b.part.takeAll(false)
		b.failAll(m.Err, false)
		for _, bt := range buffered {
			b.deliverErr(bt.recs, m.Err)
			recycle(bt)
		}
		return
	}
	if m.Conn != nil && (b.run.watched == nil || !b.run.watched.Equal(m.Conn)) {
		if b.run.watched != nil {
			b.c.Unwatch(b.run.watched)
		}
		b.c.Watch(m.Conn)
		b.run.watched = m.Conn
	}
	b.leader, b.link, b.leaderAddr = m.Conn, m.Link, m.Addr
	b.progress()
}

// onTerminated handles the end of the leader's connection actor: its
// supervisor gave up on it. Requests queued in its mailbox will never be
// answered; they are failed now as not connected, and the leader asked for
// again (the metadata actor starts a new connection actor).
func (b *batcher) onTerminated(m *actor.Terminated) {
	if b.run.watched == nil || !b.run.watched.Equal(m.Who) {
		return
	}
	b.run.watched = nil
	if b.leader != nil && b.leader.Equal(m.Who) {
		b.leader, b.link = nil, nil
	}
	err := fmt.Errorf("%w: connection actor of %s stopped", ErrNotConnected, b.leaderAddr)
	for _, bt := range b.run.batches {
		if bt.inFlight && bt.viaActor && bt.owner.CompareAndSwap(bt.reqID, 0) {
			b.finishRequest(bt, err)
			b.failed(bt, err, "", false)
		}
	}
	// Their answers will never come: the references they hold are left to
	// the garbage collector (the actor's goroutines may still read them).
	clear(b.run.viaActor)
	b.askLeader(true)
	b.progress()
}

// progress moves the batcher on after any event.
func (b *batcher) progress() {
	r := b.run
	if r.aborted != nil {
		for _, bt := range b.takeAllBuffered() {
			b.deliverErr(bt.recs, r.aborted)
			recycle(bt)
		}
		return
	}
	if r.stalled {
		b.resumeHead()
		return
	}
	b.fill()
}

// maxInFlight is the number of batches that may be outstanding at once.
// QUIC streams do not keep their order, so a batch sent after another may
// overtake it: only an idempotent producer whose leader holds early batches
// until their predecessors arrive (the broker advertises reorder-window)
// pipelines. Anywhere else one batch at a time keeps each partition in
// order.
func (b *batcher) maxInFlight() int {
	if b.cfg.MaxInFlight > 1 && b.cfg.Idempotent && b.link.Live().Has(wire.FeatureReorderWindow) {
		return b.cfg.MaxInFlight
	}
	return 1
}

// window is how many batches were sent from the oldest one not yet
// acknowledged on, itself included: the answers come back in any order, so
// batches after it may be acknowledged while it is still out. fill keeps
// window below maxInFlight, not just the requests outstanding: an
// idempotent broker recognises a resent batch only among the last
// MaxInFlightIdempotent batches it appended of the producer id, and every
// batch sent after the oldest unacknowledged one may have been appended
// before that one is resent.
func (b *batcher) window() int {
	r := b.run
	if len(r.batches) == 0 {
		return 0
	}
	return int(r.sent - r.batches[0].ord)
}

// fill sends new batches while request slots are free.
func (b *batcher) fill() {
	r := b.run
	if b.leader == nil {
		if b.hasBuffered() {
			b.askLeader(false)
			b.armSweep()
		}
		return
	}
	now := time.Now()
	var wait time.Duration
	for b.window() < b.maxInFlight() {
		free := b.maxInFlight() - b.window()
		taken := b.taken[:0]
		for len(r.pending) > 0 && len(taken) < free {
			taken = append(taken, r.pending[0])
			r.pending[0] = nil
			r.pending = r.pending[1:]
		}
		if len(taken) == 0 {
			taken, wait = b.part.take(taken, free, now, b.cfg.Linger)
		}
		if len(taken) == 0 {
			break
		}
		for _, bt := range taken {
			if !b.seal(bt, TickOf(now.UnixNano())) {
				recycle(bt)
				continue
			}
			b.stamp(bt)
			bt.ord = r.sent
			r.sent++
			r.batches = append(r.batches, bt)
			b.send(bt, now)
		}
		clear(taken)
		b.taken = taken[:0]
	}
	if wait > 0 && !b.lingerSet && b.window() < b.maxInFlight() {
		b.lingerSet = true
		b.lingerGen++
		b.after(wait, &lingerTick{gen: b.lingerGen})
	}
	if b.hasBuffered() {
		b.armSweep()
	}
}

// hasBuffered reports whether records wait to be sent.
func (b *batcher) hasBuffered() bool { return len(b.run.pending) > 0 || b.part.buffered() }

// takeAllBuffered empties the buffer and the pending batches.
func (b *batcher) takeAllBuffered() []*batch {
	out := append(b.run.pending, b.part.takeAll(false)...)
	b.run.pending = nil
	return out
}

// seal readies a taken batch for its first send: records whose context
// ended or whose delivery deadline passed are failed and left out (the
// body is rebuilt without them), then the record count and trailer are
// written. It reports whether any record is left.
func (b *batcher) seal(bt *batch, now Tick) bool {
	if bt.sealed {
		return true
	}
	b.prune(bt, now)
	if len(bt.recs) == 0 {
		return false
	}
	bt.seal(len(b.head), b.tail)
	if b.cfg.Tracer != nil {
		bt.reason = b.closeReason(bt)
	}
	b.formed = true
	return true
}

// prune fails the records of an unsent batch whose context ended or whose
// delivery deadline passed, and rebuilds the body from the others.
func (b *batcher) prune(bt *batch, now Tick) {
	if !passed(bt.deadline, now) {
		if bt.ctxRecs == 0 || (bt.ctx != nil && ContextCause(bt.ctx) == nil) {
			return // nothing expired, and the one context is alive
		}
	}
	src := b.cfg.Source
	var expired []*Record
	keep := bt.recs[:0]
	for _, r := range bt.recs {
		if err := cancelled(src, r); err != nil {
			b.deliverErr([]*Record{r}, err)
			continue
		}
		if r.expired(now) {
			expired = append(expired, r)
			continue
		}
		keep = append(keep, r)
	}
	if len(keep) == len(bt.recs) {
		return
	}
	if len(expired) > 0 {
		err := fmt.Errorf("%w: waited in the batcher of %s/%d", ErrDeliveryTimeout, b.cfg.Topic, b.cfg.Partition)
		if last := b.run.lastFail; last != nil {
			err = fmt.Errorf("%w: waited in the batcher of %s/%d; the last failure: %w", ErrDeliveryTimeout, b.cfg.Topic, b.cfg.Partition, last)
		}
		b.deliverErr(expired, err)
	}
	clear(bt.recs[len(keep):])
	recs := keep
	bt.recs = bt.recs[:0]
	bt.body = append(bt.body[:0], b.head...)
	bt.bytes, bt.firstEnd, bt.deadline, bt.ctxRecs, bt.ctx = 0, 0, 0, 0, nil
	var p RecordParts
	for _, r := range recs {
		src.Parts(r, &p)
		size := PartsSize(&p, b.cfg.Idempotent && len(bt.recs) == 0)
		bt.add(r, &p, size, b.cfg.Idempotent)
	}
}

// stamp gives a new batch the next sequence of the current producer id.
func (b *batcher) stamp(bt *batch) {
	if !b.cfg.Idempotent || bt.stamped {
		return
	}
	r := b.run
	bt.stampWith(r.pid, r.nextSeq)
	r.nextSeq += uint64(len(bt.recs))
	bt.notWritten = false
}

// restamp gives an unwritten batch of a spent producer id the next sequence
// of the current one, in place.
func (b *batcher) restamp(bt *batch) {
	bt.stamped = false
	b.stamp(bt)
}
