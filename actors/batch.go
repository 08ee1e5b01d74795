package actors

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// batch is one produce request's worth of records of one partition. The
// router encodes each record into body as it joins the open batch; the
// batcher seals the batch (record count and trailer), stamps it when
// idempotent, and sends it until it is acknowledged or abandoned.
type batch struct {
	recs []*Record
	// body is the produce request body: the head (topic, partition, count),
	// the records, and once sealed the acks and timeout.
	body []byte
	// bytes is the record bytes as brokers count them.
	bytes int
	// firstEnd is where the first record ends in body (0 when empty); an
	// idempotent batch's stamp is written just before it.
	firstEnd int
	// deadline is the earliest delivery deadline of its records (Unix
	// nanoseconds, 0 none); ctxRecs counts those with a context that can
	// end.
	deadline int64
	ctxRecs  int
	opened   time.Time
	flush    bool // a Flush wants it sent without lingering
	sealed   bool

	// The batcher's: sequence stamp and attempts.
	pid, seq   uint64
	stamped    bool
	sends      int // attempts made
	failures   int // failed attempts
	inFlight   bool
	viaActor   bool // the attempt in flight went through the connection actor's mailbox
	reqID      uint64
	predAcked  bool // every earlier record of this pid was acknowledged when it was last sent
	notWritten bool // the broker said the batch was not appended
	lastErr    error
	abandon    error // fail the batch with this when it reaches the head
	waitUntil  time.Time
	addr       string
	sentAt     time.Time
	attrs      attribute.Set // of the attempt's measurements
	span       trace.Span

	// owner decides who completes the attempt in flight: it holds the
	// attempt's request id while it is out, and whoever swaps it first —
	// the request's goroutine delivering a success (to claimed), or the
	// batcher failing or giving up on the attempt (to 0) — owns the outcome.
	owner atomic.Uint64
}

// claimed is the owner value of an attempt whose success the request's
// goroutine delivered.
const claimed = ^uint64(0)

var batchPool = sync.Pool{New: func() any { return new(batch) }}

// newBatch returns an empty batch whose body starts with head.
func newBatch(head []byte, now time.Time) *batch {
	bt := batchPool.Get().(*batch)
	bt.body = append(bt.body[:0], head...)
	bt.opened = now
	return bt
}

// recycle returns bt to the pool once nothing refers to it any more: its
// records delivered, no request in flight.
func recycle(bt *batch) {
	clear(bt.recs)
	recs, body := bt.recs[:0], bt.body[:0]
	if cap(body) > 4<<20 {
		body = nil // an outsized one-off: let it go
	}
	*bt = batch{}
	bt.recs, bt.body = recs, body
	batchPool.Put(bt)
}

// add appends r, encoded from p with size bytes (the idempotence headers
// included on a first idempotent record), to bt.
func (bt *batch) add(r *Record, p *RecordParts, size int, idem bool) {
	first := len(bt.recs) == 0
	bt.body = appendParts(bt.body, p, first && idem)
	if first {
		bt.firstEnd = len(bt.body)
	}
	bt.recs = append(bt.recs, r)
	bt.bytes += size
	if r.Deadline != 0 && (bt.deadline == 0 || r.Deadline < bt.deadline) {
		bt.deadline = r.Deadline
	}
	if r.Flags&FlagCancellable != 0 {
		bt.ctxRecs++
	}
}

// seal writes the record count and appends tail (acks and timeout).
func (bt *batch) seal(headLen int, tail []byte) {
	binary.LittleEndian.PutUint64(bt.body[headLen-8:], uint64(len(bt.recs)))
	bt.body = append(bt.body, tail...)
	bt.sealed = true
}

// stampWith writes (pid, seq) into the first record.
func (bt *batch) stampWith(pid, seq uint64) {
	bt.pid, bt.seq, bt.stamped = pid, seq, true
	stampAt(bt.body, bt.firstEnd, pid, seq)
}
