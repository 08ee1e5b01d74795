package actors

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/compress"
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

// BatcherConfig configures the batcher of one topic-partition.
type BatcherConfig struct {
	Topic     string
	Partition int32
	// BatchSize closes a batch at this many records.
	BatchSize int
	// BatchBytes bounds the record bytes of one request, counted as the
	// broker counts them (wire.Record.Size of every record as written:
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
	// Codec compresses values of at least CompressThreshold bytes.
	Codec             compress.Codec
	CompressThreshold int
	// Metadata is the PID of the metadata actor.
	Metadata *actor.PID
	// Sink receives every completed record.
	Sink Sink
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
}

// idemOverhead is what the idempotence headers (rmq-pid and rmq-seq, eight
// bytes each) add to the wire size of the first record of a batch.
var idemOverhead = func() int {
	stamped := wire.Record{Headers: []wire.Header{
		{Key: wire.HeaderProducerID, Value: make([]byte, 8)},
		{Key: wire.HeaderSequence, Value: make([]byte, 8)},
	}}
	return stamped.Size() - (&wire.Record{}).Size()
}()

// WireSize returns the record bytes r adds to a produce request sent alone,
// as brokers count them against their max message bytes: its encoded size
// (wire.Record.Size) plus, when idempotent, the idempotence headers the
// batcher stamps on the first record of a batch. Compression never makes it
// larger: a value is compressed only when the record shrinks on the wire.
func WireSize(r *wire.Record, idempotent bool) int {
	n := r.Size()
	if idempotent {
		n += idemOverhead
	}
	return n
}

// batch is one produce request's worth of records. Its (pid, seq) stamp is
// assigned when it is first sent and changes only when the broker has said
// the batch was not written (code 45) and the producer id was rotated.
type batch struct {
	recs       []*Record
	bytes      int // record bytes as the broker counts them
	pid, seq   uint64
	body       []byte
	sends      int // attempts made
	failures   int // failed attempts
	inFlight   bool
	reqID      uint64
	predAcked  bool // every earlier record of this pid was acknowledged when it was last sent
	notWritten bool // the broker said the batch was not appended
	lastErr    error
	abandon    error // fail the batch with this when it reaches the head
	waitUntil  time.Time
	deadline   time.Time
	addr       string
	sentAt     time.Time // when the current attempt was sent
	span       trace.Span
}

// internal messages of the batcher.
type (
	lingerTick struct{ gen uint64 }
	retryTick  struct{}
	sweepTick  struct{}
	reqExpire  struct{ reqID uint64 }
)

// batcher accumulates the records of one partition into batches, sends them
// to the partition leader's connection actor with at most MaxInFlight
// outstanding, retries failures in order, and completes every record.
//
// Ordering and idempotence on retries: after any failure the batcher stops
// sending new batches (stalled), lets the requests in flight finish, then
// resends the failed batches in sequence order, one at a time, until one
// succeeds; then it pipelines again. A batch answered "out of order
// sequence" (45) while an earlier batch of its producer id was unacknowledged
// is retried with the same stamp. When a batch must be abandoned (delivery
// timeout, retry budget, an error that retrying cannot fix) the sequence of
// its producer id is broken at the broker, so the partition switches to a
// fresh random producer id starting at sequence 0; batches already stamped
// with the old id are retried with it (a duplicate is then recognised) until
// the broker says they were not written, and only then restamped.
type batcher struct {
	cfg  BatcherConfig
	bm   batchMetrics
	sys  *actor.ActorSystem
	self *actor.PID

	leader      *actor.PID
	leaderAddr  string
	leaderAsked bool

	queue      []*Record
	queueBytes int
	ctxQueued  int // queued records that carry a cancellable context
	openSince  time.Time
	lingerGen  uint64
	lingerSet  bool
	flushing   bool
	sweepSet   bool
	formed     bool // a batch was formed since the last sweep
	retrySet   bool
	retryTimer *time.Timer

	batches []*batch // sent and not yet completed, in sequence order
	stalled bool

	pid       uint64
	nextSeq   uint64
	ackedEnd  uint64 // sequence after the last acknowledged record of pid
	nextReqID uint64
	scratch   []wire.Record
	// spareBodies are request buffers of acknowledged batches, for reuse.
	spareBodies [][]byte
	aborted     error
	timers      map[uint64]*time.Timer
	quit        chan struct{} // closed when this incarnation stops
	// codecHeader is the rmq-codec header of compressed values and
	// codecOverhead what it adds to a record's wire size.
	codecHeader   wire.Header
	codecOverhead int
}

