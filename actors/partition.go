package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// partition is the buffer between a producer's router and the batcher of
// one topic-partition, and the batcher's state that must outlive its
// restarts. The router encodes records into the open batch under mu; the
// batcher takes closed batches (and the open one once it has lingered)
// under mu when it has a request slot. The router wakes the batcher with
// one message per new or filled batch, not per record: signaled says a
// wake-up is on its way and nothing needs sending until the batcher has
// taken what it was woken for.
type partition struct {
	topic  string
	id     int32
	limits *batchLimits
	head   []byte // request head of its batches
	// maxBytes closes a batch: limits.bytes, or less where limits.frame
	// bounds the whole request.
	maxBytes int
	// hint is the body size of its largest closed batch (plus room for the
	// trailer), what a new batch's body is given from the start.
	hint int

	mu       sync.Mutex
	spare    []*batch // finished batches kept for reuse
	open     *batch
	ready    []*batch // closed (full) batches, oldest first
	signaled bool
	// gone is set when the batcher stopped for good: it has failed what
	// it held, and the router starts a new partition for later records.
	gone bool

	// The router's (its goroutine only).
	batcher  *actor.PID
	spawning bool

	// The batcher's (its goroutine only), kept across its restarts.
	run batcherRun
}

// batchLimits are what closes a batch, shared by a producer's partitions.
type batchLimits struct {
	size, bytes int // records and record bytes of one batch
	idem        bool
	// frame, when positive, bounds a request's whole frame (type byte
	// included): upstream mode's one QUIC packet. A record that does not
	// fit alone still goes, alone.
	frame int
}

// maxTailBytes is the longest request tail: acks Custom (variant and
// count) and the timeout.
const maxTailBytes = 12

func newPartition(topic string, id int32, limits *batchLimits) *partition {
	p := &partition{topic: topic, id: id, limits: limits, head: requestHead(topic, id), maxBytes: limits.bytes}
	if limits.frame > 0 {
		// The type byte, the head, the records and the longest tail.
		p.maxBytes = max(min(limits.bytes, limits.frame-1-len(p.head)-maxTailBytes), 1)
	}
	return p
}

// appendRecs encodes recs into the open batch, in order, closing it (and
// opening another) when the next record would not fit. It calls each(k)
// before record k, reports how many records it took (all of them, unless
// the partition is gone) and whether the batcher must be woken.
func (p *partition) appendRecs(recs []*Record, src Source, each func(k int)) (wake bool, taken int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		return false, 0
	}
	news := false
	var parts RecordParts
	for k, r := range recs {
		each(k)
		src.Parts(r, &parts)
		size := PartsSize(&parts, false)
		bt := p.open
		if bt != nil && len(bt.recs) > 0 && (len(bt.recs) >= p.limits.size || bt.bytes+size > p.maxBytes) {
			p.closeOpen()
			bt, news = nil, true
		}
		if bt == nil {
			bt = newBatch(p, time.Now())
			p.open, news = bt, true
		}
		if len(bt.recs) == 0 && p.limits.idem {
			size += idemHeadersSize
		}
		bt.add(r, &parts, size, p.limits.idem)
		if len(bt.recs) >= p.limits.size {
			p.closeOpen()
			news = true
		}
	}
	if news && !p.signaled {
		p.signaled = true
		wake = true
	}
	return wake, len(recs)
}

// closeOpen moves the open batch to the ready ones (under mu).
func (p *partition) closeOpen() {
	bt := p.open
	p.ready = append(p.ready, bt)
	p.open = nil
	p.hint = max(p.hint, min(len(bt.body)+tailRoom, maxBodyHint))
}

// tailRoom is room for a body's trailer (acks, timeout); maxBodyHint
// bounds what a new body is given up front.
const (
	tailRoom    = 16
	maxBodyHint = 4 << 20
)

// markFlush asks that the open batch be sent without lingering, and
// reports whether the batcher must be woken for it.
func (p *partition) markFlush() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		return len(p.ready) > 0
	}
	p.open.flush = true
	return true
}

// take moves up to n batches to the batcher: the closed ones, then the open
// one when it may go now (no Linger, lingered long enough, or flushed). It
// returns how long the open batch still wants to linger when it stays (0
// when there is none or it may go once a slot frees).
func (p *partition) take(dst []*batch, n int, now time.Time, linger time.Duration) ([]*batch, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signaled = false
	for n > 0 && len(p.ready) > 0 {
		dst = append(dst, p.ready[0])
		p.ready[0] = nil
		p.ready = p.ready[1:]
		n--
	}
	if len(p.ready) == 0 {
		p.ready = p.ready[:0:0]
	}
	bt := p.open
	if bt == nil || len(bt.recs) == 0 {
		return dst, 0
	}
	waited := now.Sub(bt.opened)
	if bt.flush || linger <= 0 || waited >= linger {
		if n > 0 {
			dst = append(dst, bt)
			p.open = nil
			p.hint = max(p.hint, min(len(bt.body)+tailRoom, maxBodyHint))
		}
		return dst, 0
	}
	return dst, linger - waited
}

// takeAll empties the buffer; with gone, later appends are refused.
func (p *partition) takeAll(gone bool) []*batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.ready
	p.ready = nil
	if p.open != nil && len(p.open.recs) > 0 {
		out = append(out, p.open)
	}
	p.open = nil
	p.signaled = false
	if gone {
		p.gone = true
	}
	return out
}

// buffered reports whether records wait in the buffer.
func (p *partition) buffered() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready) > 0 || (p.open != nil && len(p.open.recs) > 0)
}

// oldestDeadline returns the earliest delivery deadline of the buffered
// records and whether any of them has a context that can end.
func (p *partition) oldestDeadline() (deadline Tick, ctxs bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, bt := range p.ready {
		deadline = earliest(deadline, bt.deadline)
		ctxs = ctxs || bt.ctxRecs > 0
	}
	if bt := p.open; bt != nil {
		deadline = earliest(deadline, bt.deadline)
		ctxs = ctxs || bt.ctxRecs > 0
	}
	return deadline, ctxs
}
