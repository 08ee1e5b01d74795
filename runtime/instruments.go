package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/supervision"
)

// Names of the asynchronous instruments the runtime registers on
// Config.MeterProvider. Each reads the counter that [Producer.Metrics] or
// [Runtime.Health] reports, when the reader collects. The synchronous
// instruments (messaging.client.operation.duration,
// messaging.client.sent.messages, batch and request size histograms,
// retries) are named in package actors, which records them.
const (
	MetricBufferedRecords  = "rustmq.producer.buffered.records"
	MetricBufferedBytes    = "rustmq.producer.buffered.bytes"
	MetricInFlight         = "rustmq.producer.requests.in_flight"
	MetricMessages         = "rustmq.producer.messages"
	MetricCompressionRatio = "rustmq.producer.compression.ratio"
	MetricConnState        = "rustmq.connection.state"
	MetricConnRestarts     = "rustmq.connection.restarts"
	// AttrProducer names a producer of a runtime ("producer-1", ...) on
	// the producer instruments.
	AttrProducer = "rustmq.producer"
	// AttrOutcome tells accepted, delivered and failed messages apart on
	// rustmq.producer.messages.
	AttrOutcome = "rustmq.outcome"
	// AttrConnState is the state a rustmq.connection.state point is for.
	AttrConnState = "rustmq.connection.state"
)

const meterName = "github.com/rustmq/rustmq-go/runtime"

// instruments are a runtime's OpenTelemetry instruments.
type instruments struct {
	meter  metric.Meter
	meters *actors.Meters

	bufRecords, bufBytes metric.Int64ObservableGauge
	inFlight             metric.Int64ObservableUpDownCounter
	messages             metric.Int64ObservableCounter
	ratio                metric.Float64ObservableGauge
	connState            metric.Int64ObservableGauge
	restarts             metric.Int64ObservableCounter

	runtimeReg metric.Registration
}

// newInstruments creates the instruments on mp and registers the
// runtime-wide callback reading health.
func newInstruments(mp metric.MeterProvider, clientID string, health *actors.HealthRegistry) (*instruments, error) {
	m := mp.Meter(meterName)
	in := &instruments{meter: m}
	var err, e error
	in.meters, e = actors.NewMeters(m)
	err = errors.Join(err, e)
	in.bufRecords, e = m.Int64ObservableGauge(MetricBufferedRecords, metric.WithUnit("{record}"),
		metric.WithDescription("Messages accepted whose result is not known yet."))
	err = errors.Join(err, e)
	in.bufBytes, e = m.Int64ObservableGauge(MetricBufferedBytes, metric.WithUnit("By"),
		metric.WithDescription("Bytes of the messages accepted whose result is not known yet."))
	err = errors.Join(err, e)
	in.inFlight, e = m.Int64ObservableUpDownCounter(MetricInFlight, metric.WithUnit("{request}"),
		metric.WithDescription("Produce requests awaiting their response."))
	err = errors.Join(err, e)
	in.messages, e = m.Int64ObservableCounter(MetricMessages, metric.WithUnit("{message}"),
		metric.WithDescription("Messages accepted, delivered and failed, by outcome."))
	err = errors.Join(err, e)
	in.ratio, e = m.Float64ObservableGauge(MetricCompressionRatio, metric.WithUnit("1"),
		metric.WithDescription("Value bytes given to the codec divided by the bytes it produced, since the producer started."))
	err = errors.Join(err, e)
	in.connState, e = m.Int64ObservableGauge(MetricConnState, metric.WithUnit("1"),
		metric.WithDescription("1 for the state each broker connection is in, 0 for the others."))
	err = errors.Join(err, e)
	in.restarts, e = m.Int64ObservableCounter(MetricConnRestarts, metric.WithUnit("{restart}"),
		metric.WithDescription("Restarts of each broker's connection actor decided by its supervisor."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("rustmq: create instruments: %w", err)
	}
	states := []actors.ConnState{actors.StateConnecting, actors.StateConnected, actors.StateFailed, actors.StateStopped}
	client := attribute.String(actors.AttrClientID, clientID)
	in.runtimeReg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, b := range health.Snapshot() {
			kvs := append(brokerAttrs(b.Addr), client)
			o.ObserveInt64(in.restarts, int64(b.Restarts), metric.WithAttributes(kvs...))
			for _, s := range states {
				v := int64(0)
				if b.State == s {
					v = 1
				}
				o.ObserveInt64(in.connState, v, metric.WithAttributes(append(kvs, attribute.String(AttrConnState, s.String()))...))
			}
		}
		return nil
	}, in.connState, in.restarts)
	if err != nil {
		return nil, fmt.Errorf("rustmq: register metrics callback: %w", err)
	}
	return in, nil
}

