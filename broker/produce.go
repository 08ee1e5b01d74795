package broker

// Produce (request type 1) appends a batch of records to one partition and
// answers its base offset.
//
// Checks, in order, each with its error_code: authentication when
// Auth.Required (58); topic exists, or is auto-created (3); partition in
// range (3); this node leads the partition (6); the principal may write the
// topic (29, naming principal, WRITE and topic); at least one record, sane
// records and idempotence headers (87); summed record sizes within the
// topic's or broker's max message bytes (10); idempotence sequence (45, or a
// duplicate answered with its original offset and code 0, not appended).
//
// An idempotent batch whose sequence skips ahead of its producer's next one
// is not answered 45 at once: it waits, without the partition's lock, for
// the batches before it (reorder.go), because a client pipelining batches
// on separate QUIC streams cannot make them arrive in order. Only when
// Config.IdempotenceReorderWindow or timeout_ms passes with the gap open is
// it answered 45; a negative window restores the immediate 45.
//
// Acks: None and Leader append and answer after the append (None still gets
// the real base offset, which the client may ignore); All, Majority and
// Custom(n) append with fsync in durable mode before answering (there are no
// replicas to wait for). timeout_ms (0 = DefaultProduceTimeout) bounds the
// wait for the partition behind other appends; if it passes, the batch is
// not appended and code 7 is answered. An append that has started finishes
// and is acknowledged.
//
// Departures from upstream: upstream accepts any batch without the checks
// above (no auth, ACL, size or idempotence), and a malformed body is
// answered 0xFF here like there, but trailing bytes after the body are
// rejected here. The reorder wait is a departure upstream does not need,
// having no idempotence extension; docs/protocol.md only says a batch that skips
// ahead is answered 45, which with the wait holds once the window passes.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func encodeProduce(r *wire.ProduceResponse) []byte {
	return r.Append(wire.AppendFrame(make([]byte, 0, 1+r.Size()), wire.TypeProduce))
}

func produceErr(code uint32, msg string) reply {
	return reply{frame: encodeProduce(&wire.ProduceResponse{ErrorCode: code, ErrorMessage: &msg})}
}

// validCodecs are the rmq-codec values docs/protocol.md defines.
var validCodecs = map[string]bool{"gzip": true, "lz4": true, "zstd": true}

// checkRecords returns a message for code 87, or "" when the records are
// sane: header keys that pass wire.ValidateHeaderKey (non-empty), timestamps that are unix millis or -1 (Kafka's
// "no timestamp", which docs/protocol.md's own golden FetchResponse carries), known
// codec names.
func checkRecords(records []wire.Record) string {
	if len(records) == 0 {
		return "a Produce request must carry at least one record"
	}
	for i := range records {
		r := &records[i]
		if r.Timestamp < -1 {
			return fmt.Sprintf("record %d: negative timestamp %d (only -1, meaning none, is accepted)", i, r.Timestamp)
		}
		for _, h := range r.Headers {
			if err := wire.ValidateHeaderKey(h.Key); err != nil {
				return fmt.Sprintf("record %d: %v", i, err)
			}
		}
		if v, ok := wire.HeaderValue(r.Headers, wire.HeaderCodec); ok && !validCodecs[string(v)] {
			return fmt.Sprintf("record %d: unknown rmq-codec %q (want gzip, lz4 or zstd)", i, v)
		}
	}
	return ""
}

// mayWrite applies the ACL.
func (b *Broker) mayWrite(principal, topic string) bool {
	if b.cfg.ACL == nil {
		return true
	}
	for _, t := range b.cfg.ACL[principal] {
		if t == "*" || t == topic {
			return true
		}
	}
	return false
}

func (b *Broker) maxMessageBytes(topic string) int {
	if n, ok := b.cfg.TopicMaxMessageBytes[topic]; ok {
		return n
	}
	return b.cfg.MaxMessageBytes
}

// produceRequests holds decoded requests whose records array the next
// Produce decodes into: a 1,000-record request would otherwise allocate
// and clear 80 KB of records. Nothing keeps a decoded record once
// handleProduce returns (the log copies what it appends).
var produceRequests = sync.Pool{New: func() any { return new(wire.ProduceRequest) }}

