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

// createStartOptions returns the start options of create spans of topic:
// the kind and the attributes known before the message is routed. They are
// built once for the producer's topic and on the fly for others.
func (p *Producer) createStartOptions(topic string) []trace.SpanStartOption {
	if topic == p.topic && p.createOpts != nil {
		return p.createOpts
	}
	return []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String(actors.AttrMessagingSystem, actors.SystemName),
			attribute.String(actors.AttrDestinationName, topic),
			attribute.String(actors.AttrOperationName, "create"),
			attribute.String(actors.AttrOperationType, "create"),
			attribute.String(actors.AttrClientID, p.rt.cfg.ClientID),
		),
	}
}

// startCreateSpan starts the message's "create <topic>" span (kind PRODUCER)
// under the caller's span and writes its context into the record's headers
// as W3C traceparent (and tracestate when there is one), unless the message
// already has a traceparent header. An unsampled span's context is written
// too, with the sampled flag clear, so that downstream services keep the
// trace and its decision.
func (p *Producer) startCreateSpan(ctx context.Context, e *envelope) {
	name := p.createName
	if e.rec.Topic != p.topic {
		name = "create " + e.rec.Topic
	}
	_, span := p.tracer.Start(ctx, name, p.createStartOptions(e.rec.Topic)...)
	e.span = span
	sc := span.SpanContext()
	e.rec.Span = sc
	if !sc.IsValid() {
		return
	}
	hs := e.rec.Wire.Headers
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
	const hexDigits = "0123456789abcdef"
	buf := make([]byte, 0, 55)
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
