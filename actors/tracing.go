package actors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Attribute keys of the OpenTelemetry messaging semantic conventions used on
// the spans the actors start.
const (
	AttrMessagingSystem        = "messaging.system"
	AttrDestinationName        = "messaging.destination.name"
	AttrOperationName          = "messaging.operation.name"
	AttrOperationType          = "messaging.operation.type"
	AttrDestinationPartitionID = "messaging.destination.partition.id"
	AttrBatchMessageCount      = "messaging.batch.message_count"
	AttrClientID               = "messaging.client.id"
	AttrServerAddress          = "server.address"
	AttrServerPort             = "server.port"
	AttrErrorType              = "error.type"
	// SystemName is the value of messaging.system.
	SystemName = "rustmq"
)

// Names of the span events the stages add. Router and batcher events go on
// each sampled message's "create" span; connection events on the "send"
// span of the request.
const (
	EventRouted       = "rustmq.router.routed"
	EventWaitMetadata = "rustmq.router.waiting_for_metadata"
	EventRetry        = "rustmq.batcher.retry"
	EventConnQueued   = "rustmq.connection.waiting_for_connection"
	EventConnWritten  = "rustmq.connection.request_written"
	EventConnResponse = "rustmq.connection.response"
)

// createSpan returns r's recording create span, nil when r is not sampled.
func createSpan(src Source, r *Record) trace.Span {
	if r.Flags&FlagSampled == 0 {
		return nil
	}
	return src.CreateSpan(r)
}

func eventWaitMetadata(src Source, r *Record) {
	if s := createSpan(src, r); s != nil {
		s.AddEvent(EventWaitMetadata)
	}
}

func eventRetry(src Source, recs []*Record, attempt int, err error, delay time.Duration) {
	var attrs []attribute.KeyValue
	for _, r := range recs {
		s := createSpan(src, r)
		if s == nil {
			continue
		}
		if attrs == nil {
			attrs = []attribute.KeyValue{
				attribute.Int(AttrAttempt, attempt),
				attribute.String(AttrRetryReason, errorType(err)),
				attribute.String("rustmq.retry.error", err.Error()),
				attribute.Int64("rustmq.retry.backoff_ms", delay.Milliseconds()),
			}
		}
		s.AddEvent(EventRetry, trace.WithAttributes(attrs...))
	}
}

// maxSendLinks bounds the links of a send span: the OpenTelemetry SDK keeps
// 128 links per span by default and drops the rest, so building a link for
// every record of a 1,000-record batch would be work thrown away.
const maxSendLinks = 128

// startSendSpan starts the "send <topic>" span (kind CLIENT) of one attempt
// of bt, linked to the creation span of its records (the first
// maxSendLinks traced ones). It returns nil,
// starting nothing, when records carry span contexts and none of them is
// sampled: a request made only of unsampled messages is not traced either.
// Otherwise the provider's sampler decides, with the links in its
// parameters (a parent-based sampler sees a root span and asks its root
// sampler).
func startSendSpan(cfg BatcherConfig, bt *batch) trace.Span {
	valid, sampled := 0, 0
	for _, r := range bt.recs {
		if r.Flags&FlagTraced != 0 {
			valid++
			if r.Flags&FlagSampled != 0 {
				sampled++
			}
		}
	}
	if valid > 0 && sampled == 0 {
		return nil
	}
	links := make([]trace.Link, 0, min(valid, maxSendLinks))
	for _, r := range bt.recs {
		if len(links) == maxSendLinks {
			break
		}
		if r.Flags&FlagTraced != 0 {
			links = append(links, trace.Link{SpanContext: cfg.Source.SpanContext(r)})
		}
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	attrs = append(attrs,
		attribute.String(AttrMessagingSystem, SystemName),
		attribute.String(AttrDestinationName, cfg.Topic),
		attribute.String(AttrOperationName, "send"),
		attribute.String(AttrOperationType, "send"),
		attribute.String(AttrDestinationPartitionID, strconv.Itoa(int(cfg.Partition))),
		attribute.Int(AttrBatchMessageCount, len(bt.recs)),
		attribute.Int(AttrAttempt, bt.sends),
		attribute.Int("rustmq.batch.bytes", bt.bytes),
		attribute.String("rustmq.batch.close_reason", bt.reason),
	)
	if cfg.ClientID != "" {
		attrs = append(attrs, attribute.String(AttrClientID, cfg.ClientID))
	}
	attrs = append(attrs, serverAttrs(bt.addr)...)
	if bt.sends > 1 && bt.lastErr != nil {
		attrs = append(attrs, attribute.String(AttrRetryReason, errorType(bt.lastErr)))
	}
	_, span := cfg.Tracer.Start(context.Background(), "send "+cfg.Topic,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...), trace.WithAttributes(attrs...))
	return span
}

// endSendSpan ends bt's current send span, recording err.
func endSendSpan(bt *batch, err error) {
	if bt.span == nil {
		return
	}
	if err != nil && bt.span.IsRecording() {
		bt.span.SetAttributes(attribute.String(AttrErrorType, errorType(err)))
		bt.span.SetStatus(codes.Error, err.Error())
	}
	bt.span.End()
	bt.span = nil
}

// errorType names an error's class for error.type: the broker's code name
// when there is one, else the Go type of the error.
func errorType(err error) string {
	var we *wire.Error
	switch {
	case errors.Is(err, ErrDeliveryTimeout):
		return "delivery_timeout"
	case errors.As(err, &we):
		return we.Name
	case errors.Is(err, ErrRequestTimeout):
		return "request_timeout"
	case errors.Is(err, ErrNotConnected):
		return "not_connected"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return fmt.Sprintf("%T", err)
		}
		err = u
	}
}

// traceResponse adds the connection actor's response event to a send span.
func traceResponse(span trace.Span, body []byte, err error, rtt time.Duration) {
	attrs := []attribute.KeyValue{
		attribute.Float64("rustmq.rtt_ms", float64(rtt.Microseconds())/1000),
		attribute.Int("rustmq.response.bytes", len(body)),
	}
	if err != nil {
		attrs = append(attrs, attribute.String(AttrErrorType, errorType(err)), attribute.String("rustmq.error", err.Error()))
	}
	span.AddEvent(EventConnResponse, trace.WithAttributes(attrs...))
}
