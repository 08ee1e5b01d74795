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
// name already tells a sampler the topic. A span that records gets them
// when it ends, in one call with the outcome's: each SetAttributes call
// grows the SDK's attribute slice, and nothing reads a create span's
// attributes before it ends.
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

// startCreateSpan starts the message's "create <topic>" span (kind PRODUCER)
// under the caller's span and arranges for its context to be written into
// the record's headers as W3C traceparent (and tracestate when there is
// one), unless the message already has a traceparent header.
//
// A span that does not record is ended at once and costs no more than the
// tracer's Start. Its context is still written, with the sampled flag
// clear, when the caller's context carries a trace, so that downstream
// services keep that trace's decision; an unsampled root, which no backend
// will ever hold a span of, writes nothing. The attributes are set only on
// spans that record.
func (p *Producer) startCreateSpan(ctx context.Context, e *envelope, topic string) {
	spec := p.createSpecOf(topic)
	_, span := p.tracer.Start(ctx, spec.name, createStartOptions...)
	sc := span.SpanContext()
	if span.IsRecording() {
		x := e.withExt()
		x.span = span
		e.rec.Flags |= actors.FlagTraced | actors.FlagSampled
		if sc.IsValid() && !hasTraceparent(e.msg.Headers) {
			x.trace = sc
		}
		return
	}
	span.End()
	if !sc.IsValid() || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	e.rec.Flags |= actors.FlagTraced
	if !hasTraceparent(e.msg.Headers) {
		e.withExt().trace = sc
	}
}

func hasTraceparent(hs []Header) bool {
	_, has := wire.HeaderValue(hs, wire.HeaderTraceparent)
	return has
}

// AttrOffset is the attribute of a create span holding the offset the
// broker gave the message.
const AttrOffset = "messaging.rustmq.message.offset"

// endCreateSpan ends the create span of a message of topic with its
// attributes and the message's outcome: the partition and offset, or the
// error (error.type, status and an exception event).
func (p *Producer) endCreateSpan(span trace.Span, topic string, partition int32, offset int64, err error) {
	var kvs [8]attribute.KeyValue
	attrs := append(kvs[:0], p.createSpecOf(topic).attrs...)
	if partition >= 0 {
		attrs = append(attrs, attribute.String(actors.AttrDestinationPartitionID, strconv.Itoa(int(partition))))
	}
	switch {
	case err != nil:
		attrs = append(attrs, attribute.String(actors.AttrErrorType, errorTypeOf(err)))
		span.SetStatus(codes.Error, err.Error())
		span.RecordError(err)
	case offset >= 0:
		attrs = append(attrs, attribute.Int64(AttrOffset, offset))
	}
	span.SetAttributes(attrs...) // one call: each grows the span's attributes
	span.End()
}

// abandonSpan ends the create span of a message that was never accepted.
func (p *Producer) abandonSpan(e *envelope, err error) {
	if e == nil {
		return
	}
	x := e.ext()
	if x == nil || x.span == nil {
		return
	}
	span := x.span
	var kvs [8]attribute.KeyValue
	attrs := append(kvs[:0], p.createSpecOf(p.topicOf(e.msg)).attrs...)
	span.SetAttributes(append(attrs, attribute.String(actors.AttrErrorType, errorTypeOf(err)))...)
	span.SetStatus(codes.Error, err.Error())
	span.End()
	x.span = nil
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
