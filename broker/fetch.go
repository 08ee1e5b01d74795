package broker

// Fetch (request type 2) reads records of one partition from fetch_offset.
//
// It answers up to max_bytes of records (summed wire sizes), but always at
// least one record when fetch_offset is below the high watermark, so a
// record larger than max_bytes cannot stall a consumer. At the high
// watermark it waits up to timeout_ms (capped at DefaultMaxFetchWait; 0 =
// answer at once) for a new append, then answers what there is, possibly
// nothing.
//
// Error codes: 58 before authentication when Auth.Required; 3 for an unknown
// topic or partition; 6 when this node does not lead the partition; 1 with
// a message naming the high watermark when fetch_offset is beyond it. Reads
// are not subject to the ACL.
//
// Code 1 beyond the high watermark is Kafka's numbering (OFFSET_OUT_OF_RANGE
// is 1 there, and not retriable: the client must pick another offset). It
// conflicts with docs/protocol.md's table, where 1 is "unknown server error" and
// retriable, so a client that follows only docs/protocol.md would retry such a Fetch
// forever. The code is kept (it is what Kafka clients expect); the message,
// which starts "offset out of range", and the high_watermark field of the
// answer tell the two apart. doc.go lists this among the open questions.
//
// Departures from upstream: the long poll, the leader check and the
// auth check are this broker's; upstream answers from its local storage.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func encodeFetch(r *wire.FetchResponse) []byte {
	return r.Append(wire.AppendFrame(make([]byte, 0, 1+r.Size()), wire.TypeFetch))
}

func fetchErr(code uint32, hw uint64, msg string) reply {
	return reply{frame: encodeFetch(&wire.FetchResponse{HighWatermark: hw, ErrorCode: code, ErrorMessage: &msg})}
}

func (n *node) handleFetch(ctx context.Context, c *connection, body []byte) reply {
	var req wire.FetchRequest
	if err := req.Unmarshal(body); err != nil {
		return decodeError("FetchRequest", err)
	}
	b := n.b
	if inj := b.faults.take(wire.TypeFetch, []string{req.Topic}, int(req.PartitionID)); inj != nil {
		return injectedReply(inj, wire.TypeFetch)
	}
	if b.cfg.Auth != nil && b.cfg.Auth.Required && !c.authenticated(time.Now()) {
		return fetchErr(wire.ErrSASLAuthenticationFailed.Code, 0, "authentication required: send Authenticate (request type 32) first")
	}
	p, leader, code, msg := b.lookup(req.Topic, req.PartitionID)
	if code != 0 {
		return fetchErr(code, 0, msg)
	}
	if leader != n.index {
		return fetchErr(wire.ErrNotLeader.Code, 0, fmt.Sprintf("%s is not the leader of %s/%d; %s is: refresh metadata", n.id, req.Topic, req.PartitionID, b.nodes[leader].id))
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 1
	}
	wait := time.Duration(req.TimeoutMs) * time.Millisecond
	if wait > DefaultMaxFetchWait {
		wait = DefaultMaxFetchWait
	}
	var timer *time.Timer
	for {
		woken := b.waitAppend(p)
		hw := p.log.HighWatermark()
		if req.FetchOffset > hw {
			return fetchErr(wire.ErrUnknownServerError.Code, hw, fmt.Sprintf("offset out of range: fetch offset %d is beyond the high watermark %d", req.FetchOffset, hw))
		}
		if req.FetchOffset < hw || wait <= 0 {
			records, err := p.log.Read(req.FetchOffset, maxBytes)
			if err != nil {
				if errors.Is(err, errOffsetOutOfRange) {
					continue // the log moved under us; read again
				}
				return fetchErr(wire.ErrUnknownServerError.Code, hw, "read failed: "+err.Error())
			}
			return reply{frame: encodeFetch(&wire.FetchResponse{Records: records, HighWatermark: p.log.HighWatermark()})}
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-woken:
		case <-timer.C:
			wait = 0
		case <-ctx.Done():
			return reply{drop: true}
		case <-b.stopCtx.Done():
			return reply{drop: true}
		}
	}
}
