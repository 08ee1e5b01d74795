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
// rejected here.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func encodeProduce(r *wire.ProduceResponse) []byte {
	return r.Append(wire.AppendFrame(make([]byte, 0, 1+r.Size()), wire.TypeProduce))
}

func produceErr(code uint32, msg string) reply {
	return reply{frame: encodeProduce(&wire.ProduceResponse{ErrorCode: code, ErrorMessage: &msg})}
}

// validCodecs are the rmq-codec values WIRE.md defines.
var validCodecs = map[string]bool{"gzip": true, "lz4": true, "zstd": true}

// checkRecords returns a message for code 87, or "" when the records are
// sane: non-empty header keys, timestamps that are unix millis or -1 (Kafka's
// "no timestamp", which WIRE.md's own golden FetchResponse carries), known
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
			if h.Key == "" {
				return fmt.Sprintf("record %d: empty header key", i)
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

func (n *node) handleProduce(ctx context.Context, c *connection, body []byte) reply {
	var req wire.ProduceRequest
	if err := req.Unmarshal(body); err != nil {
		return decodeError("ProduceRequest", err)
	}
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
	if !p.acquire(wait) {
		if ctx.Err() != nil || b.stopCtx.Err() != nil {
			return reply{drop: true}
		}
		return produceErr(wire.ErrRequestTimedOut.Code, fmt.Sprintf("timed out after %d ms waiting for partition %s/%d", req.TimeoutMs, req.Topic, req.PartitionID))
	}
	base, code, msg := n.appendLocked(p, &req, idem)
	p.release()
	if code == 0 && msg == "" {
		b.appended(p)
	}
	if inj != nil {
		return injectedReply(inj, wire.TypeProduce)
	}
	if code != 0 {
		return produceErr(code, msg)
	}
	return reply{frame: encodeProduce(&wire.ProduceResponse{Offset: base})}
}

// appendLocked runs the idempotence check and the append; p.lock is held.
// A duplicate returns its original base with code 0 and msg "dup".
func (n *node) appendLocked(p *partition, req *wire.ProduceRequest, idem idemHeaders) (uint64, uint32, string) {
	if idem.present {
		dup, base, m := p.idem.check(idem, len(req.Records))
		if m != "" {
			return 0, wire.ErrOutOfOrderSequence.Code, m
		}
		if dup {
			n.b.log.Debug("duplicate batch", "topic", p.topic, "partition", p.id, "pid", idem.pid, "seq", idem.seq, "base", base)
			return base, 0, "dup"
		}
	}
	sync := req.Acks.Level >= wire.AckMajority
	base, err := p.log.Append(req.Records, sync)
	if err != nil {
		n.b.log.Error("append failed", "topic", p.topic, "partition", p.id, "err", err)
		code := wire.ErrUnknownServerError.Code
		if errors.Is(err, errLogClosed) {
			code = wire.ErrNotLeader.Code
		}
		return 0, code, "append failed: " + err.Error()
	}
	if idem.present {
		p.idem.record(idem, len(req.Records), base)
	}
	return base, 0, ""
}
