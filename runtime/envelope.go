package runtime

import (
	"context"
	"errors"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// envelope is one accepted message's state from acceptance to result. It is
// small on purpose (48 bytes, an allocation class of its own): what only
// some messages need (a compressed value, a span, a synchronous waiter) is
// in an envExt, allocated for those alone, which then takes the place of
// the caller's context in ctx and holds it. Envelopes are not pooled: a pool
// filled by the callback goroutine and emptied by the senders' moved each
// envelope between processors' caches and cost more (up to 16% of the CPU
// per message in the bench) than a fresh allocation and its collection.
type envelope struct {
	rec actors.Record // must stay the first field: see envOf; rec.Tag is its flush generation's id
	cb  func(*Result, error)
	msg *Message
	// ctx is the caller's context when it can end (FlagCancellable), or
	// the envelope's *envExt when it has one, which then holds it; nil
	// otherwise. Read it through callerCtx and ext.
	ctx context.Context
}

// An envelope stays in the 48-byte allocation class.
var _ [48 - unsafe.Sizeof(envelope{})]struct{}

// envExt is what only some messages need. It is a context.Context (the
// caller's, or context.Background when that cannot end) only so that it
// can share the envelope's ctx field.
type envExt struct {
	context.Context
	value []byte            // the compressed value; nil when not compressed
	span  trace.Span        // the create span, when it records
	trace trace.SpanContext // written as traceparent when valid
	// Send and SendBatch: the result, final once done is closed.
	done chan struct{}
	res  Result
}

// The actors see &e.rec; envOf turns it back into its envelope. rec is the
// first field, so both pointers are the same address.
var _ [0]struct{} = [unsafe.Offsetof(envelope{}.rec)]struct{}{}

func envOf(r *actors.Record) *envelope { return (*envelope)(unsafe.Pointer(r)) }

// ext returns e's ext block, nil when it has none.
func (e *envelope) ext() *envExt {
	x, _ := e.ctx.(*envExt)
	return x
}

// callerCtx returns the caller's context when it can end, nil otherwise.
func (e *envelope) callerCtx() context.Context {
	if e.rec.Flags&actors.FlagCancellable == 0 {
		return nil
	}
	if x, ok := e.ctx.(*envExt); ok {
		return x.Context
	}
	return e.ctx
}

// setCallerCtx keeps ctx, the caller's context, when it can end.
func (e *envelope) setCallerCtx(ctx context.Context) {
	if ctx.Done() == nil {
		return
	}
	e.rec.Flags |= actors.FlagCancellable
	if x, ok := e.ctx.(*envExt); ok {
		x.Context = ctx
		return
	}
	e.ctx = ctx
}

// withExt returns e's ext block, allocating it: it takes over e.ctx.
func (e *envelope) withExt() *envExt {
	if x, ok := e.ctx.(*envExt); ok {
		return x
	}
	x := &envExt{Context: context.Background()}
	if e.ctx != nil {
		x.Context = e.ctx
	}
	e.ctx = x
	return x
}

// envelopeOverhead is what the producer counts against MaxBufferedBytes
// for every message besides its encoded size: the envelope (48 bytes), its
// slot in the batch and in the callback queue (8 and 32), and 8 for the
// partition's share of a batch's bookkeeping and of the rounding up of its
// body to whole pages. extOverhead is added for a message with a
// compressed value, a span, a trace context to write or a synchronous
// caller (the ext block, 208 bytes); spanOverhead for a create span that
// records, an estimate of what the OpenTelemetry SDK keeps per span.
const (
	envelopeOverhead = 96
	extOverhead      = 208
	spanOverhead     = 1024
)

// The ext block is what extOverhead counts.
var _ [extOverhead - unsafe.Sizeof(envExt{})]struct{}

// The runtime's own record flags: what prepare learnt of the message, so
// that the actors' and callbacks' goroutines need not read it again (the
// Message is the caller's memory, likely in another core's cache).
const (
	flagOwnTopic     = actors.RecordFlags(1 << 8)  // Message.Topic names the topic
	flagOwnTimestamp = actors.RecordFlags(1 << 9)  // Message.Timestamp is set
	flagNoCallback   = actors.RecordFlags(1 << 10) // SendAsync without a callback: no Result to build
)

func (p *Producer) topicOf(m *Message) string {
	if m.Topic != "" {
		return m.Topic
	}
	return p.topic
}

// topicOfEnv is topicOf without reading the message when it has no topic
// of its own.
func (p *Producer) topicOfEnv(e *envelope) string {
	if e.rec.Flags&flagOwnTopic != 0 {
		return e.msg.Topic
	}
	return p.topic
}

// timestampOf returns the record timestamp of e in Unix milliseconds: the
// message's, or its acceptance time (the delivery deadline less the
// delivery timeout, which is never zero), to the millisecond.
func (p *Producer) timestampOf(e *envelope) int64 {
	if e.rec.Flags&flagOwnTimestamp != 0 {
		return e.msg.Timestamp.UnixMilli()
	}
	return e.rec.Deadline.Add(-p.timeoutMs).UnixMilli(p.clock.lastMilli())
}

// source is the producer's actors.Source; a type of its own so that its
// methods are not part of Producer's API.
type source struct{ p *Producer }

var _ actors.Source = source{}

// Drain implements actors.Source.
func (s source) Drain(dst []*actors.Record) []*actors.Record { return s.p.in.drain(dst) }

// Topic implements actors.Source.
func (s source) Topic(r *actors.Record) string { return s.p.topicOfEnv(envOf(r)) }

// Parts implements actors.Source.
func (s source) Parts(r *actors.Record, pt *actors.RecordParts) {
	if h := s.p.rt.hooks; h != nil && h.parts != nil {
		h.parts(envOf(r).msg)
	}
	s.p.partsOf(envOf(r), pt)
}

// partsOf sets *pt to e's contents for the wire. Field by field: a
// composite literal would be built aside and copied in whole.
func (p *Producer) partsOf(e *envelope, pt *actors.RecordParts) {
	m := e.msg
	x := e.ext()
	pt.Key, pt.Keyed, pt.Headers, pt.Ctx = m.Key, m.Key != nil, m.Headers, e.callerCtx()
	pt.Value, pt.Codec = p.valueOf(e)
	pt.Timestamp = p.timestampOf(e)
	if x != nil {
		pt.Trace = x.trace
	} else {
		pt.Trace = trace.SpanContext{}
	}
}

// valueOf returns e's value as written and its rmq-codec: the compressed
// value when there is one.
func (p *Producer) valueOf(e *envelope) ([]byte, string) {
	if x := e.ext(); x != nil && x.value != nil {
		return x.value, p.codecName
	}
	return e.msg.Payload, ""
}

// wireSize is the encoded size of e's record (partsOf's, measured by
// actors.PartsSize), without building the parts.
func (p *Producer) wireSize(e *envelope) int {
	m := e.msg
	value, codec := p.valueOf(e)
	var tc *trace.SpanContext
	if x := e.ext(); x != nil {
		tc = &x.trace
	}
	return actors.RecordSize(m.Key, m.Key != nil, len(value), m.Headers, codec, tc)
}

// Cancelled implements actors.Source.
func (s source) Cancelled(r *actors.Record) error {
	return actors.ContextCause(envOf(r).callerCtx())
}

// SpanContext implements actors.Source.
func (s source) SpanContext(r *actors.Record) trace.SpanContext {
	if x := envOf(r).ext(); x != nil {
		if x.span != nil {
			return x.span.SpanContext()
		}
		return x.trace
	}
	return trace.SpanContext{}
}

// CreateSpan implements actors.Source.
func (s source) CreateSpan(r *actors.Record) trace.Span {
	if x := envOf(r).ext(); x != nil {
		return x.span
	}
	return nil
}

// Deliver implements actors.Source: it completes Send and SendBatch
// messages at once (their space is released now), and queues SendAsync
// ones for their callbacks (their space is released after the callback).
func (s source) Deliver(recs []*actors.Record, o actors.Outcome) {
	if len(recs) == 0 {
		return
	}
	p := s.p
	err := o.Err
	if err != nil {
		err = p.mapErr(envOf(recs[0]).msg, err)
	}
	var rel, queued release
	q := p.delivery
	locked := false
	for i, r := range recs {
		e := envOf(r)
		e.rec.Route = uint32(o.Partition) // the router is done with it: now the result's
		off := int64(-1)
		if err == nil && o.Base >= 0 {
			off = o.Base + int64(i)
		}
		x := e.ext()
		if x != nil && x.span != nil {
			p.endCreateSpan(x.span, p.topicOfEnv(e), o.Partition, off, err)
		}
		if e.cb != nil {
			// Straight into the callback queue, under its lock once per
			// call rather than through a slice of our own.
			if !locked {
				q.mu.Lock()
				locked = true
			}
			q.items = append(q.items, delivered{e: e, offset: off, err: err})
			queued.add(e.rec.Tag, 0, 0)
			continue
		}
		rel.add(e.rec.Tag, int64(e.rec.Size), 1)
		x.res = Result{Topic: p.topicOfEnv(e), Partition: o.Partition, Offset: off,
			Timestamp: time.UnixMilli(p.timestampOf(e)), Message: e.msg, Err: err}
	}
	if err == nil {
		p.delivered.Add(int64(len(recs)))
	} else {
		p.failed.Add(int64(len(recs)))
	}
	// Counted as queued before the callbacks can run (the queue's lock is
	// still held): they must not finish messages their generation does not
	// yet count.
	in := p.in
	in.mu.Lock()
	if rel.msgs > 0 {
		in.releaseLocked(rel.bytes, rel.recs)
		for _, gc := range rel.more {
			in.finishLocked(gc.g, gc.n, false)
		}
		in.finishLocked(rel.gen, rel.genN, false)
	}
	if queued.msgs > 0 {
		for _, gc := range queued.more {
			in.queueLocked(gc.g, gc.n)
		}
		in.queueLocked(queued.gen, queued.genN)
	}
	in.signalSpaceLocked()
	in.mu.Unlock()
	if locked {
		q.mu.Unlock()
		q.wake()
	}
	if rel.msgs > 0 {
		// Send and SendBatch callers are woken last: one who has its
		// result finds the message counted and its space released in
		// Metrics.
		for _, r := range recs {
			if e := envOf(r); e.cb == nil {
				close(e.ext().done)
			}
		}
	}
}

// mapErr turns an actor-level failure into the runtime's public errors.
func (p *Producer) mapErr(m *Message, err error) error {
	var pe *actors.ProduceError
	if errors.As(err, &pe) && errors.Is(err, wire.ErrTopicAuthorizationFailed) {
		who := pe.Principal
		if who == "" {
			who = p.rt.certPrincipal
		}
		return &AuthorizationError{Topic: p.topicOf(m), Op: "WRITE", Principal: who, Err: err}
	}
	return err
}
