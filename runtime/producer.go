package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Producer sends messages to one topic (by default) through the runtime's
// actors. It is safe for concurrent use.
//
// Every message accepted by Send, SendAsync, SendBatch or Stream gets
// exactly one result: acknowledged, failed by the broker, timed out
// (ErrDeliveryTimeout), cancelled through its context before it was written,
// or failed with ErrClosed when Close's context ends first.
type Producer struct {
	rt       *Runtime
	topic    string
	cfg      ProducerConfig
	router   *actor.PID
	limiter  *limiter
	known    tracker // accepted messages whose result is not known yet
	finished tracker // accepted messages whose callback has not run yet
	// gen counts the messages accepted since the last Flush began; it is
	// read under intake's read lock and replaced under its write lock.
	gen      *flushGen
	delivery *deliveryQueue
	counters actors.Counters
	tracer   trace.Tracer
	// metricsReg is the registration of the producer's metrics callback;
	// nil without a MeterProvider.
	metricsReg metric.Registration
	// create holds the name and attributes of create spans of the
	// producer's topic; nil without tracing or topic. createOther caches
	// those of other topics named by messages (topic -> *createSpec).
	create      *createSpec
	createOther sync.Map
	createN     atomic.Int32 // entries in createOther

	accepted, delivered, failed atomic.Int64

	intake    sync.RWMutex
	closed    bool
	closeOnce sync.Once
	closeDone chan struct{}
	closeErr  error
}

// envelope is a message's state from acceptance to result: one allocation
// per message holds the actor record, the result and the reply hooks.
type envelope struct {
	rec  actors.Record
	res  Result
	cb   func(*Result, error)
	done chan struct{} // Send's wait; closed when the result is known
	span trace.Span
	gen  *flushGen
}

// flushGen counts the messages accepted between two Flush calls (known:
// result not known yet; finished: callback not run yet), so that Flush
// waits for the messages accepted before it and not for those other
// goroutines keep sending while it waits. A generation takes no messages
// once replaced.
type flushGen struct {
	known, finished tracker
	// prev is the generation before, nil once it and every older one are
	// known to be complete.
	prev atomic.Pointer[flushGen]
}

func newProducer(r *Runtime, topic string, cfg ProducerConfig) *Producer {
	p := &Producer{
		rt:        r,
		topic:     topic,
		cfg:       cfg,
		limiter:   newLimiter(cfg.MaxBufferedBytes, cfg.MaxBufferedRecords),
		tracer:    r.tracer,
		closeDone: make(chan struct{}),
		gen:       &flushGen{},
	}
	p.delivery = newDeliveryQueue(func(e *envelope) {
		e.gen.finished.done(1)
		p.finished.done(1)
	})
	if p.tracer != nil && topic != "" {
		p.create = p.newCreateSpec(topic)
	}
	return p
}

func newProducerID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}

func (p *Producer) routerProps() *actor.Props {
	pc := p.cfg
	acks := wire.Acks{Level: wire.AckAll}
	switch pc.Acks {
	case AcksLeader:
		acks.Level = wire.AckLeader
	case AcksNone:
		acks.Level = wire.AckNone
	}
	maxRetries := pc.MaxRetries
	if maxRetries == 0 {
		maxRetries = -1 // unlimited
	} else if maxRetries < 0 {
		maxRetries = 0
	}
	rc := &p.rt.cfg
	var meters *actors.Meters
	if p.rt.inst != nil {
		meters = p.rt.inst.meters
	}
	return actors.NewRouterProps(actors.RouterConfig{
		Metadata:   p.rt.metadata,
		Sink:       producerSink{p},
		BatchSize:  pc.BatchSize,
		BatchBytes: pc.BatchBytes,
		NewBatcher: func(topic string, partition int32) *actor.Props {
			return actors.NewBatcherProps(actors.BatcherConfig{
				Topic: topic, Partition: partition,
				BatchSize: pc.BatchSize, BatchBytes: pc.BatchBytes, Linger: pc.Linger, MaxInFlight: pc.MaxInFlight,
				Acks: acks, Idempotent: pc.idempotent(), NewProducerID: newProducerID,
				RequestTimeout: pc.RequestTimeout, Backoff: pc.RetryBackoff, MaxRetries: maxRetries,
				Codec: pc.Compression, CompressThreshold: pc.CompressThreshold,
				Metadata: p.rt.metadata, Sink: producerSink{p}, Counters: &p.counters, Meters: meters, Tracer: p.tracer,
				ClientID: rc.ClientID, Logger: p.rt.log,
			})
		},
	})
}