// brokerAttrs returns server.address and server.port of a host:port.
func brokerAttrs(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []attribute.KeyValue{attribute.String(actors.AttrServerAddress, addr)}
	}
	kvs := []attribute.KeyValue{attribute.String(actors.AttrServerAddress, host)}
	if n, err := strconv.Atoi(port); err == nil {
		kvs = append(kvs, attribute.Int(actors.AttrServerPort, n))
	}
	return kvs
}

// registerProducer registers the callback that reports p's counters; its
// registration ends with the producer.
func (in *instruments) registerProducer(p *Producer, name string) (metric.Registration, error) {
	kvs := []attribute.KeyValue{
		attribute.String(actors.AttrMessagingSystem, actors.SystemName),
		attribute.String(actors.AttrClientID, p.rt.cfg.ClientID),
		attribute.String(AttrProducer, name),
	}
	if p.topic != "" {
		kvs = append(kvs, attribute.String(actors.AttrDestinationName, p.topic))
	}
	base := attribute.NewSet(kvs...)
	outcome := func(o string) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(append(base.ToSlice(), attribute.String(AttrOutcome, o))...))
	}
	accepted, delivered, failed := outcome("accepted"), outcome("delivered"), outcome("failed")
	opt := metric.WithAttributeSet(base)
	return in.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m := p.Metrics()
		o.ObserveInt64(in.bufRecords, m.BufferedRecords, opt)
		o.ObserveInt64(in.bufBytes, m.BufferedBytes, opt)
		o.ObserveInt64(in.inFlight, m.InFlight, opt)
		o.ObserveInt64(in.messages, m.Accepted, accepted)
		o.ObserveInt64(in.messages, m.Delivered, delivered)
		o.ObserveInt64(in.messages, m.Failed, failed)
		if m.CompressedOut > 0 {
			o.ObserveFloat64(in.ratio, float64(m.CompressedIn)/float64(m.CompressedOut), opt)
		}
		return nil
	}, in.bufRecords, in.bufBytes, in.inFlight, in.messages, in.ratio)
}

// connSupervision returns the supervision config of the connection actors:
// the user's, with an observer that counts restarts in the health registry
// (which Health and rustmq.connection.restarts report) before calling the
// user's observer. When the supervision logger is the runtime's own, the
// observer writes the log lines itself, with the broker's address as an
// attribute.
func (r *Runtime) connSupervision() supervision.Config {
	sc := r.cfg.Supervision
	user := sc.Observer
	ours := sc.Logger == nil || sc.Logger == r.cfg.Logger
	if ours {
		sc.Logger = slog.New(slog.DiscardHandler)
	}
	sc.Observer = func(ev supervision.Event) {
		addr := ""
		if ev.Child != nil {
			addr = ev.Child.Id[strings.LastIndexByte(ev.Child.Id, '/')+1:]
		}
		if ev.Directive == actor.RestartDirective && !ev.GaveUp {
			r.health.CountRestart(addr)
		}
		if ours {
			logSupervision(r.log, addr, ev)
		}
		if user != nil {
			user(ev)
		}
	}
	return sc
}

// logSupervision writes one supervision decision about the connection
// actor of addr: restarts at Warn, give-ups and stops at Error.
func logSupervision(log *slog.Logger, addr string, ev supervision.Event) {
	attrs := []any{slog.String("broker", addr), slog.Any("reason", ev.Reason)}
	switch {
	case ev.GaveUp:
		log.Error("rustmq: connection actor failed too often, supervisor gave up", append(attrs, slog.Int("failures", ev.Restarts), slog.String("directive", ev.Directive.String()))...)
	case ev.Directive == actor.RestartDirective:
		// A lost connection or a failed dial is a crash on purpose, logged
		// by the connection actor itself: the restart that redials is
		// routine.
		level := slog.LevelWarn
		if _, ok := ev.Reason.(*actors.ConnLostError); ok {
			level = slog.LevelDebug
		}
		log.Log(context.Background(), level, "rustmq: restarting connection actor after backoff", append(attrs, slog.Int("attempt", ev.Restarts), slog.Duration("delay", ev.Delay))...)
	case ev.Directive == actor.StopDirective:
		log.Error("rustmq: stopping connection actor", attrs...)
	default:
		log.Warn("rustmq: connection actor failure", append(attrs, slog.String("directive", ev.Directive.String()))...)
	}
}
