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
	// idempotence state updated) and only then answers with Code, Answer
	// or the other effects: the "written but the acknowledgement was lost"
	// case, or a real append acknowledged with a crafted answer. Default
	// false: the request is refused untouched.
	AfterApply bool
	// Answer, when non-nil, is written as the whole answer frame (type
	// byte and body) instead of the broker's own, Code then being
	// ignored: a crafted MetadataResponse (hostile partition ids, hundreds
	// of brokers, leaders that name no listed broker, port 0), a
	// ProduceResponse with an offset beyond int64, an error frame with a
	// huge text, or any bytes at all. AnswerFrame and ErrorFrame build
	// one. The slice is shared by every request the rule matches and must
	// not be modified after FailNext.
	Answer []byte
	// NoAnswer ends the stream without a byte of answer, as upstream RustMQ
	// does for a request type it does not know: the send side is finished
	// (the client reads an empty answer) and the receive side stopped.
	NoAnswer bool
	// ResetStream resets both sides of the stream instead of answering
	// (RESET_STREAM and STOP_SENDING); the connection stays up.
	ResetStream bool
	// Delay holds the rule's answer (or drop, or reset) back for this
	// long, on top of SetResponseDelay; the request is still served or
	// refused at once.
	Delay time.Duration
}

// String describes the fault's matching rule and effect, for logs.
func (f Fault) String() string {
	s := fmt.Sprintf("type=%d topic=%q partition=%d code=%d count=%d drop=%v after=%v", f.RequestType, f.Topic, f.Partition, f.Code, f.Count, f.Drop, f.AfterApply)
	if f.Answer != nil {
		s += fmt.Sprintf(" answer=%d bytes", len(f.Answer))
	}
	if f.NoAnswer {
		s += " no-answer"
	}
	if f.ResetStream {
		s += " reset"
	}
	if f.Delay > 0 {
		s += " delay=" + f.Delay.String()
	}
	return s
}

// AnswerFrame encodes m as an answer frame of type typ, for Fault.Answer:
//
//	broker.AnswerFrame(wire.TypeProduce, &wire.ProduceResponse{Offset: math.MaxUint64})
func AnswerFrame(typ byte, m wire.Message) []byte {
	return m.Append(wire.AppendFrame(make([]byte, 0, 1+m.Size()), typ))
}

// ErrorFrame returns an error frame (0xFF "Error: " text) for Fault.Answer.
func ErrorFrame(text string) []byte { return wire.AppendErrorFrame(nil, text) }

type faults struct {
	mu           sync.Mutex
	refuseUntil  time.Time
	delay        time.Duration
	rules        []*Fault
	extraBrokers []wire.BrokerInfo // AdvertiseBrokers
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
// frame, or drop to close the connection without answering, or reset to
// reset the stream; delay holds it back first.
type reply struct {
	frame []byte
	drop  bool
	reset bool
	delay time.Duration
}

// injectedReply builds the answer a fault rule prescribes for a request of
// reqType.
func injectedReply(f *Fault, reqType byte) reply {
	rep := injectedAnswer(f, reqType)
	rep.delay = f.Delay
	return rep
}

func injectedAnswer(f *Fault, reqType byte) reply {
	switch {
	case f.Drop:
		return reply{drop: true}
	case f.ResetStream:
		return reply{reset: true}
	case f.NoAnswer:
		return reply{frame: []byte{}}
	case f.Answer != nil:
		return reply{frame: f.Answer}
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
// the response delay back to 0. Brokers added by AdvertiseBrokers stay
// (see ClearAdvertisedBrokers).
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