// prepare validates m and builds its envelope (no space reserved yet).
func (p *Producer) prepare(ctx context.Context, m *Message, now time.Time) (*envelope, error) {
	if m == nil {
		return nil, ErrNilMessage
	}
	if m.err != nil {
		return nil, m.err
	}
	topic := m.Topic
	if topic == "" {
		topic = p.topic
	}
	if topic == "" {
		return nil, ErrEmptyTopic
	}
	size := len(m.Key) + len(m.Payload)
	for _, h := range m.Headers {
		if h.Key == "" {
			return nil, fmt.Errorf("%w: empty header key", ErrInvalidMessage)
		}
		size += len(h.Key) + len(h.Value)
	}
	if m.ExplicitPartition && m.Partition < 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartition, m.Partition)
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = now
	} else if ts.UnixMilli() < 0 {
		return nil, fmt.Errorf("%w: timestamp %v is before 1970", ErrInvalidMessage, ts)
	}
	e := &envelope{}
	e.rec = actors.Record{
		Topic:     topic,
		Partition: m.Partition,
		Explicit:  m.ExplicitPartition,
		Wire:      wire.Record{Key: m.Key, Value: m.Payload, Headers: m.Headers, Timestamp: ts.UnixMilli()},
		Size:      size,
		Deadline:  now.Add(p.cfg.DeliveryTimeout),
		Owner:     e,
	}
	if ctx.Done() != nil {
		e.rec.Ctx = ctx
	}
	e.res = Result{Topic: topic, Partition: -1, Offset: -1, Timestamp: time.UnixMilli(ts.UnixMilli()), Message: m}
	if p.tracer != nil {
		p.startCreateSpan(ctx, e)
	}
	// Measured as brokers measure it, the trace headers included, so that
	// a message accepted here is not refused as too large by a broker with
	// the same limit.
	if ws := actors.WireSize(&e.rec.Wire, p.cfg.idempotent()); ws > p.cfg.MaxMessageBytes {
		err := &MessageTooLargeError{Size: ws, Max: p.cfg.MaxMessageBytes}
		p.abandonSpan(e, err)
		return nil, err
	}
	return e, nil
}

// accept reserves buffer space for e and hands it to the router.
func (p *Producer) accept(ctx context.Context, e *envelope) error {
	if err := p.limiter.acquire(ctx, int64(e.rec.Size), p.cfg.FailWhenFull); err != nil {
		p.abandonSpan(e, err)
		return err
	}
	p.intake.RLock()
	if p.closed {
		p.intake.RUnlock()
		p.limiter.release(int64(e.rec.Size), 1)
		p.abandonSpan(e, ErrClosed)
		return ErrClosed
	}
	p.known.add(1)
	p.finished.add(1)
	e.gen = p.gen
	e.gen.known.add(1)
	e.gen.finished.add(1)
	p.accepted.Add(1)
	p.rt.sys.Root.Send(p.router, &e.rec)
	p.intake.RUnlock()
	return nil
}

// Send produces m and waits for its result. It returns a validation error
// (ErrNilMessage, ErrEmptyTopic, *MessageTooLargeError, *PayloadError,
// ErrInvalidMessage, ErrInvalidPartition) before anything is queued,
// ErrClosed after Close, ErrBufferFull when the buffer is full and the
// producer fails fast, and otherwise the message's outcome.
//
// ctx bounds the wait for buffer space and for the result. A message whose
// ctx ends before it is put into a request is not written and fails with
// the context's cause; if ctx ends after that, Send returns the context's
// error at once and the message may still be written.
func (p *Producer) Send(ctx context.Context, m *Message) (*Result, error) {
	e, err := p.prepare(ctx, m, time.Now())
	if err != nil {
		return nil, err
	}
	e.done = make(chan struct{})
	if err := p.accept(ctx, e); err != nil {
		return nil, err
	}
	select {
	case <-e.done:
		return &e.res, e.res.Err
	case <-ctx.Done():
		select {
		case <-e.done:
			return &e.res, e.res.Err
		default:
		}
		return nil, fmt.Errorf("rustmq: waiting for the result: %w", context.Cause(ctx))
	}
}

