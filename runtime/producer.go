package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Producer sends messages to one topic (by default) through the runtime's
// actors. It is safe for concurrent use.
//
// Every message accepted by Send, SendAsync, SendBatch or Stream gets
// exactly one result: acknowledged, failed by the broker, timed out
// (ErrDeliveryTimeout), cancelled through its context before it was written,
// failed with ErrClosed when Close's context ends first, or with
// ErrActorFailed when an actor of the producer failed while holding it and
// could not hand it on.
type Producer struct {
	rt       *Runtime
	topic    string
	cfg      ProducerConfig
	idem     bool
	idemSize int // what the idempotence headers add to a record
	// timeoutMs is DeliveryTimeout in milliseconds, rounded up: what a
	// record's deadline Tick adds to its acceptance time.
	timeoutMs int64
	pid       *actor.PID // the producer actor
	router    *actor.PID
	in        *intake
	delivery  *deliveryQueue
	counters  actors.Counters
	tracer    trace.Tracer
	closing   atomic.Bool // shared with the actors
	// codecName is the rmq-codec header value of compressed values;
	// codecCost what the header adds to a record.
	codecName string
	codecCost int
	// metricsReg is the registration of the producer's metrics callback;
	// nil without a MeterProvider.
	metricsReg metric.Registration
	// create holds the name and attributes of create spans of the
	// producer's topic; nil without tracing or topic. createOther caches
	// those of other topics named by messages (topic -> *createSpec).
	create      *createSpec
	createOther sync.Map
	createN     atomic.Int32 // entries in createOther

	delivered, failed atomic.Int64
	clock             clock

	closeOnce sync.Once
	closeDone chan struct{}
	closeErr  error
}

