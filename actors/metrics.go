package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Names of the synchronous instruments the batchers record into. The first
// two are the OpenTelemetry messaging conventions' own; the rest belong to
// the runtime.
const (
	MetricOperationDuration = "messaging.client.operation.duration"
	MetricSentMessages      = "messaging.client.sent.messages"
	MetricBatchRecords      = "rustmq.producer.batch.records"
	MetricRequestBytes      = "rustmq.producer.request.size"
	MetricRetries           = "rustmq.producer.retries"
	// AttrRetryReason is the attribute of MetricRetries (and of the retry
	// span events) naming why a batch is sent again: the error.type of the
	// failed attempt.
	AttrRetryReason = "rustmq.retry.reason"
	// AttrAttempt numbers the attempts of one batch, from 1.
	AttrAttempt = "rustmq.attempt"
)

// durationBounds are the bucket boundaries the messaging conventions advise
// for messaging.client.operation.duration, in seconds.
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Meters are the synchronous OpenTelemetry instruments of a runtime's
// batchers. Each is recorded at the same place as the matching field of
// [Counters], so the runtime's metrics snapshot and the exported metrics
// never disagree. A nil *Meters records into the counters only.
type Meters struct {
	opDuration   metric.Float64Histogram
	sentMessages metric.Int64Counter
	batchRecords metric.Int64Histogram
	requestBytes metric.Int64Histogram
	retries      metric.Int64Counter
}

// NewMeters creates the instruments on m. It fails only when the meter
// refuses an instrument.
func NewMeters(m metric.Meter) (*Meters, error) {
	var ms Meters
	var err, e error
	ms.opDuration, e = m.Float64Histogram(MetricOperationDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of each produce request (one attempt of one batch), from the batcher's send to its outcome."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	err = errors.Join(err, e)
	ms.sentMessages, e = m.Int64Counter(MetricSentMessages, metric.WithUnit("{message}"),
		metric.WithDescription("Messages in produce requests whose outcome is known, retries included; failed ones carry error.type."))
	err = errors.Join(err, e)
	ms.batchRecords, e = m.Int64Histogram(MetricBatchRecords, metric.WithUnit("{record}"),
		metric.WithDescription("Records per produce request written."),
		metric.WithExplicitBucketBoundaries(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000))
	err = errors.Join(err, e)
	ms.requestBytes, e = m.Int64Histogram(MetricRequestBytes, metric.WithUnit("By"),
		metric.WithDescription("Body size of each produce request written."),
		metric.WithExplicitBucketBoundaries(128, 512, 1<<10, 4<<10, 16<<10, 64<<10, 256<<10, 1<<20, 4<<20, 16<<20))
	err = errors.Join(err, e)
	ms.retries, e = m.Int64Counter(MetricRetries, metric.WithUnit("{retry}"),
		metric.WithDescription("Batches scheduled for another attempt, by reason."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("rustmq: create instruments: %w", err)
	}
	return &ms, nil
}

// batchMetrics is a batcher's share of the counters and instruments, with
// the attribute sets it reuses so that recording allocates nothing.
type batchMetrics struct {
	c    *Counters
	m    *Meters
	base []attribute.KeyValue // system, destination, partition, operation
	addr string               // broker the cached sets are for
	set  attribute.Set        // base + server.address/port
}

func newBatchMetrics(cfg BatcherConfig) batchMetrics {
	return batchMetrics{
		c: cfg.Counters,
		m: cfg.Meters,
		base: []attribute.KeyValue{
			attribute.String(AttrMessagingSystem, SystemName),
			attribute.String(AttrDestinationName, cfg.Topic),
			attribute.String(AttrDestinationPartitionID, strconv.Itoa(int(cfg.Partition))),
			attribute.String(AttrOperationName, "send"),
			attribute.String(AttrOperationType, "send"),
		},
	}
}

// attrs returns the attribute set of requests to addr.
func (bm *batchMetrics) attrs(addr string) attribute.Set {
	if addr != bm.addr || bm.set.Len() == 0 {
		kvs := append([]attribute.KeyValue(nil), bm.base...)
		kvs = append(kvs, serverAttrs(addr)...)
		bm.addr, bm.set = addr, attribute.NewSet(kvs...)
	}
	return bm.set
}

// serverAttrs returns server.address and server.port of a host:port.
func serverAttrs(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	kvs := []attribute.KeyValue{attribute.String(AttrServerAddress, host)}
	if p, err := strconv.Atoi(port); err == nil {
		kvs = append(kvs, attribute.Int(AttrServerPort, p))
	}
	return kvs
}

// sent counts one produce request written with n records of size bytes
// and returns the attribute set of its outcome's measurements (empty
// without meters).
func (bm *batchMetrics) sent(addr string, n, size int) attribute.Set {
	bm.c.BatchesSent.Add(1)
	bm.c.RecordsSent.Add(int64(n))
	bm.c.BytesSent.Add(int64(size))
	bm.c.InFlight.Add(1)
	if bm.m == nil {
		return attribute.Set{}
	}
	set := bm.attrs(addr)
	opt := metric.WithAttributeSet(set)
	bm.m.batchRecords.Record(context.Background(), int64(n), opt)
	bm.m.requestBytes.Record(context.Background(), int64(size), opt)
	return set
}

// recordDone counts the outcome of a produce request of n records sent at
// start with the attribute set sent returned; err is nil on success. It is
// safe for concurrent use: a request's goroutine records a success before
// it delivers it, so that the counters never lag behind the results.
func recordDone(c *Counters, m *Meters, set attribute.Set, n int, start time.Time, err error) {
	c.InFlight.Add(-1)
	c.RequestsCompleted.Add(1)
	c.MessagesCompleted.Add(int64(n))
	if err != nil {
		c.RequestsFailed.Add(1)
		c.MessagesFailed.Add(int64(n))
	}
	if m == nil {
		return
	}
	if err != nil {
		kvs := append(set.ToSlice(), attribute.String(AttrErrorType, errorType(err)))
		set = attribute.NewSet(kvs...)
	}
	opt := metric.WithAttributeSet(set)
	m.opDuration.Record(context.Background(), time.Since(start).Seconds(), opt)
	m.sentMessages.Add(context.Background(), int64(n), opt)
}

// retry counts a batch scheduled for another attempt because of err.
func (bm *batchMetrics) retry(err error) {
	bm.c.Retries.Add(1)
	if bm.m == nil {
		return
	}
	kvs := append(append([]attribute.KeyValue(nil), bm.base[:3]...), attribute.String(AttrRetryReason, errorType(err)))
	bm.m.retries.Add(context.Background(), 1, metric.WithAttributes(kvs...))
}