// NewBatcherProps returns the props of the batcher of one partition.
func NewBatcherProps(cfg BatcherConfig) *actor.Props {
	cfg.Logger = orDiscard(cfg.Logger)
	if cfg.Counters == nil {
		cfg.Counters = &Counters{}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = math.MaxInt
	}
	var codecHeader wire.Header
	codecOverhead := 0
	if cfg.Codec != compress.None {
		codecHeader = wire.Header{Key: wire.HeaderCodec, Value: []byte(cfg.Codec.String())}
		codecOverhead = (&wire.Record{Headers: []wire.Header{codecHeader}}).Size() - (&wire.Record{}).Size()
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &batcher{cfg: cfg, bm: newBatchMetrics(cfg), timers: make(map[uint64]*time.Timer),
			codecHeader: codecHeader, codecOverhead: codecOverhead}
	})
}

func (b *batcher) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		b.sys, b.self = c.ActorSystem(), c.Self()
		b.quit = make(chan struct{})
		if b.cfg.Idempotent {
			b.pid = b.cfg.NewProducerID()
		}
		b.askLeader(false)
	case *Record:
		b.add(m)
		b.maybeSend()
	case *Records:
		for _, r := range m.Recs {
			b.add(r)
		}
		b.maybeSend()
	case *Response:
		b.onResponse(m)
	case *LeaderInfo:
		b.leaderAsked = false
		if m.Err != nil {
			b.failAll(m.Err, false)
			return
		}
		b.leader, b.leaderAddr = m.Conn, m.Addr
		b.progress()
	case *lingerTick:
		if m.gen == b.lingerGen {
			b.lingerSet = false
			b.maybeSend()
		}
	case *retryTick:
		b.retrySet = false
		b.progress()
	case *reqExpire:
		b.onExpire(m)
	case *sweepTick:
		b.sweepSet = false
		b.sweep()
	case *FlushNow:
		if len(b.queue) > 0 {
			b.flushing = true
		}
		b.maybeSend()
	case *Abort:
		b.aborted = m.Err
		b.failAll(m.Err, true)
	case *actor.Stopping, *actor.Restarting:
		select {
		case <-b.quit:
		default:
			close(b.quit)
		}
		b.failAll(ErrClosed, true)
		for _, t := range b.timers {
			t.Stop()
		}
		if b.retryTimer != nil {
			b.retryTimer.Stop()
		}
	}
}

// add compresses r's value if asked to and queues r. A compressed value is
// kept only when it saves more than the codec header costs, so that
// compression never makes a record larger on the wire.
func (b *batcher) add(r *Record) {
	if b.aborted != nil {
		b.deliverErr([]*Record{r}, b.aborted)
		return
	}
	if b.cfg.Codec != compress.None && len(r.Wire.Value) >= b.cfg.CompressThreshold {
		if _, has := wire.HeaderValue(r.Wire.Headers, wire.HeaderCodec); !has {
			out, err := b.cfg.Codec.Compress(nil, r.Wire.Value)
			if err == nil && len(out)+b.codecOverhead < len(r.Wire.Value) {
				b.cfg.Counters.CompressedIn.Add(int64(len(r.Wire.Value)))
				b.cfg.Counters.CompressedOut.Add(int64(len(out)))
				r.Wire.Value = out
				r.Wire.Headers = append(r.Wire.Headers[:len(r.Wire.Headers):len(r.Wire.Headers)], b.codecHeader)
			}
		}
	}
	if len(b.queue) == 0 {
		b.openSince = time.Now()
	}
	r.wireSize = r.Wire.Size()
	b.queue = append(b.queue, r)
	b.queueBytes += r.wireSize
	if r.Ctx != nil {
		b.ctxQueued++
	}
	if r.Span.IsSampled() {
		eventQueued(r, len(b.queue), b.queueBytes)
	}
}

