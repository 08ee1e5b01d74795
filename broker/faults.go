package broker

import (
	"fmt"
	"sync"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Fault makes the broker misbehave for matching requests (FailNext). Rules
// are matched in the order they were added; the first one that matches a
// request consumes one of its Count and applies.
type Fault struct {
	// RequestType limits the rule to one request type (wire.TypeProduce,
	// ...); 0 matches every type.
	RequestType byte
	// Topic limits the rule to requests naming this topic (Produce, Fetch,
	// and Metadata requests listing it); "" matches any request.
	Topic string
	// Partition limits the rule to one partition; -1 matches any. Requests
	// without a partition (Metadata, Authenticate) ignore it. Note that the
	// zero value means partition 0.
	Partition int
	// Code is the error_code answered (Produce, Fetch, Authenticate). For
	// Metadata and other types, and when Code is 0xFF, the answer is an
	// error frame 0xFF "Error: injected fault (code N)".
	Code uint32
	// Count is how many matching requests the rule affects. Default 1;
	// negative means every matching request until ClearFaults.
	Count int
	// Drop answers nothing: the request's connection is closed instead
	// (Code is then ignored), as when a broker dies mid-request.
	Drop bool
	// AfterApply lets the request take effect first (a Produce is appended,
	// idempotence state updated) and only then answers with Code or drops:
	// the "written but the acknowledgement was lost" case. Default false:
	// the request is refused untouched.
	AfterApply bool
}

// String describes the fault's matching rule and effect, for logs.
func (f Fault) String() string {
	return fmt.Sprintf("type=%d topic=%q partition=%d code=%d count=%d drop=%v after=%v", f.RequestType, f.Topic, f.Partition, f.Code, f.Count, f.Drop, f.AfterApply)
}

type faults struct {
	mu          sync.Mutex
	refuseUntil time.Time
	delay       time.Duration
	rules       []*Fault
}

// take returns the first rule matching a request and consumes one use, or
// nil. topics lists the request's topics; partition is -1 when the request
// has none.
func (f *faults) take(reqType byte, topics []string, partition int) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if r.RequestType != 0 && r.RequestType != reqType {
			continue
		}
		if r.Topic != "" && !contains(topics, r.Topic) {
			continue
		}
		if partition >= 0 && r.Partition >= 0 && r.Partition != partition {
			continue
		}
		out := *r
		if r.Count > 0 {
			r.Count--
			if r.Count == 0 {
				f.rules = append(f.rules[:i], f.rules[i+1:]...)
			}
		}
		return &out
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *faults) refusing(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return now.Before(f.refuseUntil)
}

func (f *faults) responseDelay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delay
}

// reply is what a handler hands back to the stream goroutine: a response
// frame, or drop to close the connection without answering.
type reply struct {
	frame []byte
	drop  bool
}

// injectedReply builds the answer a fault rule prescribes for a request of
// reqType.
func injectedReply(f *Fault, reqType byte) reply {
	if f.Drop {
		return reply{drop: true}
	}
	msg := fmt.Sprintf("%s (code %d)", injectedFaultDescription, f.Code)
	if f.Code == uint32(wire.TypeError) {
		return reply{frame: wire.AppendErrorFrame(nil, msg)}
	}
	switch reqType {
	case wire.TypeProduce:
		return reply{frame: encodeProduce(&wire.ProduceResponse{ErrorCode: f.Code, ErrorMessage: &msg})}
	case wire.TypeFetch:
		return reply{frame: encodeFetch(&wire.FetchResponse{ErrorCode: f.Code, ErrorMessage: &msg})}
	case wire.TypeAuthenticate:
		return reply{frame: encodeAuthenticate(&wire.AuthenticateResponse{ErrorCode: f.Code, ErrorMessage: &msg})}
	default:
		return reply{frame: wire.AppendErrorFrame(nil, msg)}
	}
}

// FailNext adds a fault rule; see Fault for what it matches and does.
func (b *Broker) FailNext(f Fault) {
	if f.Count == 0 {
		f.Count = 1
	}
	b.log.Info("fault added", "fault", f.String())
	rule := f
	b.faults.mu.Lock()
	b.faults.rules = append(b.faults.rules, &rule)
	b.faults.mu.Unlock()
}

// ClearFaults removes every FailNext rule, ends RefuseConnections and sets
// the response delay back to 0.
func (b *Broker) ClearFaults() {
	b.faults.mu.Lock()
	b.faults.rules = nil
	b.faults.refuseUntil = time.Time{}
	b.faults.delay = 0
	b.faults.mu.Unlock()
}

// PendingFaults returns how many FailNext rules are still armed.
func (b *Broker) PendingFaults() int {
	b.faults.mu.Lock()
	defer b.faults.mu.Unlock()
	return len(b.faults.rules)
}

// SetResponseDelay delays every response (of every node) by d before it is
// written; 0 removes the delay. A delayed Produce has already been applied.
func (b *Broker) SetResponseDelay(d time.Duration) {
	b.faults.mu.Lock()
	b.faults.delay = d
	b.faults.mu.Unlock()
}

// RefuseConnections makes every node refuse new QUIC connections for d
// (the handshake fails with CONNECTION_REFUSED). Existing connections are
// left alone; combine with DropConnections to force reconnects to fail.
func (b *Broker) RefuseConnections(d time.Duration) {
	b.faults.mu.Lock()
	b.faults.refuseUntil = time.Now().Add(d)
	b.faults.mu.Unlock()
}

// DropConnections closes every client connection of every node at once
// (CONNECTION_CLOSE with an application error); in-flight requests get no
// answer. Listeners stay up, so clients may reconnect.
func (b *Broker) DropConnections() {
	for _, n := range b.nodes {
		n.dropConnections("dropped by fault injection")
	}
}