// SendAsync produces m and calls cb with its result. Validation errors,
// ErrClosed and buffer errors are returned at once and cb is not called;
// otherwise cb is called exactly once.
//
// Callbacks of a producer run one at a time, in the order results become
// known, on a delivery goroutine of the producer; they should be quick. A
// callback may call Send, SendAsync, Flush or Close of the same producer
// without deadlocking (Flush and Close from a callback do not wait for the
// callbacks still queued behind it). ctx bounds the wait for buffer space;
// if it ends before the message is put into a request, the message is not
// written and cb gets the context's cause: when the batch the message
// would have joined closes (within Linger while the partition can send),
// or within about 400ms while the partition cannot send at all.
func (p *Producer) SendAsync(ctx context.Context, m *Message, cb func(*Result, error)) error {
	e, err := p.prepare(ctx, m, time.Now())
	if err != nil {
		return err
	}
	if cb == nil {
		cb = func(*Result, error) {}
	}
	e.cb = cb
	return p.accept(ctx, e)
}

// SendBatch produces msgs and waits for all their results, returned in the
// order of msgs with each message's error in Result.Err. Every message is
// validated before any is queued; a validation error is returned alone with
// no results. The returned error is nil when every message succeeded, else
// a *BatchError (errors.Is/As see each distinct failure; use [FirstErr] for
// the first). If ctx ends while waiting, the results not yet known carry
// the context's error. Messages are handed on as buffer space allows, so a
// batch larger than MaxBufferedBytes or MaxBufferedRecords is sent in parts
// rather than waiting for space it holds itself.
func (p *Producer) SendBatch(ctx context.Context, msgs []*Message) ([]*Result, error) {
	now := time.Now()
	envs := make([]*envelope, len(msgs))
	for i, m := range msgs {
		e, err := p.prepare(ctx, m, now)
		if err != nil {
			for _, pe := range envs[:i] {
				p.abandonSpan(pe, err)
			}
			return nil, fmt.Errorf("rustmq: message %d: %w", i, err)
		}
		e.done = make(chan struct{})
		envs[i] = e
	}
	results := make([]*Result, len(msgs))
	// Space is reserved message by message and the reserved messages are
	// handed to the router before waiting for more: space frees only as
	// results come in, so holding it while blocked would wait forever on a
	// batch larger than the buffer, or on two batches that each hold part.
	accepted, reserved := 0, 0
	var acceptErr error
	for reserved < len(envs) {
		size := int64(envs[reserved].rec.Size)
		if !p.limiter.tryAcquire(size) {
			if reserved > accepted {
				if acceptErr = p.dispatch(envs[accepted:reserved]); acceptErr != nil {
					break
				}
				accepted = reserved
			}
			if acceptErr = p.limiter.acquire(ctx, size, p.cfg.FailWhenFull); acceptErr != nil {
				break
			}
		}
		reserved++
	}
	if acceptErr == nil && reserved > accepted {
		if acceptErr = p.dispatch(envs[accepted:reserved]); acceptErr == nil {
			accepted = reserved
		}
	}
	for i, e := range envs {
		if i >= accepted {
			p.abandonSpan(e, acceptErr)
			r := e.res
			r.Err = acceptErr
			results[i] = &r
			continue
		}
		select {
		case <-e.done:
			results[i] = &e.res
		case <-ctx.Done():
			select {
			case <-e.done:
				results[i] = &e.res
			default:
				r := e.res
				r.Err = fmt.Errorf("rustmq: waiting for the result: %w", context.Cause(ctx))
				results[i] = &r
			}
		}
	}
	return results, batchErr(results)
}

// dispatch hands envs, whose buffer space is reserved, to the router; after
// Close it releases their space and returns ErrClosed.
func (p *Producer) dispatch(envs []*envelope) error {
	p.intake.RLock()
	defer p.intake.RUnlock()
	if p.closed {
		for _, e := range envs {
			p.limiter.release(int64(e.rec.Size), 1)
		}
		return ErrClosed
	}
	recs := make([]*actors.Record, len(envs))
	for i, e := range envs {
		recs[i] = &e.rec
		e.gen = p.gen
	}
	n := int64(len(envs))
	p.known.add(n)
	p.finished.add(n)
	p.gen.known.add(n)
	p.gen.finished.add(n)
	p.accepted.Add(n)
	p.rt.sys.Root.Send(p.router, &actors.Records{Recs: recs})
	return nil
}

func batchErr(results []*Result) error {
	var be *BatchError
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		if be == nil {
			be = &BatchError{Total: len(results)}
		}
		be.Failed++
		dup := false
		for _, e := range be.Errs {
			if e == r.Err || e.Error() == r.Err.Error() {
				dup = true
				break
			}
		}
		if !dup {
			be.Errs = append(be.Errs, r.Err)
		}
	}
	if be == nil {
		return nil
	}
	return be
}

