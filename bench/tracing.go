package main

import (
	"context"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// discardExporter counts the spans it is handed and keeps none: the cost of
// tracing measured without the cost of a real export.
type discardExporter struct{ spans atomic.Int64 }

var _ sdktrace.SpanExporter = (*discardExporter)(nil)

// ExportSpans counts spans and drops them.
func (e *discardExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.spans.Add(int64(len(spans)))
	return nil
}

// Shutdown does nothing.
func (e *discardExporter) Shutdown(context.Context) error { return nil }

// tracingCase is one row of the tracing-overhead section.
type tracingCase struct {
	name     string
	provider func() (trace.TracerProvider, *discardExporter, func(context.Context) error)
}

// tracingCases are the three configurations compared: no provider at all,
// an SDK provider whose sampler drops everything, and one that records and
// exports every span through a batch span processor (the production setup)
// into a discarding exporter.
var tracingCases = []tracingCase{
	{"none", func() (trace.TracerProvider, *discardExporter, func(context.Context) error) {
		return nil, nil, func(context.Context) error { return nil }
	}},
	{"sdk, NeverSample", func() (trace.TracerProvider, *discardExporter, func(context.Context) error) {
		exp := &discardExporter{}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithBatcher(exp))
		return tp, exp, tp.Shutdown
	}},
	{"sdk, AlwaysSample", func() (trace.TracerProvider, *discardExporter, func(context.Context) error) {
		exp := &discardExporter{}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(exp))
		return tp, exp, tp.Shutdown
	}},
}
