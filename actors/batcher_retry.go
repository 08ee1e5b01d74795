package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// This file holds the batcher's failure handling: classifying a failed
// attempt, the stalled pipeline that resends in sequence order, producer id
// rotation, the deadline sweep, and failing what the batcher holds.

// failed classifies a failed attempt of bt and stalls the pipeline.
func (b *batcher) failed(bt *batch, err error, principal string, expired bool) {
	bt.failures++
	bt.lastErr = &ProduceError{Topic: b.cfg.Topic, Partition: b.cfg.Partition, Broker: bt.addr, Principal: principal, Err: err}
	endSendSpan(bt, err)
	b.stalled = true
	// The sweep abandons the batch at its deadline should nothing else
	// move the partition on (no leader answer, for one).
	b.armSweep()
	switch {
	case isLeaderError(err):
		bt.notWritten = true
		b.leader = nil
		b.askLeader(true)
	case isOutOfOrder(err):
		bt.notWritten = true
		if !bt.predAcked {
			break // an earlier batch of this producer id was unacknowledged: wait for it
		}
		// The broker's sequence of this producer id does not continue at
		// this batch: the producer id is spent.
		if bt.pid == b.pid {
			b.rotate("broker rejected the sequence")
		}
	case !retriable(err) && !expired:
		bt.abandon = bt.lastErr
		b.cfg.Logger.Warn("rustmq: produce failed, not retriable", b.logAttrs(bt, err)...)
		return
	}
	if b.cfg.MaxRetries >= 0 && bt.failures > b.cfg.MaxRetries {
		bt.abandon = fmt.Errorf("rustmq: gave up after %d attempts: %w", bt.sends, bt.lastErr)
		b.cfg.Logger.Warn("rustmq: produce failed, retry budget spent", b.logAttrs(bt, err)...)
		return
	}
	b.bm.retry(err)
	delay := b.cfg.Backoff.Delay(bt.failures, nil)
	bt.waitUntil = time.Now().Add(delay)
	eventRetry(bt.recs, bt.sends, err, delay)
	b.cfg.Logger.Info("rustmq: produce failed, will retry", append(b.logAttrs(bt, err), slog.Duration("backoff", delay))...)
}

// logAttrs are the attributes of a log line about bt's last attempt.
func (b *batcher) logAttrs(bt *batch, err error) []any {
	return []any{slog.String("broker", bt.addr), slog.String("topic", b.cfg.Topic), slog.Int("partition", int(b.cfg.Partition)),
		slog.Int("attempt", bt.sends), slog.Int("records", len(bt.recs)), slog.String("reason", errorType(err)), slog.Any("error", err)}
}

// closeReason says why a batch of n records and size bytes was closed.
func (b *batcher) closeReason(n, size int) string {
	switch {
	case n >= b.cfg.BatchSize:
		return "size"
	case size >= b.cfg.BatchBytes || len(b.queue) > 0:
		return "bytes"
	case b.flushing:
		return "flush"
	case b.cfg.Linger <= 0:
		return "no_linger"
	}
	return "linger"
}

// resumeHead drives the stalled pipeline: once nothing is in flight it
// settles the head batch (abandon, restamp) and resends it after its backoff.
func (b *batcher) resumeHead() {
	if b.aborted != nil {
		return
	}
	for _, bt := range b.batches {
		if bt.inFlight {
			return
		}
	}
	now := time.Now()
	for len(b.batches) > 0 {
		h := b.batches[0]
		if h.abandon == nil && !h.deadline.IsZero() && now.After(h.deadline) {
			h.abandon = fmt.Errorf("%w: %w", ErrDeliveryTimeout, h.lastErr)
		}
		if h.abandon != nil {
			b.batches = b.batches[1:]
			b.cfg.Logger.Warn("rustmq: batch abandoned", b.logAttrs(h, h.abandon)...)
			b.deliverErr(h.recs, h.abandon)
			if b.cfg.Idempotent && h.pid == b.pid {
				b.rotate("a batch was abandoned")
			}
			continue
		}
		if b.leader == nil {
			b.askLeader(false)
			return
		}
		if b.cfg.Idempotent && h.pid != b.pid && h.notWritten {
			b.stamp(h)
		}
		if wait := h.waitUntil.Sub(now); wait > 0 {
			if !b.retrySet {
				b.retrySet = true
				b.retryTimer = b.after(wait, &retryTick{})
			}
			return
		}
		b.send(h)
		return
	}
	b.stalled = false
	b.maybeSend()
}

// rotate switches to a fresh producer id; unsent batches take sequences from 0.
func (b *batcher) rotate(why string) {
	old := b.pid
	b.pid = b.cfg.NewProducerID()
	b.nextSeq, b.ackedEnd = 0, 0
	b.cfg.Counters.ProducerIDResets.Add(1)
	b.cfg.Logger.Info("rustmq: new producer id for partition", slog.String("topic", b.cfg.Topic), slog.Int("partition", int(b.cfg.Partition)),
		slog.Uint64("old", old), slog.Uint64("new", b.pid), slog.String("reason", why))
}

