package actors

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// RecordFlags tell the actors what a [Record] carries, so that they ask its
// [Source] only for what is there.
type RecordFlags uint16

const (
	// FlagKeyed: the record has a key; without FlagExplicit, Record.Route
	// is its murmur2 hash.
	FlagKeyed RecordFlags = 1 << iota
	// FlagExplicit: the caller chose the partition, in Record.Route.
	FlagExplicit
	// FlagCancellable: the record's context can end; Source.Cancelled says
	// whether it has.
	FlagCancellable
	// FlagTraced: the record has a create span context
	// (Source.SpanContext), to which its send spans link.
	FlagTraced
	// FlagSampled: the create span records; the stages add their events
	// to it (Source.CreateSpan).
	FlagSampled
)

// FlagsSource are the bits of RecordFlags a Source may use for itself; the
// actors ignore them.
const FlagsSource RecordFlags = 0xff00

// Record is what the actors know of one accepted message. It is small on
// purpose: the runtime embeds it in its per-message envelope and keeps the
// message's contents and its result hooks there, handing the actors what
// they need through the producer's [Source]. The actors never retain a
// Record after delivering it.
type Record struct {
	// Deadline is the delivery deadline (acceptance plus the delivery
	// timeout); 0 means none.
	Deadline Tick
	// Route says where the record goes: with FlagExplicit, the caller's
	// partition (see [Record.Partition]); otherwise, with FlagKeyed, the
	// murmur2 hash of the key (see [Murmur2]), which the router turns into
	// a partition. One field for both keeps a Record at 16 bytes.
	Route uint32
	// Size is what the runtime counts against its buffer; the router
	// uses it as an estimate of the record's size for sticky partitioning.
	Size int32
	// Flags describe the record.
	Flags RecordFlags
	// Tag is the runtime's; the actors do not read it.
	Tag uint16
}

// Partition returns the caller's partition of a record with FlagExplicit.
func (r *Record) Partition() int32 { return int32(r.Route) }

// expired reports whether r's delivery deadline is before now.
func (r *Record) expired(now Tick) bool { return passed(r.Deadline, now) }

// RecordParts is a record's contents as they go on the wire, returned by
// [Source.Parts] when the router encodes the record into a batch.
type RecordParts struct {
	// Key is written when Keyed (an empty non-nil key is a key).
	Key   []byte
	Keyed bool
	// Value is the value as written (compressed when Codec is set).
	Value []byte
	// Headers are the caller's headers.
	Headers []wire.Header
	// Codec, when not "", is written as the rmq-codec header.
	Codec string
	// Trace, when valid, is written as the traceparent header (and
	// tracestate when it has members).
	Trace trace.SpanContext
	// Timestamp in Unix milliseconds.
	Timestamp int64
	// Ctx is the record's context when FlagCancellable is set (nil
	// otherwise); the batch notes whether its records share one.
	Ctx context.Context
}

// Outcome is the result of the records of one [Source.Deliver] call.
type Outcome struct {
	// Partition the records went to; -1 when they never reached one.
	Partition int32
	// Base is the offset of the first record; record i has Base+i. -1 when
	// there is none (a failure, or acks None).
	Base int64
	// Err is the failure, nil on success.
	Err error
}

// Source is the runtime's side of one producer's records. The router drains
// accepted records from it, encodes them with Parts into the request bodies
// of their partition's batches, and every record ends in exactly one
// Deliver call. The actors call it from their goroutines; its methods must
// be safe for concurrent use, must not block and must not call back into
// the actors synchronously.
type Source interface {
	// Drain appends the records accepted since the last call to dst and
	// returns it. When it returns no record it also arms the producer's
	// wake-up: the next accepted record sends the router a *[Wake].
	Drain(dst []*Record) []*Record
	// Topic returns the topic r goes to.
	Topic(r *Record) string
	// Parts sets *p to r's contents for the wire (every field: p may hold
	// another record's). A pointer rather than a result: RecordParts is
	// large, and the router asks for every record.
	Parts(r *Record, p *RecordParts)
	// Cancelled returns the cause of r's context if it has ended
	// (FlagCancellable), nil otherwise.
	Cancelled(r *Record) error
	// SpanContext returns the span context of r's create span (FlagTraced).
	SpanContext(r *Record) trace.SpanContext
	// CreateSpan returns r's recording create span (FlagSampled), nil if
	// none.
	CreateSpan(r *Record) trace.Span
	// Deliver completes recs with o: each record's result is final.
	Deliver(recs []*Record, o Outcome)
}

// Wake tells a router that its producer's Source has records to drain.
// The runtime sends it when a record is accepted while the router is idle.
type Wake struct{}

// cancelled returns the cause of r's context if it has ended.
func cancelled(src Source, r *Record) error {
	if r.Flags&FlagCancellable == 0 {
		return nil
	}
	return src.Cancelled(r)
}

// ContextCause returns the cause of ctx if it has ended, nil otherwise; it
// never blocks. The runtime's Source.Cancelled is built on it.
func ContextCause(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	done := ctx.Done()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return context.Cause(ctx)
	default:
		return nil
	}
}

// UnixNano is the clock the actors compare deadlines with.
func UnixNano() int64 { return time.Now().UnixNano() }