// producerSink is the [actors.Sink] of a producer's router and batchers. It
// is a type of its own so that Deliver is not part of Producer's API.
type producerSink struct{ p *Producer }

var _ actors.Sink = producerSink{}

// Deliver implements actors.Sink.
func (s producerSink) Deliver(recs []*actors.Record) { s.p.deliver(recs) }

// deliver records each result, releases buffer space, and wakes Send or
// queues the SendAsync callback.
func (p *Producer) deliver(recs []*actors.Record) {
	var async []*envelope
	var bytes int64
	for _, r := range recs {
		e := r.Owner.(*envelope)
		e.res.Partition = r.Partition
		e.res.Offset = r.Offset
		if r.Err != nil {
			e.res.Err = p.mapErr(r)
			e.res.Offset = -1
			p.failed.Add(1)
		} else {
			p.delivered.Add(1)
		}
		if e.span != nil {
			p.endCreateSpan(e)
		}
		bytes += int64(r.Size)
		if e.cb != nil {
			async = append(async, e)
		} else {
			close(e.done)
			e.gen.finished.done(1)
		}
	}
	p.limiter.release(bytes, int64(len(recs)))
	if len(async) > 0 {
		p.delivery.push(async)
	}
	if sync := int64(len(recs) - len(async)); sync > 0 {
		p.finished.done(sync)
	}
	for _, r := range recs {
		r.Owner.(*envelope).gen.known.done(1)
	}
	p.known.done(int64(len(recs)))
}

// mapErr turns an actor-level failure into the runtime's public errors.
func (p *Producer) mapErr(r *actors.Record) error {
	err := r.Err
	var pe *actors.ProduceError
	if errors.As(err, &pe) && errors.Is(err, wire.ErrTopicAuthorizationFailed) {
		who := pe.Principal
		if who == "" {
			who = p.rt.certPrincipal
		}
		return &AuthorizationError{Topic: r.Topic, Op: "WRITE", Principal: who, Err: err}
	}
	return err
}

// Flush asks every partition to send what it holds now and waits until
// every message accepted before the call has its result and its callback
// has run (from a callback: until the results are known), or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	// The write lock makes the switch to a new generation atomic with
	// respect to acceptance: every message accepted before this point is
	// counted in old or an older generation, and none is added to them later.
	p.intake.Lock()
	closed := p.closed
	old := p.gen
	if !closed {
		p.gen = &flushGen{}
		p.gen.prev.Store(old)
		p.rt.sys.Root.Send(p.router, &actors.FlushNow{})
	}
	p.intake.Unlock()
	if closed {
		return ErrClosed
	}
	for g := old; g != nil; g = g.prev.Load() {
		if err := g.known.wait(ctx); err != nil {
			return fmt.Errorf("rustmq: flush: %w", err)
		}
	}
	if p.delivery.onDeliveryGoroutine() {
		return nil
	}
	for g := old; g != nil; g = g.prev.Load() {
		if err := g.finished.wait(ctx); err != nil {
			return fmt.Errorf("rustmq: flush: %w", err)
		}
	}
	// Every generation up to old is complete for good: later Flush calls
	// need not walk them.
	old.prev.Store(nil)
	return nil
}

// abortGrace bounds the wait for the actors to fail what they hold once
// Close's context has ended.
const abortGrace = 5 * time.Second

// Close stops intake (later sends return ErrClosed), flushes, and waits
// until every accepted message has its result or ctx ends; then it fails
// whatever is left with ErrClosed, stops the producer's actors, and waits
// for the callbacks to finish (not when called from a callback; never past
// ctx). It returns ctx's error if ctx ended before everything was
// delivered, else nil. Close never waits for a context that never ends
// once the results are known; later calls wait for the first to finish
// and return its result.
func (p *Producer) Close(ctx context.Context) error {
	first := false
	p.closeOnce.Do(func() {
		first = true
		p.closeErr = p.close(ctx)
		close(p.closeDone)
	})
	if first || p.delivery.onDeliveryGoroutine() {
		return p.closeErr
	}
	select {
	case <-p.closeDone:
		return p.closeErr
	case <-ctx.Done():
		return fmt.Errorf("rustmq: close: %w", context.Cause(ctx))
	}
}

