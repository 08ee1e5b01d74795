package actors

import (
	"context"
	"encoding/binary"
	"reflect"
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
	// deadline is the earliest delivery deadline of its records (0
	// none); ctxRecs counts those with a context that can end.
	deadline Tick
	ctxRecs  int
	// ctx is the context every one of the ctxRecs records carries, when
	// they all carry the same one (nil otherwise): prune then asks it
	// once instead of asking each record.
	ctx    context.Context
	opened time.Time
	flush  bool // a Flush wants it sent without lingering
	sealed bool
	reason string // why it was closed, for its send spans

	// The batcher's: sequence stamp and attempts, and the batch's number
	// among those it sent (batcherRun.sent).
	ord        uint64
	pid, seq   uint64
	stamped    bool
	sends      int // attempts made
	cuts       int // attempts an upstream broker's single read cut short
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

	// refs counts who may still read the batch: the batcher (or the buffer
	// holding it) and every request goroutine or mailbox request still
	// carrying it. Only the last to let go returns it to the pool, so that
	// a straggling request never sees it reused.
	refs atomic.Int32

	part *partition // whose spare list it goes back to

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

// newBatch returns an empty batch of p whose body starts with p's head and
// has room for p's hint: appending records to a body that grows as it goes
// would copy it over and over. It reuses one of p's spare batches first:
// sync.Pool empties at every collection, and a partition's request bodies
// (a hundred kilobytes each with default settings) would be allocated
// afresh after each one. Call it with p.mu held.
func newBatch(p *partition, now time.Time) *batch {
	var bt *batch
	if n := len(p.spare); n > 0 {
		bt = p.spare[n-1]
		p.spare[n-1] = nil
		p.spare = p.spare[:n-1]
	} else {
		bt = batchPool.Get().(*batch)
	}
	head, hint := p.head, p.hint
	bt.part = p
	if n := min(p.limits.size, maxRecsHint); cap(bt.recs) < n {
		bt.recs = make([]*Record, 0, n) // room for a full batch at once
	}
	if cap(bt.body) < hint {
		bt.body = make([]byte, 0, hint)
	}
	bt.body = append(bt.body[:0], head...)
	bt.opened = now
	bt.refs.Store(1)
	return bt
}

// recycle lets go of one reference to bt (the holder's: its records
// delivered or failed, or a request's outcome handled) and returns it to
// the pool when it was the last.
func recycle(bt *batch) {
	if bt.refs.Add(-1) != 0 {
		return
	}
	clear(bt.recs)
	recs, body, p := bt.recs[:0], bt.body[:0], bt.part
	if cap(body) > maxBodyHint {
		body = nil // an outsized one-off: let it go
	}
	*bt = batch{}
	bt.recs, bt.body = recs, body
	if p != nil {
		p.mu.Lock()
		if len(p.spare) < maxSpare {
			p.spare = append(p.spare, bt)
			bt = nil
		}
		p.mu.Unlock()
	}
	if bt != nil {
		batchPool.Put(bt)
	}
}

// maxRecsHint bounds the record slice a new batch is given up front.
const maxRecsHint = 4096

// maxSpare is how many finished batches a partition keeps for reuse.
const maxSpare = 4

// reqIDs numbers every request of every batcher, so that an answer can
// never be taken for another request's.
var reqIDs atomic.Uint64

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
	bt.deadline = earliest(bt.deadline, r.Deadline)
	if r.Flags&FlagCancellable != 0 {
		switch {
		case bt.ctxRecs == 0:
			bt.ctx = p.Ctx
		case bt.ctx != nil && !sameContext(bt.ctx, p.Ctx):
			bt.ctx = nil
		}
		bt.ctxRecs++
	}
}

// sameContext reports whether a and b are the same context. Interface
// equality panics on a dynamic type that is not comparable (a caller's
// own context struct with a slice in it), so such types compare unequal.
func sameContext(a, b context.Context) bool {
	if a == nil || b == nil {
		return false
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
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
