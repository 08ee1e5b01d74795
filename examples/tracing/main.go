// Command tracing shows what the producer runtime reports through
// OpenTelemetry. It sends one message under a caller's span and then one
// batch of messages, and prints one message's span tree (the caller's
// span, the message's create span with the events of what happened to it
// alone, such as waiting for its topic's metadata) and the send span of
// each request: the batch's size, bytes and close reason, the
// connection's events, and a link to each message's create span. With -raw it also prints
// every span as the SDK's stdout exporter writes it (JSON), and the
// metrics. Without -brokers it starts an in-process development broker:
//
//	go run ./examples/tracing
//	go run ./examples/tracing -messages 20 -raw
//	go run ./examples/tracing -brokers 127.0.0.1:9092 -ca ca.pem -topic orders
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// options are the command line settings.
type options struct {
	brokers, ca, topic string
	messages           int
	raw                bool
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "", "comma-separated broker addresses (default: start an in-process development broker)")
	flag.StringVar(&o.ca, "ca", "", "PEM file of the CA that signs the brokers' certificates")
	flag.StringVar(&o.topic, "topic", "orders", "topic to produce to")
	flag.IntVar(&o.messages, "messages", 5, "messages in the batch")
	flag.BoolVar(&o.raw, "raw", false, "also print every span and the metrics as the SDK's stdout exporters write them (JSON)")
	flag.Parse()
	if o.messages < 1 {
		fmt.Fprintln(os.Stderr, "tracing: -messages must be at least 1")
		os.Exit(2)
	}
	if err := run(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "tracing:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg := rmq.Config{ClientID: "tracing-example"}
	if o.brokers == "" {
		b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{o.topic: 2}})
		if err != nil {
			return fmt.Errorf("start development broker: %w", err)
		}
		defer b.Close()
		cfg.Brokers, cfg.TLS.Config = []string{b.Addr()}, &tls.Config{RootCAs: b.CAPool()}
	} else {
		cfg.Brokers, cfg.TLS.CAFile = strings.Split(o.brokers, ","), o.ca
	}

	// Spans go to a recorder for the summary and, with -raw, to stdout
	// as JSON; so do the metrics.
	rec := tracetest.NewSpanRecorder()
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(rec)}
	var mpOpts []sdkmetric.Option
	if o.raw {
		spanOut, err := stdouttrace.New(stdouttrace.WithWriter(out), stdouttrace.WithPrettyPrint())
		if err != nil {
			return err
		}
		tpOpts = append(tpOpts, sdktrace.WithSyncer(spanOut))
		metricOut, err := stdoutmetric.New(stdoutmetric.WithWriter(out), stdoutmetric.WithPrettyPrint())
		if err != nil {
			return err
		}
		// The periodic reader exports once more when the provider shuts down.
		mpOpts = append(mpOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricOut, sdkmetric.WithInterval(time.Hour))))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	mp := sdkmetric.NewMeterProvider(mpOpts...)
	cfg.TracerProvider, cfg.MeterProvider = tp, mp

	rt, err := rmq.New(cfg)
	if err != nil {
		return err
	}
	p, err := rt.CreateProducer(o.topic, rmq.ProducerConfig{Linger: 20 * time.Millisecond})
	if err != nil {
		_ = rt.Close(ctx)
		return err
	}

	// One message under the caller's own span.
	tracer := tp.Tracer("tracing-example")
	cctx, checkout := tracer.Start(ctx, "checkout")
	res, err := p.Send(cctx, &rmq.Message{Key: []byte("order-1"), Payload: []byte(`{"total": 42}`)})
	checkout.End()
	if err != nil {
		_ = rt.Close(ctx)
		return fmt.Errorf("send: %w", err)
	}

	// A batch of keyless messages: the sticky partitioner puts them in one
	// request, whose send span links to each message's create span.
	bctx, bulk := tracer.Start(ctx, "bulk import")
	msgs := make([]*rmq.Message, o.messages)
	for i := range msgs {
		msgs[i] = &rmq.Message{Payload: []byte(fmt.Sprintf("item %d", i))}
	}
	_, err = p.SendBatch(bctx, msgs)
	bulk.End()
	if err != nil {
		_ = rt.Close(ctx)
		return fmt.Errorf("send batch: %w", err)
	}
	if err := rt.Close(ctx); err != nil {
		return err
	}
	if err := tp.Shutdown(ctx); err != nil {
		return err
	}
	if err := mp.Shutdown(ctx); err != nil {
		return err
	}

	spans := rec.Ended()
	fmt.Fprintf(out, "\n== one message (partition %d, offset %d) ==\n", res.Partition, res.Offset)
	printTree(out, spans, checkout.SpanContext().TraceID())
	fmt.Fprintf(out, "\n== one batch of %d messages ==\n", len(msgs))
	printTree(out, spans, bulk.SpanContext().TraceID())
	return nil
}

// printTree writes the spans of trace tid as a tree, and after each
// create span the send spans linked to it, with their links.
func printTree(out io.Writer, spans []sdktrace.ReadOnlySpan, tid trace.TraceID) {
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	kids := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanContext().TraceID() != tid {
			continue
		}
		byID[s.SpanContext().SpanID()] = s
	}
	for _, s := range byID {
		if _, ok := byID[s.Parent().SpanID()]; ok {
			kids[s.Parent().SpanID()] = append(kids[s.Parent().SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	sends := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		for _, l := range s.Links() {
			if l.SpanContext.TraceID() == tid && s.SpanKind() == trace.SpanKindClient {
				sends[s.SpanContext().SpanID()] = s
			}
		}
	}
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		ind := strings.Repeat("  ", depth)
		fmt.Fprintf(out, "%s%s (%s) %s %s\n", ind, s.Name(), s.SpanKind(), s.SpanContext().SpanID(), brief(s.Attributes()))
		for _, e := range s.Events() {
			fmt.Fprintf(out, "%s  · %s %s\n", ind, e.Name, brief(e.Attributes))
		}
		for _, l := range s.Links() {
			fmt.Fprintf(out, "%s  → link %s %s\n", ind, l.SpanContext.SpanID(), brief(l.Attributes))
		}
		cs := kids[s.SpanContext().SpanID()]
		sort.Slice(cs, func(i, j int) bool { return cs[i].StartTime().Before(cs[j].StartTime()) })
		for _, c := range cs {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for _, s := range sends {
		walk(s, 0)
	}
}

// brief renders attributes as key=value pairs in key order.
func brief(kvs []attribute.KeyValue) string {
	parts := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, " ") + "}"
}