// maxPooledRecords is the most records a pooled request keeps room for.
const maxPooledRecords = 16 << 10

func (n *node) handleProduce(ctx context.Context, c *connection, body []byte) reply {
	req := produceRequests.Get().(*wire.ProduceRequest)
	defer func() {
		recs := req.Records[:0]
		if cap(recs) > maxPooledRecords || len(body) > maxPooledRequest {
			// Too big to keep, or pointing into a frame too big for the
			// buffer pool, which the records must not keep alive.
			recs = nil
		}
		// The records left in the array point into pooled frames only,
		// which stay alive in their own pool anyway: not clearing them
		// saves clearing 80 KB per request.
		*req = wire.ProduceRequest{Records: recs}
		produceRequests.Put(req)
	}()
	if err := req.UnmarshalReusing(body); err != nil {
		return decodeError("ProduceRequest", err)
	}
	return n.produce(ctx, c, req)
}

func (n *node) produce(ctx context.Context, c *connection, req *wire.ProduceRequest) reply {
	b := n.b
	inj := b.faults.take(wire.TypeProduce, []string{req.Topic}, int(req.PartitionID))
	if inj != nil && !inj.AfterApply {
		return injectedReply(inj, wire.TypeProduce)
	}
	if b.cfg.Auth != nil && b.cfg.Auth.Required && !c.authenticated(time.Now()) {
		return produceErr(wire.ErrSASLAuthenticationFailed.Code, "authentication required: send Authenticate (request type 32) first")
	}
	p, leader, code, msg := b.lookup(req.Topic, req.PartitionID)
	if code != 0 {
		return produceErr(code, msg)
	}
	if leader != n.index {
		return produceErr(wire.ErrNotLeader.Code, fmt.Sprintf("%s is not the leader of %s/%d; %s is: refresh metadata", n.id, req.Topic, req.PartitionID, b.nodes[leader].id))
	}
	if principal := c.principalName(); !b.mayWrite(principal, req.Topic) {
		return produceErr(wire.ErrTopicAuthorizationFailed.Code, fmt.Sprintf("principal %q is not authorized for operation WRITE on topic %q", principal, req.Topic))
	}
	if m := checkRecords(req.Records); m != "" {
		return produceErr(wire.ErrInvalidRecord.Code, m)
	}
	idem, m := parseIdempotence(req.Records)
	if m != "" {
		return produceErr(wire.ErrInvalidRecord.Code, m)
	}
	size := 0
	for i := range req.Records {
		size += req.Records[i].Size()
	}
	if max := b.maxMessageBytes(req.Topic); size > max {
		return produceErr(wire.ErrMessageTooLarge.Code, fmt.Sprintf("batch of %d record bytes exceeds max message bytes %d of topic %q", size, max, req.Topic))
	}

	wait, cancel := context.WithTimeout(ctx, timeoutOf(req.TimeoutMs, DefaultProduceTimeout))
	defer cancel()
	stop := context.AfterFunc(b.stopCtx, cancel)
	defer stop()
	held := false // the batch has waited in the reorder buffer
	for {
		if !p.acquire(wait) {
			if ctx.Err() != nil || b.stopCtx.Err() != nil {
				return reply{drop: true}
			}
			return produceErr(wire.ErrRequestTimedOut.Code, fmt.Sprintf("timed out after %d ms waiting for partition %s/%d", req.TimeoutMs, req.Topic, req.PartitionID))
		}
		if held && b.leaderOf(p) != n.index {
			p.release()
			return produceErr(wire.ErrNotLeader.Code, fmt.Sprintf("%s stopped leading %s/%d while the batch waited for its predecessors: refresh metadata", n.id, req.Topic, req.PartitionID))
		}
		res := n.appendLocked(p, req, idem, !held && b.cfg.IdempotenceReorderWindow > 0)
		p.release()
		if res.waiter != nil {
			held = true
			woken, drop, waited := b.holdBatch(ctx, wait, p, res.waiter)
			if drop {
				return reply{drop: true}
			}
			if !woken {
				b.log.Debug("gap not filled within the reorder window", "topic", p.topic, "partition", p.id, "pid", idem.pid, "seq", idem.seq, "waited", waited)
				return produceErr(wire.ErrOutOfOrderSequence.Code, fmt.Sprintf("%s; not filled while the batch waited %v for its predecessors", res.msg, waited.Round(time.Millisecond)))
			}
			continue
		}
		if res.code == 0 && !res.dup {
			b.appended(p)
		}
		if inj != nil {
			return injectedReply(inj, wire.TypeProduce)
		}
		if res.code != 0 {
			return produceErr(res.code, res.msg)
		}
		return reply{frame: encodeProduce(&wire.ProduceResponse{Offset: res.base})}
	}
}