// batcherSweepInterval is the period of a batcher's sweep while it holds
// queued records.
const batcherSweepInterval = 4 * sweepInterval

// sweep runs every batcherSweepInterval while records are queued. Its cost
// does not grow with the queue while the queue moves:
//
//   - Delivery deadlines are checked from the head only. Records are queued
//     in acceptance order and share the producer's delivery timeout, so
//     their deadlines (nearly) grow along the queue; the first record still
//     in time ends the check. A record whose deadline passed behind a later
//     one is caught when it reaches the head or when [batcher.form] takes
//     it, which fails it instead of writing it.
//   - Contexts are checked by form, once per record, when the record is
//     taken for a request: a record whose context ended is failed with the
//     context's cause and never written. Its result therefore comes when
//     the batch it would join closes, which Linger bounds while the
//     partition can send. Only when no batch was formed during a whole
//     sweep period (no leader, a stalled retry, a long Linger) does the
//     sweep look at every queued record with a context, so that such
//     records still get their result within about two sweep periods.
//
// It also abandons stalled batches past their deadline; it keeps running
// while failed batches wait, even with nothing queued.
func (b *batcher) sweep() {
	now := time.Now()
	n := 0
	for n < len(b.queue) {
		r := b.queue[n]
		if r.Deadline.IsZero() || !now.After(r.Deadline) {
			break
		}
		r.Err = fmt.Errorf("%w: waited in the batcher of %s/%d", ErrDeliveryTimeout, b.cfg.Topic, b.cfg.Partition)
		b.queueBytes -= r.wireSize
		n++
	}
	var dropped []*Record
	if n > 0 {
		dropped = append(dropped, b.queue[:n]...)
		b.dequeued(dropped)
		clear(b.queue[:n])
		b.queue = b.queue[n:]
	}
	if !b.formed && b.ctxQueued > 0 {
		keep := b.queue[:0]
		var cancelled []*Record
		for _, r := range b.queue {
			if err := r.cancelled(); err != nil {
				r.Err = err
				b.queueBytes -= r.wireSize
				cancelled = append(cancelled, r)
				continue
			}
			keep = append(keep, r)
		}
		clear(b.queue[len(keep):])
		b.queue = keep
		b.dequeued(cancelled)
		dropped = append(dropped, cancelled...)
	}
	b.formed = false
	if len(b.queue) == 0 {
		b.flushing = false
	}
	if len(dropped) > 0 {
		b.deliver(dropped)
	}
	if b.stalled {
		b.resumeHead()
	}
	if len(b.queue) > 0 || (b.stalled && len(b.batches) > 0) {
		b.armSweep()
	}
}

func (b *batcher) armSweep() {
	if b.sweepSet {
		return
	}
	b.sweepSet = true
	b.after(batcherSweepInterval, &sweepTick{})
}

// failAll fails every record the batcher holds. With inFlightToo the
// batches in flight are failed as well and their responses ignored.
func (b *batcher) failAll(err error, inFlightToo bool) {
	if len(b.queue) > 0 {
		q := b.queue
		b.queue, b.queueBytes, b.ctxQueued = nil, 0, 0
		b.deliverErr(q, err)
	}
	keep := b.batches[:0]
	spent := false
	for _, bt := range b.batches {
		if bt.inFlight && !inFlightToo {
			keep = append(keep, bt)
			continue
		}
		if bt.inFlight {
			b.finishRequest(bt, err)
		}
		spent = spent || (b.cfg.Idempotent && bt.pid == b.pid)
		endSendSpan(bt, err)
		b.deliverErr(bt.recs, err)
	}
	clear(b.batches[len(keep):])
	b.batches = keep
	// A failed batch leaves a hole in its producer id's sequence (the
	// broker may never have seen it) that no later batch can fill: later
	// batches start over under a fresh producer id. Batches still in flight
	// keep theirs and are restamped if the broker says they were not
	// written, as after an abandoned batch.
	if spent && !inFlightToo {
		b.rotate("batches failed before they were acknowledged")
	}
	if b.stalled && !b.needsStall() && !b.anyInFlight() {
		b.stalled = false
	}
}

// anyInFlight reports whether a request of the batcher awaits its outcome.
func (b *batcher) anyInFlight() bool {
	for _, bt := range b.batches {
		if bt.inFlight {
			return true
		}
	}
	return false
}

func (b *batcher) deliverErr(recs []*Record, err error) {
	for _, r := range recs {
		r.Err = err
	}
	b.deliver(recs)
}

func (b *batcher) deliver(recs []*Record) {
	for _, r := range recs {
		r.Partition = b.cfg.Partition
		r.Offset = -1
	}
	b.cfg.Sink.Deliver(recs)
}

func isLeaderError(err error) bool {
	return errors.Is(err, wire.ErrNotLeader) || errors.Is(err, wire.ErrUnknownTopicOrPartition)
}

func isOutOfOrder(err error) bool { return errors.Is(err, wire.ErrOutOfOrderSequence) }
