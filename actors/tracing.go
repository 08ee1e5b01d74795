package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

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

// startSendSpan starts the "send <topic>" span (kind CLIENT) of one attempt
// of bt, linked to the creation span of every record in it.
func startSendSpan(cfg BatcherConfig, bt *batch) trace.Span {
	links := make([]trace.Link, 0, len(bt.recs))
	for _, r := range bt.recs {
		if r.Span.IsValid() {
			links = append(links, trace.Link{SpanContext: r.Span})
		}
	}
	attrs := []attribute.KeyValue{
		attribute.String(AttrMessagingSystem, SystemName),
		attribute.String(AttrDestinationName, cfg.Topic),
		attribute.String(AttrOperationName, "send"),
		attribute.String(AttrOperationType, "send"),
		attribute.String(AttrDestinationPartitionID, strconv.Itoa(int(cfg.Partition))),
		attribute.Int(AttrBatchMessageCount, len(bt.recs)),
	}
	if cfg.ClientID != "" {
		attrs = append(attrs, attribute.String(AttrClientID, cfg.ClientID))
	}
	if host, port, err := net.SplitHostPort(bt.addr); err == nil {
		attrs = append(attrs, attribute.String(AttrServerAddress, host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, attribute.Int(AttrServerPort, p))
		}
	}
	if bt.sends > 1 {
		attrs = append(attrs, attribute.Int("rustmq.attempt", bt.sends))
		if bt.lastErr != nil {
			attrs = append(attrs, attribute.String("rustmq.retry.reason", bt.lastErr.Error()))
		}
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
	if err != nil {
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
	if errors.As(err, &we) {
		return we.Name
	}
	switch {
	case errors.Is(err, ErrDeliveryTimeout):
		return "delivery_timeout"
	case errors.Is(err, ErrRequestTimeout):
		return "request_timeout"
	case errors.Is(err, ErrNotConnected):
		return "not_connected"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return fmt.Sprintf("%T", err)
		}
		err = u
	}
}