// appendResult is the outcome of appendLocked.
type appendResult struct {
	base uint64
	code uint32 // wire error code; 0 = appended or duplicate
	msg  string // the error message; for a waiting batch, its code 45 message
	dup  bool   // a duplicate answered with its original base
	// waiter is set when the batch is ahead of its producer's next sequence
	// and now waits in the reorder buffer; nothing was appended.
	waiter *reorderWaiter
}

// appendLocked runs the idempotence check and the append; p.lock is held.
// mayHold lets a batch that skips ahead wait in the reorder buffer instead
// of being answered 45.
func (n *node) appendLocked(p *partition, req *wire.ProduceRequest, idem idemHeaders, mayHold bool) appendResult {
	if idem.present {
		v, base, m := p.idem.check(idem)
		switch v {
		case verdictDuplicate:
			n.b.log.Debug("duplicate batch", "topic", p.topic, "partition", p.id, "pid", idem.pid, "seq", idem.seq, "base", base)
			return appendResult{base: base, dup: true}
		case verdictReject:
			return appendResult{code: wire.ErrOutOfOrderSequence.Code, msg: m}
		case verdictAhead:
			if !mayHold {
				return appendResult{code: wire.ErrOutOfOrderSequence.Code, msg: m}
			}
			if w := p.reorder.add(idem.pid, idem.seq); w != nil {
				n.b.log.Debug("batch waits for its predecessors", "topic", p.topic, "partition", p.id, "pid", idem.pid, "seq", idem.seq)
				return appendResult{msg: m, waiter: w}
			}
			return appendResult{code: wire.ErrOutOfOrderSequence.Code, msg: fmt.Sprintf("%s; %d later batches of this producer already wait for earlier sequences", m, maxReorderWaiting)}
		}
	}
	fsync := req.Acks.Level >= wire.AckMajority
	base, err := p.log.Append(req.Records, fsync)
	if err != nil {
		n.b.log.Error("append failed", "topic", p.topic, "partition", p.id, "err", err)
		code := wire.ErrUnknownServerError.Code
		if errors.Is(err, errLogClosed) {
			code = wire.ErrNotLeader.Code
		}
		return appendResult{code: code, msg: "append failed: " + err.Error()}
	}
	if idem.present {
		p.reorder.advance(idem.pid, p.idem.record(idem, len(req.Records), base))
	}
	return appendResult{base: base}
}

// holdBatch waits until w is woken (its predecessors were appended), the
// reorder window passes, or wait ends (the request's timeout, the
// connection, or the broker closing). woken means check the batch again;
// drop means the connection or broker ended; otherwise the gap stayed open
// for waited.
func (b *Broker) holdBatch(ctx, wait context.Context, p *partition, w *reorderWaiter) (woken, drop bool, waited time.Duration) {
	start := time.Now()
	t := time.NewTimer(b.cfg.IdempotenceReorderWindow)
	defer t.Stop()
	select {
	case <-w.ready:
		return true, false, time.Since(start)
	case <-t.C:
	case <-wait.Done():
	}
	if !p.reorder.remove(w) {
		return true, false, time.Since(start) // woken as the wait ended
	}
	if ctx.Err() != nil || b.stopCtx.Err() != nil {
		return false, true, time.Since(start)
	}
	return false, false, time.Since(start)
}
