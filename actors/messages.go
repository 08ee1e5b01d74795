package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/transport/wire"
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
)

// Record is the envelope of one message on its way from the caller to its
// result. The runtime fills the input fields and hands it to a router; the
// batcher fills Partition, Offset and Err and passes it to the producer's
// [Sink]. The actors never retain a Record after delivering it.
type Record struct {
	// Topic the record goes to.
	Topic string
	// Partition requested when Explicit is true; on delivery, the partition
	// the record was routed to (-1 when it never reached a partition).
	Partition int32
	// Explicit says the caller chose Partition.
	Explicit bool
	// Wire is the record as it goes on the wire. The batcher may replace
	// Value (compression) and append headers (idempotence, codec), always in
	// fresh slices, never writing into the caller's.
	Wire wire.Record
	// Size is the number of bytes counted against the producer's buffer.
	Size int
	// Deadline is the delivery deadline (acceptance + delivery timeout);
	// zero means none.
	Deadline time.Time
	// Ctx is the caller's context. A record whose Ctx ends before the record
	// is put into a request is failed with the context's cause and never
	// written; once written, Ctx no longer matters. nil means never. The
	// batcher looks at Ctx when it forms the batch the record would join,
	// so the failure comes when that batch closes (Linger bounds it while
	// the partition can send), or within two sweep periods (about 400ms)
	// while the partition forms no batch at all.
	Ctx context.Context
	// Span is the span context of the message's "create" span (invalid when
	// tracing is off); the send span of the batch links to it.
	Span trace.SpanContext
	// Owner is opaque to the actors: the runtime's per-message state.
	Owner any

	// Offset is the record's offset on success (base offset + index), -1
	// when the producer does not wait for acknowledgements.
	Offset int64
	// Err is the failure, nil on success.
	Err error

	// wireSize is Wire.Size() once the batcher has queued the record (its
	// value compressed and its codec header added); the batcher's byte
	// accounting uses it.
	wireSize int
}

// cancelled returns the cause of the record's context when it has ended.
func (r *Record) cancelled() error {
	if r.Ctx == nil {
		return nil
	}
	done := r.Ctx.Done()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return context.Cause(r.Ctx)
	default:
		return nil
	}
}

// Sink receives completed records. Deliver is called from actor goroutines
// with records whose Partition, Offset and Err are final; it must not block
// and must not call back into the actors synchronously.
type Sink interface {
	Deliver(recs []*Record)
}

// Records is a slice of records sent to a router in one message, as
// SendBatch and the stream intake do.
type Records struct {
	Recs []*Record
}

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
}

// ConnReady answers [EnsureConn].
type ConnReady struct {
	Addr string
	PID  *actor.PID
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
type LeaderInfo struct {
	Topic     string
	Partition int32
	Conn      *actor.PID
	Addr      string
	Err       error
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

// SpawnChild asks a [Parent] actor to spawn a child; the PID (or error)
// comes back on Reply, which must be buffered.
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