func newProducer(r *Runtime, topic string, cfg ProducerConfig) *Producer {
	p := &Producer{
		rt:        r,
		topic:     topic,
		cfg:       cfg,
		idem:      cfg.idempotent(),
		timeoutMs: int64((cfg.DeliveryTimeout + time.Millisecond - 1) / time.Millisecond),
		in:        newIntake(cfg.MaxBufferedBytes, cfg.MaxBufferedRecords),
		tracer:    r.tracer,
		closeDone: make(chan struct{}),
	}
	p.delivery = newDeliveryQueue(p)
	p.clock.accepted = p.acceptedCount
	if p.idem {
		p.idemSize = actors.IdempotenceHeadersSize
	}
	if cfg.Compression != compress.None {
		p.codecName = cfg.Compression.String()
		p.codecCost = 16 + len(wire.HeaderCodec) + len(p.codecName)
	}
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

// actorProps returns the props of the producer's actor (router and
// batchers below it).
func (p *Producer) actorProps(ready chan<- *actor.PID) *actor.Props {
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
	opts := p.rt.propsOptions()
	return actors.NewProducerProps(actors.ProducerConfig{
		Router: actors.RouterConfig{
			Metadata: p.rt.metadata,
			Source:   source{p},
			Closing:  &p.closing,
			Health:   p.rt.health,
			Logger:   p.rt.log,
			Options:  opts,
			Batcher: actors.BatcherConfig{
				BatchSize: pc.BatchSize, BatchBytes: pc.BatchBytes, Linger: pc.Linger, MaxInFlight: pc.MaxInFlight,
				Acks: acks, Idempotent: p.idem, Upstream: p.rt.cfg.Upstream, NewProducerID: newProducerID,
				RequestTimeout: pc.RequestTimeout, Backoff: pc.RetryBackoff, MaxRetries: maxRetries,
				Metadata: p.rt.metadata, Counters: &p.counters, Meters: meters, Tracer: p.tracer,
				ClientID: rc.ClientID, Logger: p.rt.log, Options: opts,
			},
		},
		Strategy:        p.rt.newStrategy(pc.Supervision),
		OnRouterStopped: p.routerStopped,
		Ready:           ready,
		Options:         opts,
	})
}

// routerStopped runs when the router's supervisor gave up on it: nothing
// can be routed any more, so the producer refuses new messages and fails
// those still waiting for the router.
func (p *Producer) routerStopped() {
	err := fmt.Errorf("%w: the router was stopped after repeated failures; create a new producer", ErrActorFailed)
	recs := p.in.closeWith(err)
	for _, r := range recs {
		source{p}.Deliver([]*actors.Record{r}, actors.Outcome{Partition: -1, Base: -1, Err: err})
	}
}

// prepare validates m and builds its envelope (no space reserved yet).
// sync envelopes get a waiter for Send and SendBatch.
func (p *Producer) prepare(ctx context.Context, m *Message, now int64, cb func(*Result, error)) (*envelope, error) {
	if m == nil {
		return nil, ErrNilMessage
	}
	if m.err != nil {
		return nil, m.err
	}
	topic := p.topicOf(m)
	if topic == "" {
		return nil, ErrEmptyTopic
	}
	if m.Topic != "" && m.Topic != p.topic {
		// The producer's own topic was checked by CreateProducer. A bad
		// name must never reach a Metadata request: the broker would
		// refuse the whole request, every other topic's included.
		if err := wire.ValidateTopic(m.Topic); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
		}
		if err := p.rt.checkStatic(m.Topic); err != nil {
			return nil, err
		}
	}
	for i := range m.Headers {
		k := m.Headers[i].Key
		if err := wire.ValidateHeaderKey(k); err != nil {
			return nil, fmt.Errorf("%w: header %d: %w", ErrInvalidMessage, i, err)
		}
		if k == wire.HeaderProducerID || k == wire.HeaderSequence {
			// A stamp of the caller's would be taken for the runtime's by
			// an idempotent broker, and drop or refuse the batch.
			return nil, fmt.Errorf("%w: header %d: %q is the runtime's idempotence header", ErrInvalidMessage, i, k)
		}
	}
	if m.ExplicitPartition && m.Partition < 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartition, m.Partition)
	}
	if !m.Timestamp.IsZero() && m.Timestamp.UnixMilli() < 0 {
		return nil, fmt.Errorf("%w: timestamp %v is before 1970", ErrInvalidMessage, m.Timestamp)
	}
	e := &envelope{cb: cb, msg: m}
	if cb == nil {
		e.withExt().done = make(chan struct{})
	}
	e.rec.Deadline = actors.TickAt(now/int64(time.Millisecond) + p.timeoutMs)
	if m.Topic != "" {
		e.rec.Flags |= flagOwnTopic
	}
	if !m.Timestamp.IsZero() {
		e.rec.Flags |= flagOwnTimestamp
	}
	switch {
	case m.ExplicitPartition:
		e.rec.Flags |= actors.FlagExplicit
		e.rec.Route = uint32(m.Partition)
		if m.Key != nil {
			e.rec.Flags |= actors.FlagKeyed
		}
	case m.Key != nil:
		e.rec.Flags |= actors.FlagKeyed
		e.rec.Route = uint32(actors.Murmur2(m.Key))
	}
	e.setCallerCtx(ctx)
	if p.tracer != nil {
		p.startCreateSpan(ctx, e, topic)
	}
	ws := p.wireSize(e)
	// Measured as brokers measure it, the trace and idempotence headers
	// included, so that a message accepted here is not refused as too
	// large by a broker with the same limit.
	if full := ws + p.idemSize; full > p.cfg.MaxMessageBytes {
		err := &MessageTooLargeError{Size: full, Max: p.cfg.MaxMessageBytes}
		p.drop(e, err)
		return nil, err
	}
	if p.codecName != "" && len(m.Payload) >= p.cfg.CompressThreshold {
		if _, has := wire.HeaderValue(m.Headers, wire.HeaderCodec); !has && p.compress(e) {
			ws = p.wireSize(e)
		}
	}
	size := ws + envelopeOverhead
	if x := e.ext(); x != nil {
		size += extOverhead
		if x.span != nil {
			size += spanOverhead
		}
	}
	e.rec.Size = int32(size)
	return e, nil
}

// compress compresses e's value, in the caller's goroutine, and keeps the
// result only when it saves more than the codec header costs: compression
// never makes a record larger on the wire.
func (p *Producer) compress(e *envelope) bool {
	v := e.msg.Payload
	out, err := p.cfg.Compression.Compress(nil, v)
	if err != nil || len(out)+p.codecCost >= len(v) {
		return false
	}
	p.counters.CompressedIn.Add(int64(len(v)))
	p.counters.CompressedOut.Add(int64(len(out)))
	e.withExt().value = out
	return true
}

// drop abandons an envelope that was not accepted.
func (p *Producer) drop(e *envelope, err error) {
	p.abandonSpan(e, err)
}

// accept reserves buffer space for e and hands it to the router. Waiting
// for space, when the buffer is full and the producer blocks, is the only
// place a send can block; from a callback it never does (see SendAsync).
func (p *Producer) accept(ctx context.Context, e *envelope) error {
	in := p.in
	size := int64(e.rec.Size)
	in.mu.Lock()
	if err := in.closed; err != nil {
		in.mu.Unlock()
		p.drop(e, err)
		return err
	}
	if !in.fits(size, 1) {
		if err := p.waitSpaceLocked(ctx, size); err != nil {
			in.mu.Unlock()
			p.drop(e, err)
			return err
		}
	}
	wake := in.pushLocked(e)
	in.mu.Unlock()
	if wake {
		p.rt.sys.Root.Send(p.router, wakeRouter)
	}
	return nil
}

var wakeRouter = &actors.Wake{}

