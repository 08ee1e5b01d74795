package actors

import (
	"errors"
	"strings"

	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// upstreamFrame is the bound on a request's frame in upstream mode, 0
// otherwise.
func (c *BatcherConfig) upstreamFrame() int {
	if c.Upstream {
		return transport.OneDatagramBytes
	}
	return 0
}

// UpstreamRefusal is upstream RustMQ's 0xFF answer to a Produce request,
// classified by its text in upstream mode (docs/protocol.md, "Upstream
// mode"). It unwraps to the *transport.BrokerError, and to the protocol
// error the text stands for when there is one (wire.ErrNotLeader,
// wire.ErrUnknownTopicOrPartition), so errors.Is works as for an error code.
type UpstreamRefusal struct {
	// Err is the broker's answer.
	Err *transport.BrokerError
	// As is the protocol error the text stands for; nil if none.
	As error
	// Retriable says whether another attempt may succeed without storing
	// any record twice: the broker applied nothing.
	Retriable bool
	// Reason says how the text was read.
	Reason string
}

// Error implements the error interface.
func (e *UpstreamRefusal) Error() string { return e.Err.Error() + " (" + e.Reason + ")" }

// Unwrap returns the broker's answer and the protocol error it stands for.
func (e *UpstreamRefusal) Unwrap() []error {
	if e.As != nil {
		return []error{e.Err, e.As}
	}
	return []error{e.Err}
}

// classifyUpstream reads a failed Produce's error frame as upstream writes
// them. multi says the request was larger than one QUIC packet, so that
// upstream's single read may have received only part of it. Errors other
// than error frames are returned unchanged.
func classifyUpstream(err error, multi bool) error {
	be, ok := errors.AsType[*transport.BrokerError](err)
	if !ok {
		return err
	}
	msg := be.Message
	u := &UpstreamRefusal{Err: be}
	switch {
	case strings.HasPrefix(msg, "Serialization error: io error"):
		if multi {
			u.Retriable, u.Reason = true, "the request spanned several QUIC packets and the broker's single read did not get them all; nothing was applied"
		} else {
			u.Reason = "the broker could not decode a request sent whole in one packet: not retried"
		}
	case strings.HasPrefix(msg, "Serialization error"):
		u.Reason = "the broker cannot decode the request: not retried"
	case strings.HasPrefix(msg, "Partition not found"):
		u.As, u.Retriable, u.Reason = wire.ErrUnknownTopicOrPartition, true, "the broker has no such partition (yet)"
	case strings.HasPrefix(msg, "Not leader for partition"):
		u.As, u.Retriable, u.Reason = wire.ErrNotLeader, true, "another broker leads the partition"
	case strings.HasPrefix(msg, "Configuration error: Broker core not initialized"):
		u.Retriable, u.Reason = true, "the broker is starting"
	case strings.HasPrefix(msg, "Wal error"), strings.HasPrefix(msg, "IO error"), strings.HasPrefix(msg, "Storage error"):
		u.Reason = "the broker's log failed; records before the failing one may be stored, so the batch is not retried"
	default:
		u.Reason = "not retried"
	}
	return u
}
