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

// batch is one appended batch as held in memory. Its records alias frame
// bytes that nothing writes to again.
type batch struct {
	base    uint64
	records []wire.Record
}

// encodeBatch builds the frame of a batch starting at base and decodes it
// back, which gives the deep copy the log keeps: every byte slice of the
// returned records points into the one frame buffer.
func encodeBatch(base uint64, records []wire.Record) ([]byte, []wire.Record, error) {
	if uint64(len(records)) > math.MaxUint32 {
		return nil, nil, fmt.Errorf("%w: %d records", ErrBatchTooLarge, len(records))
	}
	size := frameHeaderLen + batchHeaderLen
	for i := range records {
		size += encodedLen(&records[i])
	}
	buf := make([]byte, frameHeaderLen+batchHeaderLen, size)
	binary.LittleEndian.PutUint64(buf[frameHeaderLen:], base)
	binary.LittleEndian.PutUint32(buf[frameHeaderLen+8:], uint32(len(records)))
	for i := range records {
		buf = appendRecord(buf, &records[i])
	}
	if len(buf) != size {
		panic(fmt.Sprintf("logstore: batch encoded to %d bytes, %d computed", len(buf), size))
	}
	payload := buf[frameHeaderLen:]
	if uint64(len(payload)) > math.MaxUint32 {
		return nil, nil, fmt.Errorf("%w: %d payload bytes", ErrBatchTooLarge, len(payload))
	}
	binary.LittleEndian.PutUint32(buf[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(payload, castagnoli))
	d := recordDecoder{b: payload, pos: batchHeaderLen}
	copies, err := d.records(uint32(len(records)))
	if err != nil {
		// appendRecord and records are inverse; reaching this is a bug.
		panic(fmt.Sprintf("logstore: encoded batch does not decode: %v", err))
	}
	return buf, copies, nil
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
	d := recordDecoder{b: payload, pos: batchHeaderLen}
	recs, err := d.records(count)
	if err != nil {
		return batch{}, 0, fmt.Sprintf("payload does not decode: %v at payload byte %d", err, d.pos)
	}
	return batch{base: base, records: recs}, end, ""
}

// decodeSegment parses the frames of one segment whose first batch starts at
// base. It returns the batches of the longest valid prefix, that prefix's
// length in bytes, and why parsing stopped before the end ("" if it did not).
// Records alias data. It never panics, whatever data holds.
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
		next += uint64(len(b.records))
		pos += n
	}
	return out, pos, ""
}
