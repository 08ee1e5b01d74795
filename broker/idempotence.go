package broker

import (
	"encoding/binary"
	"fmt"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Idempotence (docs/protocol.md, "Idempotence headers"): the first record of a batch
// may carry rmq-pid (8 bytes, big-endian, non-zero) and rmq-seq (8 bytes,
// big-endian). Per (pid, topic, partition) the broker keeps the next expected
// sequence and the first sequence, record count and base offset of the last
// recentBatches batches. A batch is then:
//
//   - appended when its sequence is the next expected one (a pid never seen
//     must start at 0);
//   - a duplicate when its sequence is the first sequence of one of the
//     remembered batches: answered with that batch's base offset and code 0,
//     not appended again;
//   - ahead when its sequence skips past the next expected one, or is above
//     0 for a pid never seen: it waits in the partition's reorder buffer
//     (reorder.go) for its predecessors, up to
//     Config.IdempotenceReorderWindow, and is answered 45 only if they do not
//     come. This wait is a departure upstream does not need (upstream has no
//     idempotence extension); docs/protocol.md's "skips ahead is answered 45" holds
//     at once only with the window disabled;
//   - out of order (code 45, at once) otherwise: it repeats a sequence older
//     than the remembered batches (whose offset is no longer known), or
//     starts in the middle of an earlier batch.
//
// The state lives beside the partition log and is rebuilt from it at start
// (rebuildIdempotence), so it survives a restart of a durable broker exactly
// as far as the log does. The reorder buffer is not: waiting batches are
// dropped unanswered at Close.

const recentBatches = 5

type batchEntry struct {
	seq, count, base uint64
}

type producerState struct {
	next   uint64
	recent [recentBatches]batchEntry
	n      int // entries used in recent (ring, oldest overwritten)
	pos    int // next slot to write
}

// idempotence is one partition's producer table; guarded by partition.lock.
type idempotence struct {
	producers map[uint64]*producerState
}

// idemHeaders is what a batch's first record says about idempotence.
type idemHeaders struct {
	present  bool
	pid, seq uint64
}

// parseIdempotence reads rmq-pid and rmq-seq from a batch's first record and
// checks that no later record carries them. It returns a message for code 87
// when they are malformed.
func parseIdempotence(records []wire.Record) (idemHeaders, string) {
	var h idemHeaders
	if len(records) == 0 {
		return h, ""
	}
	pid, hasPid := wire.HeaderValue(records[0].Headers, wire.HeaderProducerID)
	seq, hasSeq := wire.HeaderValue(records[0].Headers, wire.HeaderSequence)
	switch {
	case !hasPid && !hasSeq:
	case hasPid != hasSeq:
		return h, "rmq-pid and rmq-seq must come together on the first record"
	case len(pid) != 8:
		return h, fmt.Sprintf("rmq-pid must be 8 bytes, got %d", len(pid))
	case len(seq) != 8:
		return h, fmt.Sprintf("rmq-seq must be 8 bytes, got %d", len(seq))
	default:
		h = idemHeaders{present: true, pid: binary.BigEndian.Uint64(pid), seq: binary.BigEndian.Uint64(seq)}
		if h.pid == 0 {
			return h, "rmq-pid must not be 0"
		}
	}
	for i := 1; i < len(records); i++ {
		if _, ok := wire.HeaderValue(records[i].Headers, wire.HeaderProducerID); ok {
			return h, fmt.Sprintf("record %d carries rmq-pid; only a batch's first record may", i)
		}
		if _, ok := wire.HeaderValue(records[i].Headers, wire.HeaderSequence); ok {
			return h, fmt.Sprintf("record %d carries rmq-seq; only a batch's first record may", i)
		}
	}
	return h, ""
}

// verdict is what check decides about a batch.
type verdict int

const (
	verdictAppend    verdict = iota // the next expected sequence
	verdictDuplicate                // already appended; base holds its offset
	verdictAhead                    // skips ahead: may wait for its predecessors
	verdictReject                   // code 45 at once
)

// check classifies a batch. For verdictAhead and verdictReject msg is the
// code 45 message; for verdictDuplicate base is the original base offset.
func (id *idempotence) check(h idemHeaders) (v verdict, base uint64, msg string) {
	st := id.producers[h.pid]
	if st == nil {
		if h.seq != 0 {
			return verdictAhead, 0, fmt.Sprintf("producer %d is new to this partition: its first sequence must be 0, got %d", h.pid, h.seq)
		}
		return verdictAppend, 0, ""
	}
	if h.seq == st.next {
		return verdictAppend, 0, ""
	}
	if h.seq > st.next {
		return verdictAhead, 0, fmt.Sprintf("producer %d: expected sequence %d, got %d (a gap)", h.pid, st.next, h.seq)
	}
	for i := 0; i < st.n; i++ {
		e := st.recent[i]
		if e.seq == h.seq {
			return verdictDuplicate, e.base, ""
		}
	}
	return verdictReject, 0, fmt.Sprintf("producer %d: sequence %d was already appended but is older than the last %d batches or not a batch start (next expected %d)", h.pid, h.seq, recentBatches, st.next)
}

// record notes an appended batch and returns the producer's new next
// sequence.
func (id *idempotence) record(h idemHeaders, count int, base uint64) uint64 {
	st := id.producers[h.pid]
	if st == nil {
		st = &producerState{}
		id.producers[h.pid] = st
	}
	st.recent[st.pos] = batchEntry{seq: h.seq, count: uint64(count), base: base}
	st.pos = (st.pos + 1) % recentBatches
	if st.n < recentBatches {
		st.n++
	}
	st.next = h.seq + uint64(count)
	return st.next
}

// rebuildIdempotence replays a log's batches into a fresh table.
func rebuildIdempotence(l partitionLog) *idempotence {
	id := &idempotence{producers: map[uint64]*producerState{}}
	l.Batches(func(base uint64, records []wire.Record) bool {
		if h, msg := parseIdempotence(records); h.present && msg == "" {
			id.record(h, len(records), base)
		}
		return true
	})
	return id
}
