package logstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Frame layout (see doc.go): an 8-byte header, then the payload, which
// starts with a 12-byte batch header.
const (
	frameHeaderLen = 8
	batchHeaderLen = 12
)

// castagnoli is the CRC-32C table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// markEvery is the spacing, in records, of a batch's marks.
const markEvery = 16

// batch is one appended batch as held in memory: its encoded payload, with
// the base offset and record count copied out for Read's search. The
// records are decoded again each time they are read. Keeping structs of
// records instead would give the garbage collector several pointers per
// record to trace on every cycle, for a log that holds the whole run of a
// benchmark; a batch holds two pointers, to memory the collector need not
// scan.
type batch struct {
	base  uint64
	count uint32
	// payload is the frame's payload (batch header and records), which has
	// been checked to decode. Nothing writes to it again, so the records
	// decoded from it may alias it.
	payload []byte
	// marks[k] is the payload position of record (k+1)*markEvery, so that
	// Read starting inside a large batch decodes at most markEvery-1
	// records it does not return. Nil for a batch of markEvery records or
	// fewer.
	marks []uint32
}

// seek returns a decoder positioned at record i of b (i < b.count): it
// starts at the last mark at or before i and steps over the records between.
func (b *batch) seek(i uint64) recordDecoder {
	d := recordDecoder{b: b.payload, pos: batchHeaderLen}
	k := i / markEvery
	if k > 0 {
		d.pos = int(b.marks[k-1])
	}
	for k *= markEvery; k < i; k++ {
		if err := d.skip(); err != nil {
			b.corrupt(err)
		}
	}
	return d
}

// corrupt panics: b's payload decoded when it was appended or recovered and
// nothing writes to it, so failing to decode it now is a bug.
func (b *batch) corrupt(err error) {
	panic(fmt.Sprintf("logstore: batch at offset %d no longer decodes: %v", b.base, err))
}

// records decodes the whole batch. The records alias b.payload.
func (b *batch) records() []wire.Record {
	d := recordDecoder{b: b.payload, pos: batchHeaderLen}
	recs, err := d.records(b.count)
	if err != nil {
		b.corrupt(err)
	}
	return recs
}

// encodeBatch builds the frame of a batch starting at base, which is also
// the deep copy the log keeps (the batch's payload is the frame's tail).
// appendRecord writes what the decoder reads (FuzzDecodeRecords holds the
// two to each other), so the frame is not decoded back here.
func encodeBatch(base uint64, records []wire.Record) ([]byte, batch, error) {
	if uint64(len(records)) > math.MaxUint32 {
		return nil, batch{}, fmt.Errorf("%w: %d records", ErrBatchTooLarge, len(records))
	}
	size := frameHeaderLen + batchHeaderLen
	for i := range records {
		size += encodedLen(&records[i])
	}
	buf := make([]byte, frameHeaderLen+batchHeaderLen, size)
	binary.LittleEndian.PutUint64(buf[frameHeaderLen:], base)
	binary.LittleEndian.PutUint32(buf[frameHeaderLen+8:], uint32(len(records)))
	var marks []uint32
	if n := (len(records) - 1) / markEvery; n > 0 {
		marks = make([]uint32, 0, n)
	}
	for i := range records {
		if i > 0 && i%markEvery == 0 {
			marks = append(marks, uint32(len(buf)-frameHeaderLen))
		}
		buf = appendRecord(buf, &records[i])
	}
	if len(buf) != size {
		panic(fmt.Sprintf("logstore: batch encoded to %d bytes, %d computed", len(buf), size))
	}
	payload := buf[frameHeaderLen:]
	if uint64(len(payload)) > math.MaxUint32 {
		return nil, batch{}, fmt.Errorf("%w: %d payload bytes", ErrBatchTooLarge, len(payload))
	}
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(payload, castagnoli))
	return buf, batch{base: base, count: uint32(len(records)), payload: payload, marks: marks}, nil
}

// decodeFrame parses the frame at the start of b, whose batch must start at
// offset want. It returns the batch and the frame's length, or a reason why
// the frame is torn or corrupt.
func decodeFrame(b []byte, want uint64) (batch, int, string) {
	if len(b) < frameHeaderLen {
		return batch{}, 0, fmt.Sprintf("torn frame header (%d of %d bytes)", len(b), frameHeaderLen)
	}
	length := binary.LittleEndian.Uint32(b[0:])
	sum := binary.LittleEndian.Uint32(b[4:])
	if length < batchHeaderLen {
		return batch{}, 0, fmt.Sprintf("frame length %d below the %d-byte batch header", length, batchHeaderLen)
	}
	if uint64(length) > uint64(len(b)-frameHeaderLen) {
		return batch{}, 0, fmt.Sprintf("torn frame (length %d, %d bytes present)", length, len(b)-frameHeaderLen)
	}
	end := frameHeaderLen + int(length)
	payload := b[frameHeaderLen:end:end]
	if got := crc32.Checksum(payload, castagnoli); got != sum {
		return batch{}, 0, fmt.Sprintf("checksum mismatch (stored %08x, computed %08x)", sum, got)
	}
	base := binary.LittleEndian.Uint64(payload[0:])
	count := binary.LittleEndian.Uint32(payload[8:])
	if base != want {
		return batch{}, 0, fmt.Sprintf("batch base offset %d where %d was expected", base, want)
	}
	if count == 0 {
		return batch{}, 0, "batch with no records"
	}
	if base > math.MaxUint64-uint64(count) {
		return batch{}, 0, fmt.Sprintf("batch of %d records at %d overflows the offset space", count, base)
	}
	// Every record is decoded, exactly as Read will decode it, and thrown
	// away: a frame is kept only if reading it later cannot fail.
	d := recordDecoder{b: payload, pos: batchHeaderLen}
	marks, err := d.check(count)
	if err != nil {
		return batch{}, 0, fmt.Sprintf("payload does not decode: %v at payload byte %d", err, d.pos)
	}
	return batch{base: base, count: count, payload: payload, marks: marks}, end, ""
}

// decodeSegment parses the frames of one segment whose first batch starts at
// base. It returns the batches of the longest valid prefix, that prefix's
// length in bytes, and why parsing stopped before the end ("" if it did not).
// The batches' payloads alias data. It never panics, whatever data holds.
func decodeSegment(data []byte, base uint64) ([]batch, int, string) {
	var out []batch
	pos := 0
	next := base
	for pos < len(data) {
		b, n, reason := decodeFrame(data[pos:], next)
		if reason != "" {
			return out, pos, reason
		}
		out = append(out, b)
		next += uint64(b.count)
		pos += n
	}
	return out, pos, ""
}
