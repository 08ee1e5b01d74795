package actors

import (
	"errors"
	"fmt"
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

// UpstreamMaxCuts is how many times a request may be cut by an upstream
// broker's single read before its records fail: a record too large for
// one QUIC packet holds its partition back while it is retried, and on a
// slow link it may never arrive whole.
const UpstreamMaxCuts = 3

// Error implements the error interface.
func (e *UpstreamRefusal) Error() string { return e.Err.Error() + " (" + e.Reason + ")" }

// Unwrap returns the broker's answer and the protocol error it stands for.
func (e *UpstreamRefusal) Unwrap() []error {
	if e.As != nil {
		return []error{e.Err, e.As}
	}
	return []error{e.Err}
}

// classifyUpstream reads the error frame of a failed attempt of bt as
// upstream writes them (upstream mode). A request larger than one QUIC
// packet may have been cut by upstream's single read; such cuts are
// counted on bt and retried until UpstreamMaxCuts. Errors other than error
// frames are returned unchanged. Called on the batcher's goroutine.
func classifyUpstream(bt *batch, err error) error {
	be, ok := errors.AsType[*transport.BrokerError](err)
	if !ok {
		return err
	}
	msg := be.Message
	u := &UpstreamRefusal{Err: be}
	switch {
	case strings.HasPrefix(msg, "Serialization error: io error"):
		switch {
		case 1+len(bt.body) <= transport.OneDatagramBytes:
			u.Reason = "the broker could not decode a request sent whole in one packet: not retried"
		case bt.cuts+1 < UpstreamMaxCuts:
			bt.cuts++
			u.Retriable, u.Reason = true, "the request spanned several QUIC packets and the broker's single read did not get them all; nothing was applied"
		default:
			bt.cuts++
			u.Reason = fmt.Sprintf("the broker's single read cut the request %d times: given up; a request of at most %d bytes travels in one packet (see MaxMessageBytes)",
				bt.cuts, transport.OneDatagramBytes)
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
