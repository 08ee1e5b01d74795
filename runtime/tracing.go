package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// headerCarrier adapts a message's headers to OpenTelemetry's propagation.
// Set appends (to a fresh slice, never the caller's) and never overwrites.
type headerCarrier struct{ hs *[]Header }

func (c headerCarrier) Get(key string) string {
	v, _ := wire.HeaderValue(*c.hs, key)
	return string(v)
}

func (c headerCarrier) Set(key, value string) {
	if _, ok := wire.HeaderValue(*c.hs, key); ok {
		return
	}
	h := *c.hs
	*c.hs = append(h[:len(h):len(h)], Header{Key: key, Value: []byte(value)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, len(*c.hs))
	for i, h := range *c.hs {
		keys[i] = h.Key
	}
	return keys
}

var traceContext = propagation.TraceContext{}

// startCreateSpan starts the message's "create <topic>" span (kind PRODUCER)
// under the caller's span and writes its context into the record's headers
// as W3C traceparent/tracestate, unless the message already has a
// traceparent header.
func (p *Producer) startCreateSpan(ctx context.Context, e *envelope) {
	sctx, span := p.tracer.Start(ctx, "create "+e.rec.Topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String(actors.AttrMessagingSystem, actors.SystemName),
			attribute.String(actors.AttrDestinationName, e.rec.Topic),
			attribute.String(actors.AttrOperationName, "create"),
			attribute.String(actors.AttrOperationType, "create"),
			attribute.String(actors.AttrClientID, p.rt.cfg.ClientID),
		))
	e.span = span
	e.rec.Span = span.SpanContext()
	if _, has := wire.HeaderValue(e.rec.Wire.Headers, wire.HeaderTraceparent); !has && e.rec.Span.IsValid() {
		traceContext.Inject(sctx, headerCarrier{&e.rec.Wire.Headers})
	}
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
