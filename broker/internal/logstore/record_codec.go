package logstore

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Record encoding inside a frame payload (see doc.go for the grammar). The
// encoding is canonical: the decoder rejects non-minimal varints, so a decoded
// batch re-encodes to exactly the bytes it came from.

// errMalformed is the internal reason a payload's records do not parse.
var errMalformed = errors.New("malformed record")

// appendBytesOpt appends b as a bytesOpt: 0 for nil, len+1 then the bytes.
func appendBytesOpt(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b))+1)
	return append(dst, b...)
}

// appendStringOpt is appendBytesOpt for a header key, which is never nil.
func appendStringOpt(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s))+1)
	return append(dst, s...)
}

// appendRecord appends the encoding of r to dst.
func appendRecord(dst []byte, r *wire.Record) []byte {
	dst = appendBytesOpt(dst, r.Key)
	dst = appendBytesOpt(dst, r.Value)
	dst = binary.AppendVarint(dst, r.Timestamp)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for i := range r.Headers {
		dst = appendStringOpt(dst, r.Headers[i].Key)
		dst = appendBytesOpt(dst, r.Headers[i].Value)
	}
	return dst
}

// uvarintLen is the number of bytes binary.AppendUvarint writes for v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// bytesOptLen is the length of appendBytesOpt's output for a field of n
// bytes, nil or not.
func bytesOptLen(n int, isNil bool) int {
	if isNil {
		return 1
	}
	return uvarintLen(uint64(n)+1) + n
}

// encodedLen is the exact length of appendRecord's output for r, so a
// batch's frame buffer (which the log keeps) is allocated once, at size.
func encodedLen(r *wire.Record) int {
	zigzag := uint64(r.Timestamp) << 1
	if r.Timestamp < 0 {
		zigzag = ^zigzag
	}
	n := bytesOptLen(len(r.Key), r.Key == nil) + bytesOptLen(len(r.Value), r.Value == nil) +
		uvarintLen(zigzag) + uvarintLen(uint64(len(r.Headers)))
	for i := range r.Headers {
		n += bytesOptLen(len(r.Headers[i].Key), false) + bytesOptLen(len(r.Headers[i].Value), r.Headers[i].Value == nil)
	}
	return n
}

// recordDecoder reads records from one payload. Decoded byte slices alias
// the payload and are capped at their length, so appending to one never
// writes into its neighbour.
type recordDecoder struct {
	b    []byte
	pos  int
	hdrs []wire.Header // headers of the batch so far; records take sub-slices
}

// uvarint reads a minimal uvarint.
func (d *recordDecoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 || n != uvarintLen(v) {
		return 0, errMalformed
	}
	d.pos += n
	return v, nil
}

// varint reads a minimal zig-zag varint.
func (d *recordDecoder) varint() (int64, error) {
	u, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v, nil
}

// bytesOpt reads a bytesOpt.
func (d *recordDecoder) bytesOpt() ([]byte, error) {
	l, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if l == 0 {
		return nil, nil
	}
	l--
	if l > uint64(len(d.b)-d.pos) {
		return nil, errMalformed
	}
	end := d.pos + int(l)
	out := d.b[d.pos:end:end]
	d.pos = end
	return out, nil
}

// minRecordBytes is the fewest bytes one record takes: four one-byte fields.
const minRecordBytes = 4

// minHeaderBytes is the fewest bytes one header takes.
const minHeaderBytes = 2

// record decodes the next record into r, appending its headers to d.hdrs.
// On error d.pos is where decoding stopped.
func (d *recordDecoder) record(r *wire.Record) error {
	var err error
	if r.Key, err = d.bytesOpt(); err != nil {
		return err
	}
	if r.Value, err = d.bytesOpt(); err != nil {
		return err
	}
	if r.Timestamp, err = d.varint(); err != nil {
		return err
	}
	nh, err := d.uvarint()
	if err != nil {
		return err
	}
	if nh > uint64(len(d.b)-d.pos)/minHeaderBytes {
		return errMalformed
	}
	r.Headers = nil
	if nh == 0 {
		return nil
	}
	if uint64(cap(d.hdrs)-len(d.hdrs)) < nh {
		// A fresh array instead of append's grown copy: the records decoded
		// so far keep the old one, so copying it would only double the
		// memory. Arrays double up to maxHeaderChunk, and are never smaller
		// than this record needs.
		n := min(max(2*cap(d.hdrs), minHeaderChunk), maxHeaderChunk)
		d.hdrs = make([]wire.Header, 0, max(uint64(n), nh))
	}
	start := len(d.hdrs)
	for range nh {
		k, err := d.bytesOpt()
		if err != nil {
			return err
		}
		if k == nil {
			return errMalformed // header keys are strings, never None
		}
		v, err := d.bytesOpt()
		if err != nil {
			return err
		}
		// The key aliases the payload like every other field: the
		// payload is never written again, so the string stays immutable.
		d.hdrs = append(d.hdrs, wire.Header{Key: unsafe.String(unsafe.SliceData(k), len(k)), Value: v})
	}
	// The room was made above, so append never moved d.hdrs: the record's
	// headers are its last nh slots, capped so that appending to them
	// cannot write into the next record's.
	end := len(d.hdrs)
	r.Headers = d.hdrs[start:end:end]
	return nil
}

// Bounds of the arrays recordDecoder.record puts headers in.
const (
	minHeaderChunk = 8
	maxHeaderChunk = 1024
)

// skip steps over the next record without keeping it.
func (d *recordDecoder) skip() error {
	var r wire.Record
	err := d.record(&r)
	// Only r referred to its headers, the last ones in d.hdrs (in a fresh
	// array if record made one), so their slots may be reused.
	d.hdrs = d.hdrs[:len(d.hdrs)-len(r.Headers)]
	return err
}

// countFits reports whether count records could fit in what is left of the
// payload, so that a corrupt count cannot make records allocate much more
// than the payload's size.
func (d *recordDecoder) countFits(count uint32) bool {
	return uint64(count) <= uint64(len(d.b)-d.pos)/minRecordBytes
}

// records decodes count records, which must use up the payload exactly.
func (d *recordDecoder) records(count uint32) ([]wire.Record, error) {
	if !d.countFits(count) {
		return nil, errMalformed
	}
	out := make([]wire.Record, count)
	for i := range out {
		if err := d.record(&out[i]); err != nil {
			return nil, err
		}
	}
	if d.pos != len(d.b) {
		return nil, errMalformed
	}
	return out, nil
}

// check is records without the result: it accepts exactly the payloads
// records accepts, and allocates only the header slots of one record. It
// returns the batch's marks (see batch), which decoding finds for free.
func (d *recordDecoder) check(count uint32) ([]uint32, error) {
	if !d.countFits(count) {
		return nil, errMalformed
	}
	var marks []uint32
	if n := (int(count) - 1) / markEvery; n > 0 {
		marks = make([]uint32, 0, n)
	}
	for i := range count {
		if i > 0 && i%markEvery == 0 {
			marks = append(marks, uint32(d.pos))
		}
		if err := d.skip(); err != nil {
			return nil, err
		}
	}
	if d.pos != len(d.b) {
		return nil, errMalformed
	}
	return marks, nil
}