// dequeued updates the count of queued records with a context.
func (b *batcher) dequeued(recs []*Record) {
	if b.ctxQueued == 0 {
		return
	}
	for _, r := range recs {
		if r.Ctx != nil {
			b.ctxQueued--
		}
	}
}

// after sends msg to the batcher after d, unless it has stopped by then
// (mail to a stopped actor would only reach the dead letters).
func (b *batcher) after(d time.Duration, msg any) *time.Timer {
	sys, self, quit := b.sys, b.self, b.quit
	return time.AfterFunc(d, func() {
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

// progress moves the batcher on after any event.
func (b *batcher) progress() {
	if b.stalled {
		b.resumeHead()
		return
	}
	b.maybeSend()
}

// overhead is what a batch adds to the wire size of its records: the
// idempotence headers of the first record.
func (b *batcher) overhead() int {
	if b.cfg.Idempotent {
		return idemOverhead
	}
	return 0
}

// ready reports whether the open batch should be closed now.
func (b *batcher) ready(now time.Time) bool {
	if len(b.queue) == 0 {
		return false
	}
	return len(b.queue) >= b.cfg.BatchSize || b.queueBytes+b.overhead() >= b.cfg.BatchBytes || b.flushing ||
		b.cfg.Linger <= 0 || now.Sub(b.openSince) >= b.cfg.Linger
}

// maybeSend sends what may be sent while pipelining.
func (b *batcher) maybeSend() {
	if b.aborted != nil || b.stalled {
		return
	}
	if len(b.queue) > 0 {
		b.armSweep()
	}
	if b.leader == nil {
		b.askLeader(false)
		return
	}
	now := time.Now()
	// Failed batches waiting for a resend go first, in order.
	for _, bt := range b.batches {
		if !bt.inFlight {
			if bt.abandon != nil || (b.cfg.Idempotent && bt.pid != b.pid) {
				b.stalled = true
				b.resumeHead()
				return
			}
			b.send(bt)
		}
	}
	for len(b.batches) < b.cfg.MaxInFlight && b.ready(now) {
		bt := b.form(now)
		if bt == nil {
			break
		}
		b.stamp(bt)
		b.batches = append(b.batches, bt)
		b.send(bt)
	}
	if len(b.queue) > 0 && !b.lingerSet && b.cfg.Linger > 0 && !b.ready(now) {
		b.lingerSet = true
		b.lingerGen++
		b.after(b.cfg.Linger-now.Sub(b.openSince), &lingerTick{gen: b.lingerGen})
	}
}

// form takes the next batch off the queue, failing records whose context
// ended or whose delivery deadline passed on the way. The batch holds at
// most BatchSize records and BatchBytes of record bytes as written (the
// idempotence headers included), unless its first record alone is larger.
func (b *batcher) form(now time.Time) *batch {
	bt := &batch{bytes: b.overhead()}
	var dropped []*Record
	n := 0
	for n < len(b.queue) && len(bt.recs) < b.cfg.BatchSize {
		r := b.queue[n]
		sz := r.wireSize
		if len(bt.recs) > 0 && bt.bytes+sz > b.cfg.BatchBytes {
			break
		}
		n++
		b.queueBytes -= sz
		if err := r.cancelled(); err != nil {
			r.Err = err
			dropped = append(dropped, r)
			continue
		}
		if !r.Deadline.IsZero() && now.After(r.Deadline) {
			r.Err = fmt.Errorf("%w: waited in the batcher of %s/%d", ErrDeliveryTimeout, b.cfg.Topic, b.cfg.Partition)
			dropped = append(dropped, r)
			continue
		}
		if !r.Deadline.IsZero() && (bt.deadline.IsZero() || r.Deadline.Before(bt.deadline)) {
			bt.deadline = r.Deadline
		}
		bt.recs = append(bt.recs, r)
		bt.bytes += sz
	}

	b.formed = true
	// Drop the taken records from the front without moving the rest; append
	// reallocates (copying only live records) when the capacity runs out.
	b.dequeued(b.queue[:n])
	clear(b.queue[:n])
	b.queue = b.queue[n:]
	if len(bt.recs) > 0 {
		eventBatchClosed(bt.recs, bt.bytes, b.closeReason(len(bt.recs), bt.bytes))
	}
	if len(b.queue) > 0 {
		b.openSince = now
	} else {
		b.flushing = false
	}
	if len(dropped) > 0 {
		b.deliver(dropped)
	}
	if len(bt.recs) == 0 {
		return nil
	}
	return bt
}

// stamp gives bt the next sequence of the current producer id and encodes it.
func (b *batcher) stamp(bt *batch) {
	if b.cfg.Idempotent {
		bt.pid, bt.seq = b.pid, b.nextSeq
		b.nextSeq += uint64(len(bt.recs))
		bt.notWritten = false
	}
	b.encode(bt)
}

func (b *batcher) encode(bt *batch) {
	recs := b.scratch[:0]
	for i, r := range bt.recs {
		w := r.Wire
		if i == 0 && b.cfg.Idempotent {
			var pid, seq [8]byte
			binary.BigEndian.PutUint64(pid[:], bt.pid)
			binary.BigEndian.PutUint64(seq[:], bt.seq)
			w.Headers = append(w.Headers[:len(w.Headers):len(w.Headers)],
				wire.Header{Key: wire.HeaderProducerID, Value: pid[:]},
				wire.Header{Key: wire.HeaderSequence, Value: seq[:]})
		}
		recs = append(recs, w)
	}
	timeout := b.cfg.RequestTimeout.Milliseconds()
	if timeout > math.MaxUint32 {
		timeout = math.MaxUint32
	}
	req := wire.ProduceRequest{Topic: b.cfg.Topic, PartitionID: uint32(b.cfg.Partition), Records: recs, Acks: b.cfg.Acks, TimeoutMs: uint32(timeout)}
	if size := req.Size(); cap(bt.body) < size {
		bt.body = b.takeBody(size)
	}
	bt.body = req.Append(bt.body[:0])
	clear(recs)
	b.scratch = recs[:0]
}

func (b *batcher) send(bt *batch) {
	now := time.Now()
	b.nextReqID++
	bt.reqID = b.nextReqID
	bt.inFlight = true
	bt.sends++
	bt.addr = b.leaderAddr
	bt.sentAt = now
	bt.predAcked = !b.cfg.Idempotent || bt.pid != b.pid || bt.seq <= b.ackedEnd
	b.bm.sent(bt.addr, len(bt.recs), len(bt.body))
	var span trace.Span
	if b.cfg.Tracer != nil {
		bt.span = startSendSpan(b.cfg, bt)
		if bt.span != nil && bt.span.IsRecording() {
			span = bt.span
		}
	}
	b.sys.Root.Send(b.leader, &Request{
		ReqType:  wire.TypeProduce,
		Body:     bt.body,
		Deadline: now.Add(b.cfg.RequestTimeout),
		ReplyTo:  b.self,
		ID:       bt.reqID,
		Span:     span,
	})
	// A safety net for a response that never comes (the connection actor
	// was stopped for good, the message went to dead letters).
	id := bt.reqID
	b.timers[id] = b.after(b.cfg.RequestTimeout+2*time.Second, &reqExpire{reqID: id})
}

func (b *batcher) find(reqID uint64) *batch {
	for _, bt := range b.batches {
		if bt.inFlight && bt.reqID == reqID {
			return bt
		}
	}
	return nil
}

// finishRequest records the outcome of bt's request in flight (err nil on
// success) and forgets the request.
func (b *batcher) finishRequest(bt *batch, err error) {
	bt.inFlight = false
	b.bm.done(bt.addr, len(bt.recs), bt.sentAt, err)
	if t := b.timers[bt.reqID]; t != nil {
		t.Stop()
		delete(b.timers, bt.reqID)
	}
}

func (b *batcher) onExpire(m *reqExpire) {
	delete(b.timers, m.reqID)
	bt := b.find(m.reqID)
	if bt == nil {
		return
	}
	err := fmt.Errorf("%w: no response from %s", ErrRequestTimeout, bt.addr)
	b.finishRequest(bt, err)
	b.leader = nil // ask again: the connection actor may be gone
	b.failed(bt, err, "", true)
	b.progress()
}

func (b *batcher) onResponse(m *Response) {
	bt := b.find(m.ID)
	if bt == nil {
		return // an answer to an attempt already given up on
	}
	err := m.Err
	var resp wire.ProduceResponse
	if err == nil {
		if err = resp.Unmarshal(m.Body); err == nil {
			err = wire.ResponseErr(resp.ErrorCode, resp.ErrorMessage)
		}
	}
	b.finishRequest(bt, err)
	if err != nil {
		b.failed(bt, err, m.Principal, false)
		b.progress()
		return
	}
	b.succeeded(bt, resp.Offset)
	if b.stalled && !b.needsStall() {
		b.stalled = false
	}
	b.progress()
}

// needsStall reports whether an outstanding batch still needs one-at-a-time
// handling: it must be abandoned, or it carries a stale producer id.
func (b *batcher) needsStall() bool {
	for _, bt := range b.batches {
		if bt.abandon != nil || (b.cfg.Idempotent && bt.pid != b.pid) {
			return true
		}
	}
	return false
}

func (b *batcher) remove(bt *batch) {
	for i, x := range b.batches {
		if x == bt {
			copy(b.batches[i:], b.batches[i+1:])
			b.batches[len(b.batches)-1] = nil
			b.batches = b.batches[:len(b.batches)-1]
			return
		}
	}
}

func (b *batcher) succeeded(bt *batch, base uint64) {
	b.remove(bt)
	if b.cfg.Idempotent && bt.pid == b.pid && bt.seq+uint64(len(bt.recs)) > b.ackedEnd {
		b.ackedEnd = bt.seq + uint64(len(bt.recs))
	}
	endSendSpan(bt, nil)
	none := b.cfg.Acks.Level == wire.AckNone
	for i, r := range bt.recs {
		r.Partition = b.cfg.Partition
		r.Err = nil
		if none {
			r.Offset = -1
		} else {
			r.Offset = int64(base) + int64(i)
		}
	}
	b.cfg.Sink.Deliver(bt.recs)
	bt.recs = nil
	// The connection's goroutine is done with the body: keep it for reuse.
	if len(b.spareBodies) < 4 && cap(bt.body) <= 4*b.cfg.BatchBytes {
		b.spareBodies = append(b.spareBodies, bt.body[:0])
	}
	bt.body = nil
}

// takeBody returns a buffer of at least size bytes capacity.
func (b *batcher) takeBody(size int) []byte {
	for i := len(b.spareBodies) - 1; i >= 0; i-- {
		if cap(b.spareBodies[i]) >= size {
			buf := b.spareBodies[i]
			b.spareBodies = append(b.spareBodies[:i], b.spareBodies[i+1:]...)
			return buf
		}
	}
	return make([]byte, 0, size)
}
