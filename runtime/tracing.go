package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// createSpec is what every create span of one topic starts with: its name
// and the attributes known before the message is routed.
type createSpec struct {
	name  string
	attrs []attribute.KeyValue
}

// createStartOptions are the start options of every create span. The
// attributes are not among them: an option carrying attributes is copied
// into a fresh configuration on every Start, sampled or not, and the span
// name already tells a sampler the topic. They are set once the sampler
// has decided to record the span.
var createStartOptions = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}

// maxCreateSpecs bounds the cached create specs of topics other than the
// producer's; beyond it they are built per message.
const maxCreateSpecs = 256

func (p *Producer) newCreateSpec(topic string) *createSpec {
	return &createSpec{
		name: "create " + topic,
		attrs: []attribute.KeyValue{
			attribute.String(actors.AttrMessagingSystem, actors.SystemName),
			attribute.String(actors.AttrDestinationName, topic),
			attribute.String(actors.AttrOperationName, "create"),
			attribute.String(actors.AttrOperationType, "create"),
			attribute.String(actors.AttrClientID, p.rt.cfg.ClientID),
		},
	}
}

// createSpecOf returns the create span spec of topic, cached.
func (p *Producer) createSpecOf(topic string) *createSpec {
	if p.create != nil && topic == p.topic {
		return p.create
	}
	if s, ok := p.createOther.Load(topic); ok {
		return s.(*createSpec)
	}
	s := p.newCreateSpec(topic)
	if p.createN.Load() < maxCreateSpecs {
		if _, loaded := p.createOther.LoadOrStore(topic, s); !loaded {
			p.createN.Add(1)
		}
	}
	return s
}

// tpHeader holds a message's traceparent header and its value in one
// allocation, for the common message without headers of its own.
type tpHeader struct {
	hs [1]Header
	tp [55]byte
}

// startCreateSpan starts the message's "create <topic>" span (kind PRODUCER)
// under the caller's span and writes its context into the record's headers
// as W3C traceparent (and tracestate when there is one), unless the message
// already has a traceparent header. An unsampled span's context is written
// too, with the sampled flag clear, so that downstream services keep the
// trace and its decision. Unsampled, the cost is the SDK's Start and one
// allocation for the header; attributes are set only on recording spans.
func (p *Producer) startCreateSpan(ctx context.Context, e *envelope) {
	spec := p.createSpecOf(e.rec.Topic)
	_, span := p.tracer.Start(ctx, spec.name, createStartOptions...)
	e.span = span
	sc := span.SpanContext()
	e.rec.Span = sc
	if span.IsRecording() {
		span.SetAttributes(spec.attrs...)
	}
	if !sc.IsValid() {
		return
	}
	hs := e.rec.Wire.Headers
	if len(hs) == 0 && sc.TraceState().Len() == 0 {
		h := &tpHeader{}
		h.hs[0] = Header{Key: wire.HeaderTraceparent, Value: appendTraceparent(h.tp[:0], sc)}
		e.rec.Wire.Headers = h.hs[:]
		return
	}
	if _, has := wire.HeaderValue(hs, wire.HeaderTraceparent); has {
		return
	}
	out := make([]Header, len(hs), len(hs)+2)
	copy(out, hs)
	out = append(out, Header{Key: wire.HeaderTraceparent, Value: traceparent(sc)})
	if ts := sc.TraceState(); ts.Len() > 0 {
		if _, has := wire.HeaderValue(hs, "tracestate"); !has {
			out = append(out, Header{Key: "tracestate", Value: []byte(ts.String())})
		}
	}
	e.rec.Wire.Headers = out
}

// traceparent encodes sc as a W3C traceparent value (version 00).
func traceparent(sc trace.SpanContext) []byte {
	return appendTraceparent(make([]byte, 0, 55), sc)
}

// appendTraceparent appends sc's W3C traceparent value (55 bytes) to buf.
func appendTraceparent(buf []byte, sc trace.SpanContext) []byte {
	const hexDigits = "0123456789abcdef"
	buf = append(buf, "00-"...)
	tid, sid := sc.TraceID(), sc.SpanID()
	for _, c := range tid {
		buf = append(buf, hexDigits[c>>4], hexDigits[c&15])
	}
	buf = append(buf, '-')
	for _, c := range sid {
		buf = append(buf, hexDigits[c>>4], hexDigits[c&15])
	}
	flags := byte(sc.TraceFlags()) & byte(trace.FlagsSampled)
	return append(buf, '-', '0', hexDigits[flags])
}

// AttrOffset is the attribute of a create span holding the offset the
// broker gave the message.
const AttrOffset = "messaging.rustmq.message.offset"

// CreateSpan implements actors.SpanHolder: the stages add their events to
// the message's create span through it.
func (e *envelope) CreateSpan() trace.Span { return e.span }

// endCreateSpan ends the create span with the message's outcome: the
// partition and offset, or the error (error.type, status and an exception
// event).
func (p *Producer) endCreateSpan(e *envelope) {
	if e.span.IsRecording() {
		if e.res.Partition >= 0 {
			e.span.SetAttributes(attribute.String(actors.AttrDestinationPartitionID, strconv.Itoa(int(e.res.Partition))))
		}
		if e.res.Err != nil {
			e.span.SetAttributes(attribute.String(actors.AttrErrorType, errorTypeOf(e.res.Err)))
			e.span.SetStatus(codes.Error, e.res.Err.Error())
			e.span.RecordError(e.res.Err)
		} else if e.res.Offset >= 0 {
			e.span.SetAttributes(attribute.Int64(AttrOffset, e.res.Offset))
		}
	}
	e.span.End()
}

// abandonSpan ends the create span of a message that was never accepted.
func (p *Producer) abandonSpan(e *envelope, err error) {
	if e == nil || e.span == nil {
		return
	}
	if e.span.IsRecording() {
		e.span.SetAttributes(attribute.String(actors.AttrErrorType, errorTypeOf(err)))
		e.span.SetStatus(codes.Error, err.Error())
	}
	e.span.End()
	e.span = nil
}

// errorTypeOf names an error's class for error.type: a broker code's name,
// one of the runtime's sentinel conditions, or the Go type.
func errorTypeOf(err error) string {
	var we *wire.Error
	var ae *AuthorizationError
	switch {
	case errors.Is(err, ErrDeliveryTimeout):
		return "delivery_timeout"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.As(err, &ae):
		return "authorization_failed"
	case errors.As(err, &we):
		return we.Name
	case errors.Is(err, ErrBufferFull):
		return "buffer_full"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return fmt.Sprintf("%T", err)
}
