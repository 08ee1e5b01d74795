package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// This file holds the batcher's failure handling: classifying a failed
// attempt, the stalled pipeline that resends in sequence order, producer id
// rotation, the deadline sweep, and failing what the batcher holds.

// failed classifies a failed attempt of bt and stalls the pipeline: no new
// batch goes out until every failed batch has been acknowledged or
// abandoned, and each resend waits for its backoff.
func (b *batcher) failed(bt *batch, err error, principal string, expired bool) {
	r := b.run
	// A request that timed out waiting for its connection's slot
	// (transport.Config.SerialRequests) was never sent: it costs no retry
	// of MaxRetries and grows no backoff.
	notSent := errors.Is(err, transport.ErrQueuedTooLong)
	if !notSent {
		bt.failures++
	}
	if b.cfg.Upstream {
		err = classifyUpstream(bt, err)
	}
	bt.lastErr = &ProduceError{Topic: b.cfg.Topic, Partition: b.cfg.Partition, Broker: bt.addr, Principal: principal, Err: err}
	r.lastFail = bt.lastErr
	endSendSpan(bt, err)
	r.stalled = true
	// The sweep abandons the batch at its deadline should nothing else
	// move the partition on (no leader answer, for one).
	b.armSweep()
	quick := false
	switch {
	case isLeaderError(err):
		bt.notWritten = true
		b.leader, b.link = nil, nil
		b.askLeader(true)
	case isOutOfOrder(err):
		bt.notWritten = true
		if !bt.predAcked {
			break // an earlier batch of this producer id was unacknowledged: wait for it
		}
		// The broker's sequence of this producer id does not continue at
		// this batch: the producer id is spent.
		if bt.pid == r.pid {
			b.rotate("broker rejected the sequence")
		}
	case errors.Is(err, ErrNotConnected):
		// The connection is gone or going: ask where the partition lives
		// now (the metadata actor reconnects).
		b.leader, b.link = nil, nil
		b.askLeader(false)
		quick = true
	case isConnLost(err), notSent:
		quick = true
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
	attempt := bt.failures
	if quick {
		// The broker did not refuse the batch; the connection failed. The
		// resend waits in the connection actor's queue until a connection
		// is up again, and the connections supervisor paces the dials: a
		// backoff grown here would only hold the batch back once the
		// broker is back.
		attempt = 1
	}
	delay := b.cfg.Backoff.Delay(attempt, nil)
	bt.waitUntil = time.Now().Add(delay)
	eventRetry(b.cfg.Source, bt.recs, bt.sends, err, delay)
	b.cfg.Logger.Info("rustmq: produce failed, will retry", append(b.logAttrs(bt, err), slog.Duration("backoff", delay))...)
}

// logAttrs are the attributes of a log line about bt's last attempt.
func (b *batcher) logAttrs(bt *batch, err error) []any {
	return []any{slog.String("broker", bt.addr), slog.String("topic", b.cfg.Topic), slog.Int("partition", int(b.cfg.Partition)),
		slog.Int("attempt", bt.sends), slog.Int("records", len(bt.recs)), slog.String("reason", errorType(err)), slog.Any("error", err)}
}

// closeReason says why bt was closed.
func (b *batcher) closeReason(bt *batch) string {
	switch {
	case len(bt.recs) >= b.cfg.BatchSize:
		return "size"
	case bt.flush:
		return "flush"
	case b.cfg.Linger <= 0:
		return "no_linger"
	case time.Since(bt.opened) < b.cfg.Linger:
		return "bytes"
	}
	return "linger"
}

// resumeHead drives the stalled pipeline: once nothing is in flight it
// settles the head batch (abandon, restamp) and resends it after its
// backoff; with no failed batch left it pipelines again.
func (b *batcher) resumeHead() {
	r := b.run
	if r.aborted != nil {
		return
	}
	for _, bt := range r.batches {
		if bt.inFlight {
			return
		}
	}
	now := time.Now()
	for len(r.batches) > 0 {
		h := r.batches[0]
		if h.abandon == nil && passed(h.deadline, TickOf(now.UnixNano())) {
			h.abandon = fmt.Errorf("%w: %w", ErrDeliveryTimeout, h.lastErr)
		}
		if h.abandon != nil {
			r.batches[0] = nil
			r.batches = r.batches[1:]
			b.cfg.Logger.Warn("rustmq: batch abandoned", b.logAttrs(h, h.abandon)...)
			b.deliverErr(h.recs, h.abandon)
			if b.cfg.Idempotent && h.pid == r.pid {
				b.rotate("a batch was abandoned")
			}
			recycle(h)
			continue
		}
		if b.leader == nil {
			b.askLeader(false)
			return
		}
		if b.cfg.Idempotent && h.pid != r.pid && h.notWritten {
			b.restamp(h)
		}
		if wait := h.waitUntil.Sub(now); wait > 0 {
			if !b.retrySet {
				b.retrySet = true
				b.after(wait, &retryTick{})
			}
			return
		}
		b.send(h, now)
		return
	}
	r.stalled = false
	b.fill()
}

// rotate switches to a fresh producer id; unsent batches take sequences from 0.
func (b *batcher) rotate(why string) {
	r := b.run
	old := r.pid
	r.pid = b.cfg.NewProducerID()
	r.nextSeq, r.ackedEnd = 0, 0
	b.cfg.Counters.ProducerIDResets.Add(1)
	b.cfg.Logger.Info("rustmq: new producer id for partition", slog.String("topic", b.cfg.Topic), slog.Int("partition", int(b.cfg.Partition)),
		slog.Uint64("old", old), slog.Uint64("new", r.pid), slog.String("reason", why))
}

// batcherSweepInterval is the period of a batcher's sweep while it holds
// records it cannot send.
const batcherSweepInterval = 200 * time.Millisecond

// sweep runs every batcherSweepInterval while records wait. Records are
// normally checked when their batch is sealed for its first send, which
// fails those whose context ended or whose delivery deadline passed, so the
// failure comes within Linger while the partition can send. Only when no
// batch was sent during a whole sweep period (no leader, a stalled retry,
// every request slot taken) does the sweep take the waiting batches out of
// the buffer and check their records, so that such records still get their
// result within about two sweep periods. It also abandons stalled batches
// past their deadline.
func (b *batcher) sweep() {
	r := b.run
	if !b.formed {
		deadline, ctxs := b.part.oldestDeadline()
		now := TickOf(time.Now().UnixNano())
		for _, bt := range r.pending {
			ctxs = ctxs || bt.ctxRecs > 0
			deadline = earliest(deadline, bt.deadline)
		}
		if ctxs || passed(deadline, now) {
			pending := append(r.pending, b.part.takeAll(false)...)
			keep := pending[:0]
			for _, bt := range pending {
				b.prune(bt, now)
				if len(bt.recs) == 0 {
					recycle(bt)
					continue
				}
				keep = append(keep, bt)
			}
			clear(pending[len(keep):])
			r.pending = keep
		}
	}
	b.formed = false
	if r.stalled {
		b.resumeHead()
	} else {
		b.progress()
	}
	if b.hasBuffered() || (r.stalled && len(r.batches) > 0) {
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

// failAll fails every record the batcher holds, except the buffered ones.
// With inFlightToo the batches in flight are failed as well and their
// outcome ignored; an attempt whose success its request goroutine already
// delivered is left to finish.
func (b *batcher) failAll(err error, inFlightToo bool) {
	r := b.run
	for _, bt := range r.pending {
		b.deliverErr(bt.recs, err)
		recycle(bt)
	}
	r.pending = nil
	keep := r.batches[:0]
	spent := false
	for _, bt := range r.batches {
		if bt.inFlight {
			if !inFlightToo || !bt.owner.CompareAndSwap(bt.reqID, 0) {
				keep = append(keep, bt)
				continue
			}
			b.finishRequest(bt, err)
		}
		spent = spent || (b.cfg.Idempotent && bt.pid == r.pid)
		endSendSpan(bt, err)
		b.deliverErr(bt.recs, err)
		recycle(bt)
	}
	clear(r.batches[len(keep):])
	r.batches = keep
	// A failed batch leaves a hole in its producer id's sequence (the
	// broker may never have seen it) that no later batch can fill: later
	// batches start over under a fresh producer id. Batches still in flight
	// keep theirs and are restamped if the broker says they were not
	// written, as after an abandoned batch.
	if spent && !inFlightToo {
		b.rotate("batches failed before they were acknowledged")
	}
	if r.stalled && !b.anyInFlight() && len(r.batches) == 0 {
		r.stalled = false
	}
}

// anyInFlight reports whether a request of the batcher awaits its outcome.
func (b *batcher) anyInFlight() bool {
	for _, bt := range b.run.batches {
		if bt.inFlight {
			return true
		}
	}
	return false
}

func (b *batcher) deliverErr(recs []*Record, err error) {
	if len(recs) == 0 {
		return
	}
	b.cfg.Source.Deliver(recs, Outcome{Partition: b.cfg.Partition, Base: -1, Err: err})
}

func isLeaderError(err error) bool {
	return errors.Is(err, wire.ErrNotLeader) || errors.Is(err, wire.ErrUnknownTopicOrPartition)
}

func isOutOfOrder(err error) bool { return errors.Is(err, wire.ErrOutOfOrderSequence) }

// isConnLost reports whether err is the loss of the connection the request
// ran on (as opposed to an answer, or a timeout on a live connection).
func isConnLost(err error) bool {
	_, ok := errors.AsType[*transport.ConnError](err)
	return ok
}
