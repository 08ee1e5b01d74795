package actors

// A batcher's attempts: sending a batch, the request goroutine that runs
// it on a live connection, and what the batcher does with the outcome.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func (b *batcher) send(bt *batch, now time.Time) {
	r := b.run
	bt.reqID = reqIDs.Add(1)
	bt.inFlight = true
	bt.sends++
	bt.addr = b.leaderAddr
	bt.sentAt = now
	bt.predAcked = !b.cfg.Idempotent || bt.pid != r.pid || bt.seq <= r.ackedEnd
	bt.owner.Store(bt.reqID)
	b.formed = true
	bt.attrs = b.bm.sent(bt.addr, len(bt.recs), len(bt.body))
	var span trace.Span
	if b.cfg.Tracer != nil {
		bt.span = startSendSpan(b.cfg, bt)
		if bt.span != nil && bt.span.IsRecording() {
			span = bt.span
		}
	}
	deadline := now.Add(b.cfg.RequestTimeout)
	bt.refs.Add(1) // the request's, until its answer is handled
	if live := b.link.Live(); live != nil {
		bt.viaActor = false
		go runRequest(&b.cfg, b.sys, b.self, b.stopped, live, bt, bt.reqID, deadline, span)
		return
	}
	bt.viaActor = true
	if r.viaActor == nil {
		r.viaActor = make(map[uint64]*batch)
	}
	r.viaActor[bt.reqID] = bt
	b.sys.Root.Send(b.leader, &Request{
		ReqType:  wire.TypeProduce,
		Body:     bt.body,
		Deadline: deadline,
		ReplyTo:  b.self,
		ID:       bt.reqID,
		Span:     span,
	})
}

// runRequest runs one attempt of bt on a live connection, in its own
// goroutine. A success is delivered right here, once the goroutine has won
// bt's owner for it; the batcher learns the outcome from a reqDone.
func runRequest(cfg *BatcherConfig, sys *actor.ActorSystem, self *actor.PID, stopped <-chan struct{}, live *LiveConn, bt *batch, reqID uint64, deadline time.Time, span trace.Span) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	if span != nil {
		span.AddEvent(EventConnWritten)
	}
	start := time.Now()
	body, err := live.Conn.Do(ctx, wire.TypeProduce, bt.body)
	rtt := time.Since(start)
	if span != nil {
		traceResponse(span, body, err, rtt)
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w after %v: %w", ErrRequestTimeout, rtt.Round(time.Millisecond), err)
	}
	cancel()
	live.observe(err)
	base, err := parseProduce(body, err, len(bt.recs), cfg.Acks.Level == wire.AckNone)
	m := &reqDone{bt: bt, reqID: reqID, base: base, err: err, principal: live.Principal}
	tell := func() {
		select {
		case <-stopped:
		default:
			sys.Root.Send(self, m)
		}
	}
	if err != nil || !bt.owner.CompareAndSwap(reqID, claimed) {
		tell()
		return
	}
	m.delivered = true
	// Counted and traced before the result, so that a caller who has its
	// result sees both.
	recordDone(cfg.Counters, cfg.Meters, bt.attrs, len(bt.recs), bt.sentAt, nil)
	if bt.span != nil {
		bt.span.End()
	}
	// The batcher is told first: waking a caller puts it next in line on
	// this processor, and telling the batcher afterwards would put the
	// batcher's goroutine there instead, ahead of the caller. The message
	// carries the request's reference; this goroutine keeps one of its own
	// until it is done with the records.
	bt.refs.Add(1)
	tell()
	cfg.Source.Deliver(bt.recs, successOutcome(cfg.Partition, base, cfg.Acks.Level == wire.AckNone))
	recycle(bt)
}

// parseProduce turns the produce answer for a batch of records into its
// base offset or error. An offset that would make one of the batch's
// offsets overflow an int64 is a *wire.OffsetError (not a negative offset,
// and -1 means "none"); with acks None the answer carries no offset worth
// checking.
func parseProduce(body []byte, err error, records int, acksNone bool) (int64, error) {
	if err != nil {
		return 0, err
	}
	var resp wire.ProduceResponse
	if err := resp.Unmarshal(body); err != nil {
		return 0, err
	}
	if err := wire.ResponseErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return 0, err
	}
	if acksNone {
		return -1, nil
	}
	return resp.BaseOffset(records)
}

func successOutcome(partition int32, base int64, acksNone bool) Outcome {
	o := Outcome{Partition: partition, Base: base}
	if acksNone {
		o.Base = -1
	}
	return o
}

// finishRequest records the outcome of bt's request in flight (err nil on
// success) and forgets the request.
func (b *batcher) finishRequest(bt *batch, err error) {
	bt.inFlight = false
	recordDone(b.cfg.Counters, b.cfg.Meters, bt.attrs, len(bt.recs), bt.sentAt, err)
}

func (b *batcher) onDone(m *reqDone) {
	bt := m.bt
	defer recycle(bt) // the request's reference
	if !bt.inFlight || bt.reqID != m.reqID {
		return // an attempt the batcher already gave up on
	}
	if m.delivered {
		bt.inFlight = false // counted by the request's goroutine
	} else {
		b.finishRequest(bt, m.err)
	}
	if m.err != nil {
		b.failed(bt, m.err, m.principal, false)
		b.progress()
		return
	}
	b.succeeded(bt, m.base, m.delivered)
	b.progress()
}

// onResponse handles the answer to an attempt that went through the
// connection actor's mailbox.
func (b *batcher) onResponse(m *Response) {
	bt := b.run.viaActor[m.ID]
	if bt == nil {
		return
	}
	delete(b.run.viaActor, m.ID)
	defer recycle(bt) // the request's reference
	if !bt.inFlight || bt.reqID != m.ID {
		return // an answer to an attempt already given up on
	}
	base, err := parseProduce(m.Body, m.Err, len(bt.recs), b.cfg.Acks.Level == wire.AckNone)
	if !bt.owner.CompareAndSwap(bt.reqID, 0) {
		return
	}
	b.finishRequest(bt, err)
	if err != nil {
		b.failed(bt, err, m.Principal, false)
		b.progress()
		return
	}
	b.succeeded(bt, base, false)
	b.progress()
}

func (b *batcher) remove(bt *batch) {
	bs := b.run.batches
	for i, x := range bs {
		if x == bt {
			copy(bs[i:], bs[i+1:])
			bs[len(bs)-1] = nil
			b.run.batches = bs[:len(bs)-1]
			return
		}
	}
}

func (b *batcher) succeeded(bt *batch, base int64, delivered bool) {
	r := b.run
	r.lastFail = nil
	b.remove(bt)
	if b.cfg.Idempotent && bt.pid == r.pid && bt.seq+uint64(len(bt.recs)) > r.ackedEnd {
		r.ackedEnd = bt.seq + uint64(len(bt.recs))
	}
	if delivered {
		bt.span = nil // ended by the request's goroutine
	} else {
		endSendSpan(bt, nil)
		b.cfg.Source.Deliver(bt.recs, successOutcome(b.cfg.Partition, base, b.cfg.Acks.Level == wire.AckNone))
	}
	recycle(bt)
}
