package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rustmq/rustmq-go/actors"
)

// Names of the instruments a [Reader] registers on Config.MeterProvider.
const (
	// MetricConsumedMessages counts the records Next returned (the
	// messaging conventions' own name).
	MetricConsumedMessages = "messaging.client.consumed.messages"
	// MetricReaderLag is, per partition, the high watermark of the last
	// fetch minus the offset of the next record Next returns: how far the
	// reader is behind.
	MetricReaderLag = "rustmq.reader.lag"
	// MetricReaderBuffered is, per partition, the bytes of records fetched
	// and not yet returned by Next (bounded by PrefetchBytes).
	MetricReaderBuffered = "rustmq.reader.buffered.bytes"
)

// readerMetrics are one reader's instruments; a nil *readerMetrics
// records nothing.
type readerMetrics struct {
	clientID  string
	consumedC metric.Int64Counter
	reg       metric.Registration
	once      sync.Once
}

func newReaderMetrics(r *Runtime, rd *Reader) (*readerMetrics, error) {
	m := r.cfg.MeterProvider.Meter(meterName)
	rm := &readerMetrics{clientID: r.cfg.ClientID}
	var err, e error
	rm.consumedC, e = m.Int64Counter(MetricConsumedMessages, metric.WithUnit("{message}"),
		metric.WithDescription("Records returned to the application by readers."))
	err = errors.Join(err, e)
	lag, e := m.Int64ObservableGauge(MetricReaderLag, metric.WithUnit("{record}"),
		metric.WithDescription("High watermark of a partition's last fetch minus the offset of the next record the reader returns."))
	err = errors.Join(err, e)
	buffered, e := m.Int64ObservableGauge(MetricReaderBuffered, metric.WithUnit("By"),
		metric.WithDescription("Bytes of records a reader fetched and has not returned yet."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("rustmq: create reader instruments: %w", err)
	}
	rm.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		rd.mu.Lock()
		defer rd.mu.Unlock()
		for _, p := range rd.order {
			pb := rd.parts[p]
			hw := pb.cur.HighWatermark()
			if hw < 0 {
				continue
			}
			next := pb.next
			if next < 0 {
				if next = pb.cur.ResolvedStart(); next < 0 {
					continue
				}
			}
			o.ObserveInt64(lag, max(hw-next, 0), pb.attrs)
			o.ObserveInt64(buffered, pb.cur.Buffered(), pb.attrs)
		}
		return nil
	}, lag, buffered)
	if err != nil {
		return nil, fmt.Errorf("rustmq: register reader metrics: %w", err)
	}
	return rm, nil
}

// partitionAttrs returns the attributes of partition p's measurements.
func (rm *readerMetrics) partitionAttrs(topic string, p int32) metric.MeasurementOption {
	if rm == nil {
		return nil
	}
	return metric.WithAttributeSet(attribute.NewSet(
		attribute.String(actors.AttrMessagingSystem, actors.SystemName),
		attribute.String(actors.AttrClientID, rm.clientID),
		attribute.String(actors.AttrDestinationName, topic),
		attribute.String(actors.AttrDestinationPartitionID, strconv.Itoa(int(p))),
		attribute.String(actors.AttrOperationName, "receive"),
		attribute.String(actors.AttrOperationType, "receive"),
	))
}

// consumed counts one record returned from pb.
func (rm *readerMetrics) consumed(pb *partBuf) {
	if rm != nil {
		rm.consumedC.Add(context.Background(), 1, pb.attrs)
	}
}

// unregister ends the reader's observations.
func (rm *readerMetrics) unregister() {
	if rm != nil && rm.reg != nil {
		rm.once.Do(func() { _ = rm.reg.Unregister() })
	}
}
