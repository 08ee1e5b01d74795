package runtime

import (
	"reflect"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"
)

// delivered is one SendAsync result waiting for its callback.
type delivered struct {
	e      *envelope
	offset int64
	err    error
}

// deliveryQueue runs a producer's SendAsync callbacks, one at a time, in the
// order their results became known, on one goroutine. Enqueueing never
// blocks, so the actors that complete messages are never held up by a slow
// callback; the queue stays bounded because a message keeps its buffer
// space until its callback has returned, so a slow callback makes senders
// wait for space instead of growing the queue.
//
// A callback may call the producer back (see [Producer.SendAsync]): the
// producer recognises the delivery goroutine by looking for
// invokeCallback on the caller's stack, which it does only where it would
// otherwise block.
type deliveryQueue struct {
	p      *Producer
	mu     sync.Mutex
	items  []delivered
	spare  []delivered
	closed bool
	signal chan struct{}
	done   chan struct{}

	// running is set while a callback runs.
	running atomic.Bool

	// The delivery goroutine's own: the loan of the running callback's
	// space (see Producer.waitSpaceLocked), and the slab the next results
	// are carved from.
	loanBytes int64
	loanUsed  bool
	loanTaken int64
	results   []Result
}

// resultSlab is how many callbacks' Results share one allocation. A
// callback may keep its *Result; one kept alive keeps its slab (about
// 5 KiB) alive with it, which is what one allocation per message saved
// costs.
const resultSlab = 64

// nextResult returns a zeroed Result of its own for the next callback.
func (q *deliveryQueue) nextResult() *Result {
	if len(q.results) == 0 {
		q.results = make([]Result, resultSlab)
	}
	r := &q.results[0]
	q.results = q.results[1:]
	return r
}

func newDeliveryQueue(p *Producer) *deliveryQueue {
	q := &deliveryQueue{p: p, signal: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// wake tells the goroutine that items were queued.
func (q *deliveryQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// close lets the goroutine exit once the queue is drained.
func (q *deliveryQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *deliveryQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		batch := q.items
		q.items = q.spare[:0]
		closed := q.closed
		q.mu.Unlock()
		q.runBatch(batch)
		q.mu.Lock()
		q.spare = batch[:0]
		empty := len(q.items) == 0
		q.mu.Unlock()
		if closed && empty {
			return
		}
		if empty {
			<-q.signal
		}
	}
}

// releaseEvery is how many finished callbacks share one release of buffer
// space.
const releaseEvery = 64

// releaseShare is the share of the buffer (1/releaseShare of either limit)
// whose release is passed on at once while senders wait for space. They
// are woken once an eighth is free (intake.signalSpaceLocked), so a
// release a sixty-fourth at a time wakes them at most that late, where a
// release after every callback took the intake's lock once per message,
// against the very senders waiting for it.
const releaseShare = 64

// runBatch runs the callbacks of batch, releasing their messages' space as
// they finish: in groups, and sooner while senders wait for space.
func (q *deliveryQueue) runBatch(batch []delivered) {
	in := q.p.in
	soonRecs, soonBytes := max(1, in.maxRecs/releaseShare), max(1, in.maxBytes/releaseShare)
	var rel release
	for i := range batch {
		d := &batch[i]
		invokeCallback(q, d)
		e := d.e
		size, n := int64(e.rec.Size), int64(1)
		if q.loanUsed {
			// A message the callback sent took over part of this one's
			// space and its record slot.
			size -= q.loanTaken
			n = 0
		}
		rel.add(e.rec.Tag, size, n)
		batch[i] = delivered{}
		if rel.msgs >= releaseEvery || (in.blocked.Load() > 0 && (rel.msgs >= soonRecs || rel.bytes >= soonBytes)) {
			rel.apply(in)
		}
	}
	rel.apply(in)
}

// release accumulates finished messages for one locked update: their
// space, and per flush generation (by id) how many.
type release struct {
	bytes, recs, msgs int64
	gen               uint16
	genN              int64
	more              []genCount
}

type genCount struct {
	g uint16
	n int64
}

func (r *release) add(g uint16, bytes, recs int64) {
	r.bytes += bytes
	r.recs += recs
	r.msgs++
	if g != r.gen || r.genN == 0 {
		if r.genN > 0 {
			r.more = append(r.more, genCount{r.gen, r.genN})
		}
		r.gen, r.genN = g, 0
	}
	r.genN++
}

func (r *release) apply(in *intake) {
	if r.msgs == 0 {
		return
	}
	in.mu.Lock()
	in.releaseLocked(r.bytes, r.recs)
	for _, gc := range r.more {
		in.finishLocked(gc.g, gc.n, true)
	}
	if r.genN > 0 {
		in.finishLocked(r.gen, r.genN, true)
	}
	in.signalSpaceLocked()
	in.mu.Unlock()
	r.bytes, r.recs, r.msgs, r.gen, r.genN = 0, 0, 0, 0, 0
	r.more = r.more[:0]
}

// invokeCallback runs one callback. It must stay a function of its own:
// [deliveryQueue.onCallback] recognises the delivery goroutine by its
// frame.
//
//go:noinline
func invokeCallback(q *deliveryQueue, d *delivered) {
	e := d.e
	q.loanBytes, q.loanUsed, q.loanTaken = int64(e.rec.Size), false, 0
	if e.rec.Flags&flagNoCallback != 0 {
		return // nobody to tell: no Result to build
	}
	res := q.nextResult()
	*res = Result{
		Topic:     q.p.topicOfEnv(e),
		Partition: int32(e.rec.Route), // set by Deliver
		Offset:    d.offset,
		Timestamp: time.UnixMilli(q.p.timestampOf(e)),
		Message:   e.msg,
		Err:       d.err,
	}
	q.running.Store(true)
	e.cb(res, d.err)
	q.running.Store(false)
}

var invokeCallbackPC = reflect.ValueOf(invokeCallback).Pointer()

// onCallback reports whether the caller runs inside a callback of this
// producer. It walks the caller's stack, so it is for paths that would
// otherwise block, never for every message.
func (q *deliveryQueue) onCallback() bool {
	if !q.running.Load() {
		return false
	}
	var pcs [32]uintptr
	for skip := 2; ; skip += len(pcs) {
		n := goruntime.Callers(skip, pcs[:])
		for _, pc := range pcs[:n] {
			if f := goruntime.FuncForPC(pc - 1); f != nil && f.Entry() == invokeCallbackPC {
				return true
			}
		}
		if n < len(pcs) {
			return false
		}
	}
}