// waitSpaceLocked makes room for size bytes and one record, under in.mu:
// it fails fast (FailWhenFull), lends a callback its own message's space,
// or waits. It returns with in.mu held.
func (p *Producer) waitSpaceLocked(ctx context.Context, size int64) error {
	in := p.in
	if p.delivery.onCallback() {
		q := p.delivery
		// The running callback's message still holds its space, released
		// when the callback returns. A blocked callback would hold up every
		// callback behind it, whose messages hold the rest of the buffer:
		// instead, one message sent from the callback may take over that
		// space; beyond it the call fails fast.
		if !q.loanUsed {
			need := max(size-q.loanBytes, 0)
			if in.bytes+need <= in.maxBytes {
				q.loanUsed, q.loanTaken = true, min(size, q.loanBytes)
				in.bytes -= q.loanTaken
				in.count--
				return nil
			}
		}
		return fmt.Errorf("%w (from a callback, which never waits)", in.fullErrorLocked())
	}
	if p.cfg.FailWhenFull {
		return in.fullErrorLocked()
	}
	return in.waitLocked(ctx, size)
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
	e, err := p.prepare(ctx, m, p.now(), nil)
	if err != nil {
		return nil, err
	}
	x := e.ext()
	if err := p.accept(ctx, e); err != nil {
		return nil, err
	}
	select {
	case <-x.done:
		return &x.res, x.res.Err
	case <-ctx.Done():
		select {
		case <-x.done:
			return &x.res, x.res.Err
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
// message keeps its share of the buffer until its callback has
// returned, so slow callbacks slow the senders down instead of queueing
// without bound.
//
// A callback may call Send, SendAsync, SendBatch, Flush or Close of the same
// producer without deadlocking. From a callback these never wait for buffer
// space: the message whose callback is running lends its space to one
// message sent from it (so a callback can always resend its message), and
// beyond that a full buffer fails the call at once with ErrBufferFull.
// Flush and Close called from a callback wait until the results are known,
// not for the callbacks queued behind the running one.
//
// ctx bounds the wait for buffer space; if it ends before the message is
// put into a request, the message is not written and cb gets the context's
// cause: when the batch the message would have joined is sent (within
// Linger while the partition can send), or within about 400ms while the
// partition cannot send at all.
func (p *Producer) SendAsync(ctx context.Context, m *Message, cb func(*Result, error)) error {
	none := cb == nil
	if none {
		cb = noCallback
	}
	e, err := p.prepare(ctx, m, p.now(), cb)
	if err != nil {
		return err
	}
	if none {
		e.rec.Flags |= flagNoCallback
	}
	return p.accept(ctx, e)
}

func noCallback(*Result, error) {}

// now is the time of acceptance, from the producer's coarse clock.
func (p *Producer) now() int64 { return p.clock.read() }

func (p *Producer) acceptedCount() int64 {
	p.in.mu.Lock()
	defer p.in.mu.Unlock()
	return p.in.accepted
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
	now := p.now()
	envs := make([]*envelope, len(msgs))
	for i, m := range msgs {
		e, err := p.prepare(ctx, m, now, nil)
		if err != nil {
			for _, pe := range envs[:i] {
				p.abandonSpan(pe, err)
			}
			return nil, fmt.Errorf("rustmq: message %d: %w", i, err)
		}
		envs[i] = e
	}
	accepted, acceptErr := p.acceptBatch(ctx, envs)
	results := make([]*Result, len(msgs))
	for i, e := range envs {
		x := e.ext()
		if i >= accepted {
			p.abandonSpan(e, acceptErr)
			results[i] = p.unresolved(e, acceptErr)
			continue
		}
		select {
		case <-x.done:
			results[i] = &x.res
		case <-ctx.Done():
			select {
			case <-x.done:
				results[i] = &x.res
			default:
				// The actors may still complete it: build the result from
				// what they never write.
				results[i] = p.unresolved(e, fmt.Errorf("rustmq: waiting for the result: %w", context.Cause(ctx)))
			}
		}
	}
	return results, batchErr(results)
}

// unresolved returns a result for e without reading what the actors write.
func (p *Producer) unresolved(e *envelope, err error) *Result {
	return &Result{Topic: p.topicOf(e.msg), Partition: -1, Offset: -1, Timestamp: time.UnixMilli(p.timestampOf(e)), Message: e.msg, Err: err}
}

// acceptBatch hands envs to the router as buffer space allows and returns
// how many it accepted. Space frees only as results come in, so the
// reserved messages are handed on before waiting for more: holding them
// while blocked would wait forever on a batch larger than the buffer, or on
// two batches that each hold part.
func (p *Producer) acceptBatch(ctx context.Context, envs []*envelope) (int, error) {
	in := p.in
	i := 0
	for i < len(envs) {
		wake := false
		in.mu.Lock()
		if err := in.closed; err != nil {
			in.mu.Unlock()
			return i, err
		}
		start := i
		for i < len(envs) && in.fits(int64(envs[i].rec.Size), 1) {
			wake = in.pushLocked(envs[i]) || wake
			i++
		}
		if i == start {
			if err := p.waitSpaceLocked(ctx, int64(envs[i].rec.Size)); err != nil {
				in.mu.Unlock()
				return i, err
			}
			wake = in.pushLocked(envs[i]) || wake
			i++
		}
		in.mu.Unlock()
		if wake {
			p.rt.sys.Root.Send(p.router, wakeRouter)
		}
	}
	return i, nil
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

// Flush asks every partition to send what it holds now and waits until
// every message accepted before the call has its result and its callback
// has run (from a callback: until the results are known), or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	in := p.in
	var old *flushGen
	for old == nil {
		in.mu.Lock()
		if err := in.closed; err != nil {
			in.mu.Unlock()
			return err
		}
		old = in.sealLocked()
		var busy *flushGen
		if old == nil {
			busy = in.anySealedLocked()
		}
		in.mu.Unlock()
		if busy != nil {
			// Every generation id is taken: wait for one to free.
			select {
			case <-busy.done:
			case <-ctx.Done():
				return fmt.Errorf("rustmq: flush: %w", context.Cause(ctx))
			}
		}
	}
	p.rt.sys.Root.Send(p.router, &actors.FlushNow{})
	var err error
	if p.delivery.onCallback() {
		err = in.waitResolved(ctx, old)
	} else {
		err = in.waitGens(ctx, old)
	}
	if err != nil {
		return fmt.Errorf("rustmq: flush: %w", err)
	}
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
	if first || p.delivery.onCallback() {
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
	in := p.in
	inCallback := p.delivery.onCallback()
	p.closing.Store(true)
	// The records still in the intake stay there: the router drains them
	// on FlushNow before it flushes.
	last := in.stop(ErrClosed)
	p.rt.sys.Root.Send(p.router, &actors.FlushNow{})
	var result error
	wait := func(ctx context.Context) error {
		if inCallback {
			return in.waitResolved(ctx, last)
		}
		return in.waitGens(ctx, last)
	}
	if err := wait(ctx); err != nil {
		result = fmt.Errorf("rustmq: close: %w", err)
		abortErr := fmt.Errorf("%w before the message was acknowledged: %w", ErrClosed, err)
		grace, cancel := context.WithTimeout(context.Background(), abortGrace)
		for {
			done := make(chan struct{})
			p.rt.sys.Root.Send(p.router, &actors.Abort{Err: abortErr, Done: done})
			// The router answers at once; should it have failed on the
			// order, the supervisor closes done and the order goes again.
			try, stop := context.WithTimeout(grace, 500*time.Millisecond)
			err := in.waitResolved(try, last)
			stop()
			if err == nil || grace.Err() != nil {
				break
			}
		}
		if in.waitResolved(grace, last) != nil {
			p.rt.log.Error("rustmq: producer closed with messages whose results were never delivered",
				"topic", p.topic, "grace", abortGrace)
		}
		cancel()
	}
	// The producers supervisor stops the producer actor (and its router and
	// batchers) and says when it has seen it terminate, so that a runtime
	// shutdown afterwards does not stop it a second time: a Stop to a
	// terminated actor is a dead letter. abortGrace bounds the wait should
	// the supervisor be gone.
	stopped := make(chan struct{})
	p.rt.sys.Root.Send(p.rt.producers, &actors.StopChild{PID: p.pid, Done: stopped})
	grace := time.NewTimer(abortGrace)
	select {
	case <-stopped:
	case <-ctx.Done():
	case <-grace.C:
	}
	grace.Stop()
	p.rt.forget(p)
	p.unregisterMetrics()
	p.clock.close()
	p.delivery.close()
	if !inCallback {
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
	// BufferedBytes and BufferedRecords are held now: accepted, and their
	// result not final (for SendAsync, the callback not returned).
	// BufferedBytes counts each message's encoded size plus its
	// bookkeeping (see ProducerConfig.MaxBufferedBytes).
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
	p.in.mu.Lock()
	accepted, bytes, recs := p.in.accepted, p.in.bytes, p.in.count
	p.in.mu.Unlock()
	return Metrics{
		Accepted: accepted, Delivered: p.delivered.Load(), Failed: p.failed.Load(),
		BufferedBytes: bytes, BufferedRecords: recs,
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

// Config returns the producer's configuration as it applies: the defaults
// filled in, and what upstream mode changes (Idempotence off, the smaller
// BatchBytes and MaxMessageBytes) applied.
func (p *Producer) Config() ProducerConfig { return p.cfg }