func (p *Producer) close(ctx context.Context) error {
	p.intake.Lock()
	p.closed = true
	p.rt.sys.Root.Send(p.router, &actors.FlushNow{})
	p.intake.Unlock()
	p.limiter.close()
	var result error
	if err := p.known.wait(ctx); err != nil {
		result = fmt.Errorf("rustmq: close: %w", err)
		done := make(chan struct{})
		p.rt.sys.Root.Send(p.router, &actors.Abort{Err: fmt.Errorf("%w before the message was acknowledged: %w", ErrClosed, err), Done: done})
		grace, cancel := context.WithTimeout(context.Background(), abortGrace)
		if p.known.wait(grace) != nil {
			// Should never happen: the batchers fail what they hold as soon
			// as they see Abort. If they could not within abortGrace, say so
			// loudly rather than let the count vanish with the actors.
			p.rt.log.Error("rustmq: producer closed with messages whose results were never delivered",
				"topic", p.topic, "messages", p.known.n.Load(), "grace", abortGrace)
		}
		cancel()
	}
	// The producers supervisor stops the router and says when it has seen
	// it terminate (within ctx), so that a runtime shutdown afterwards does
	// not stop it a second time: a Stop to a terminated actor is a dead
	// letter. abortGrace bounds the wait should the supervisor be gone.
	stopped := make(chan struct{})
	p.rt.sys.Root.Send(p.rt.producers, &actors.StopChild{PID: p.router, Done: stopped})
	grace := time.NewTimer(abortGrace)
	select {
	case <-stopped:
	case <-ctx.Done():
	case <-grace.C:
	}
	grace.Stop()
	p.rt.forget(p)
	p.unregisterMetrics()
	p.delivery.close()
	if !p.delivery.onDeliveryGoroutine() {
		select {
		case <-p.delivery.done:
		case <-ctx.Done():
			if result == nil {
				result = fmt.Errorf("rustmq: close: waiting for callbacks: %w", context.Cause(ctx))
			}
		}
	}
	return result
}

// Metrics is a snapshot of a producer's counters.
type Metrics struct {
	// Accepted, Delivered and Failed count messages.
	Accepted, Delivered, Failed int64
	// BufferedBytes and BufferedRecords are held now (accepted, no result).
	BufferedBytes, BufferedRecords int64
	// BatchesSent, RecordsSent and BytesSent count produce requests written,
	// retries included.
	BatchesSent, RecordsSent, BytesSent int64
	// Retries counts batches scheduled for another attempt.
	Retries int64
	// InFlight is the number of produce requests awaiting a response.
	InFlight int64
	// ProducerIDResets counts idempotence sequences restarted under a
	// fresh producer id (after an abandoned batch).
	ProducerIDResets int64
	// CompressedIn and CompressedOut are value bytes before and after
	// compression.
	CompressedIn, CompressedOut int64
	// RequestsCompleted counts produce requests whose outcome is known
	// (the count of messaging.client.operation.duration); RequestsFailed
	// those that failed.
	RequestsCompleted, RequestsFailed int64
	// SentMessages counts the messages in those requests (the total of
	// messaging.client.sent.messages); SentMessagesFailed the messages in
	// failed ones (the points with error.type).
	SentMessages, SentMessagesFailed int64
}

// Metrics returns a snapshot of the producer's counters.
func (p *Producer) Metrics() Metrics {
	c := &p.counters
	return Metrics{
		Accepted: p.accepted.Load(), Delivered: p.delivered.Load(), Failed: p.failed.Load(),
		BufferedBytes: p.limiter.bytes.Load(), BufferedRecords: p.limiter.recs.Load(),
		BatchesSent: c.BatchesSent.Load(), RecordsSent: c.RecordsSent.Load(), BytesSent: c.BytesSent.Load(),
		Retries: c.Retries.Load(), InFlight: c.InFlight.Load(), ProducerIDResets: c.ProducerIDResets.Load(),
		CompressedIn: c.CompressedIn.Load(), CompressedOut: c.CompressedOut.Load(),
		RequestsCompleted: c.RequestsCompleted.Load(), RequestsFailed: c.RequestsFailed.Load(),
		SentMessages: c.MessagesCompleted.Load(), SentMessagesFailed: c.MessagesFailed.Load(),
	}
}

// unregisterMetrics ends the producer's metrics callback.
func (p *Producer) unregisterMetrics() {
	if p.metricsReg != nil {
		_ = p.metricsReg.Unregister()
	}
}
