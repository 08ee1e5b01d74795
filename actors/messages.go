package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/supervision"
)

// Sentinel errors the actors put into [Record.Err]. The runtime package
// re-exports them under the same names, so errors.Is works on both.
var (
	// ErrClosed fails records still pending when their producer is closed
	// and its Close context has ended.
	ErrClosed = errors.New("rustmq: producer closed")
	// ErrDeliveryTimeout fails records whose delivery timeout (counted from
	// acceptance) passed before the broker acknowledged them.
	ErrDeliveryTimeout = errors.New("rustmq: delivery timeout")
	// ErrInvalidPartition fails records whose explicit partition does not
	// exist in the topic.
	ErrInvalidPartition = errors.New("rustmq: invalid partition")
	// ErrUnknownTopic is the retriable condition of a topic that no broker's
	// metadata lists and that has no static partition count.
	ErrUnknownTopic = errors.New("rustmq: unknown topic")
	// ErrNotConnected fails requests that reached a connection actor whose
	// dial failed or whose connection was lost before the request was
	// written. It is retriable.
	ErrNotConnected = errors.New("rustmq: broker not connected")
	// ErrRequestTimeout fails a request whose response did not arrive within
	// the request timeout. Whether the broker applied it is unknown; it is
	// retriable.
	ErrRequestTimeout = errors.New("rustmq: request timed out")
	// ErrActorFailed fails what an actor of the producer tree held when it
	// panicked and could not hand it on: the message being routed when the
	// router panicked, the records of a batcher its supervisor gave up on.
	// Answers to requests an actor panicked on carry it too; there it is
	// retriable.
	ErrActorFailed = errors.New("rustmq: producer actor failed")
)

// Request asks a connection actor to run one request on its connection. The
// outcome is sent to ReplyTo as a *[Response] carrying ID.
type Request struct {
	ReqType  byte
	Body     []byte
	Deadline time.Time
	ReplyTo  *actor.PID
	ID       uint64
	// Span is the recording span of the attempt this request is (the
	// batcher's "send" span), to which the connection actor adds its
	// events; nil when the attempt is not traced or not sampled. It is safe
	// for concurrent use and ignores events once ended.
	Span trace.Span
	// Cancel, when set, withdraws the request once closed: a request still
	// queued is dropped, one running has its context cancelled (ending a
	// Fetch long poll at once), and no Response is sent. A requester sets
	// it to a channel it closes when it stops, so that its requests do not
	// outlive it. nil: the request runs to its deadline.
	Cancel <-chan struct{}
}

// cancelled reports whether the requester withdrew r.
func (r *Request) cancelled() bool {
	if r.Cancel == nil {
		return false
	}
	select {
	case <-r.Cancel:
		return true
	default:
		return false
	}
}

// Response is the outcome of a [Request].
type Response struct {
	ID        uint64
	Addr      string
	Principal string
	Body      []byte
	Err       error
	// RTT is the time conn.Do took.
	RTT time.Duration
}

// ProduceError is the failure of a produce request for one partition, as it
// reaches a record: the broker or transport error with where it happened.
type ProduceError struct {
	Topic     string
	Partition int32
	Broker    string
	// Principal is the identity the connection authenticated as ("" when
	// unknown or anonymous).
	Principal string
	Err       error
}

// Error implements the error interface.
func (e *ProduceError) Error() string {
	return fmt.Sprintf("rustmq: produce to %s/%d via %s: %v", e.Topic, e.Partition, e.Broker, e.Err)
}

// Unwrap returns the underlying error.
func (e *ProduceError) Unwrap() error { return e.Err }

// EnsureConn asks the connections supervisor for the connection actor of
// Addr, spawning it when missing; it answers ReplyTo with *[ConnReady].
type EnsureConn struct {
	Addr    string
	ReplyTo *actor.PID
	// Once asks for the ConnReady answer only: ReplyTo is not told with
	// ConnGone when the connection actor stops for good (a one-off
	// requester that will be gone by then).
	Once bool
}

// ConnReady answers [EnsureConn]. Link is the connection's shared handle
// (requests may run on it directly while it is connected); Err is set, and
// PID nil, when the connections supervisor failed on the request.
type ConnReady struct {
	Addr string
	PID  *actor.PID
	Link *ConnLink
	Err  error
}

// ConnGone tells the metadata actor that the connection actor of Addr was
// stopped for good (its supervisor gave up); a later EnsureConn respawns it.
type ConnGone struct {
	Addr string
}

// TopicRequest asks the metadata actor for a topic's partition count. The
// answer, and every later change, is sent to ReplyTo as *[TopicInfo].
type TopicRequest struct {
	Topic   string
	ReplyTo *actor.PID
}

// TopicInfo answers [TopicRequest]. Err is set (and Partitions 0) while the
// topic is unknown.
type TopicInfo struct {
	Topic      string
	Partitions int32
	Err        error
}

// LeaderRequest asks the metadata actor which connection actor serves a
// partition. Refresh asks for fresh metadata first (after "not leader").
type LeaderRequest struct {
	Topic     string
	Partition int32
	Refresh   bool
	ReplyTo   *actor.PID
}

// LeaderInfo answers [LeaderRequest]. When the metadata names no leader
// (static partition counts), Conn is a connected broker chosen round robin.
// Link is Conn's shared handle.
type LeaderInfo struct {
	Topic     string
	Partition int32
	Conn      *actor.PID
	Addr      string
	Err       error
	Link      *ConnLink
}

// FlushNow asks a router (and through it every batcher) to send what it
// holds without waiting for Linger.
type FlushNow struct{}

// Abort asks a router (and its batchers) to fail everything it holds with
// Err and to ignore the outcome of requests in flight. Done, when non-nil,
// is closed once the router has passed the order on.
type Abort struct {
	Err  error
	Done chan struct{}
}

// SpawnChild asks a parent actor (see [NewParentProps]) to spawn a child;
// the PID (or error) comes back on Reply, which must be buffered.
type SpawnChild struct {
	Props *actor.Props
	Name  string
	Reply chan SpawnResult
}

// StopChild asks a parent actor (see [NewParentProps]) to stop one of its
// children. Done is closed once the parent has seen the child terminate (at
// once if PID is not its child), so that stopping the parent afterwards
// sends nothing to the stopped child.
type StopChild struct {
	PID  *actor.PID
	Done chan struct{}
}

// SpawnResult answers [SpawnChild].
type SpawnResult struct {
	PID *actor.PID
	Err error
}

// The answers the supervisors give for a request whose receiver panicked on
// it (see supervision.Replier): each sender gets a retriable failure
// instead of waiting for an answer that will never come.

func actorFailed(reason any) error { return fmt.Errorf("%w: %v", ErrActorFailed, reason) }

// FailedInActor answers the request with a retriable failure.
func (m *Request) FailedInActor(sys *actor.ActorSystem, reason any) {
	if m.ReplyTo != nil {
		sys.Root.Send(m.ReplyTo, &Response{ID: m.ID, Err: actorFailed(reason)})
	}
}

// FailedInActor answers the request with a retriable failure.
func (m *LeaderRequest) FailedInActor(sys *actor.ActorSystem, reason any) {
	if m.ReplyTo != nil {
		sys.Root.Send(m.ReplyTo, &LeaderInfo{Topic: m.Topic, Partition: m.Partition, Err: actorFailed(reason)})
	}
}

// FailedInActor answers the request with a retriable failure.
func (m *TopicRequest) FailedInActor(sys *actor.ActorSystem, reason any) {
	if m.ReplyTo != nil {
		sys.Root.Send(m.ReplyTo, &TopicInfo{Topic: m.Topic, Err: actorFailed(reason)})
	}
}

// FailedInActor answers the request with a retriable failure.
func (m *EnsureConn) FailedInActor(sys *actor.ActorSystem, reason any) {
	if m.ReplyTo != nil {
		sys.Root.Send(m.ReplyTo, &ConnReady{Addr: m.Addr, Err: actorFailed(reason)})
	}
}

// FailedInActor answers the request with the failure.
func (m *SpawnChild) FailedInActor(_ *actor.ActorSystem, reason any) {
	select {
	case m.Reply <- SpawnResult{Err: actorFailed(reason)}:
	default:
	}
}

// FailedInActor releases the waiter: the parent will not report the stop.
func (m *StopChild) FailedInActor(*actor.ActorSystem, any) { closeOnce(m.Done) }

// FailedInActor releases the waiter; the sender must check the outcome
// itself (the runtime sends Abort again while results are owed).
func (m *Abort) FailedInActor(*actor.ActorSystem, any) { closeOnce(m.Done) }

// closeOnce closes ch unless it is nil or already closed. Only the
// receiver of a message closes its channel, and the supervisor does so only
// after the receiver gave up on it, so the check cannot race a second close.
func closeOnce(ch chan struct{}) {
	if ch == nil {
		return
	}
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Answers may reach a requester that stopped in the meantime (a producer
// closed while its request ran, the runtime shutting down): they are not
// worth a dead-letter log line, nor are the actors' messages to themselves
// from goroutines and timers that race their stop.
func (*Response) IgnoreDeadLetterLogging()   {}
func (*ConnReady) IgnoreDeadLetterLogging()  {}
func (*ConnGone) IgnoreDeadLetterLogging()   {}
func (*TopicInfo) IgnoreDeadLetterLogging()  {}
func (*LeaderInfo) IgnoreDeadLetterLogging() {}

var (
	_ actor.IgnoreDeadLetterLogging = (*Response)(nil)
	_ actor.IgnoreDeadLetterLogging = (*dialDone)(nil)
	_ actor.IgnoreDeadLetterLogging = (*reqDone)(nil)
	_ actor.IgnoreDeadLetterLogging = (*metaTimer)(nil)
)

var (
	_ supervision.Replier = (*Request)(nil)
	_ supervision.Replier = (*LeaderRequest)(nil)
	_ supervision.Replier = (*TopicRequest)(nil)
	_ supervision.Replier = (*EnsureConn)(nil)
	_ supervision.Replier = (*SpawnChild)(nil)
	_ supervision.Replier = (*StopChild)(nil)
	_ supervision.Replier = (*Abort)(nil)
)
