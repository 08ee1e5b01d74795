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

// records decodes count records, which must use up the payload exactly.
func (d *recordDecoder) records(count uint32) ([]wire.Record, error) {
	if uint64(count) > uint64(len(d.b)-d.pos)/minRecordBytes {
		return nil, errMalformed
	}
	out := make([]wire.Record, count)
	for i := range out {
		r := &out[i]
		var err error
		if r.Key, err = d.bytesOpt(); err != nil {
			return nil, err
		}
		if r.Value, err = d.bytesOpt(); err != nil {
			return nil, err
		}
		if r.Timestamp, err = d.varint(); err != nil {
			return nil, err
		}
		nh, err := d.uvarint()
		if err != nil {
			return nil, err
		}
		if nh > uint64(len(d.b)-d.pos)/minHeaderBytes {
			return nil, errMalformed
		}
		if nh == 0 {
			continue
		}
		start := len(d.hdrs)
		for range nh {
			k, err := d.bytesOpt()
			if err != nil {
				return nil, err
			}
			if k == nil {
				return nil, errMalformed // header keys are strings, never None
			}
			v, err := d.bytesOpt()
			if err != nil {
				return nil, err
			}
			// The key aliases the payload like every other field: the
			// payload is never written again, so the string stays immutable.
			d.hdrs = append(d.hdrs, wire.Header{Key: unsafe.String(unsafe.SliceData(k), len(k)), Value: v})
		}
		// Sub-slicing after the record's headers are all in place is right
		// even when append moved d.hdrs: earlier records keep the old array,
		// which nothing modifies.
		end := len(d.hdrs)
		r.Headers = d.hdrs[start:end:end]
	}
	if d.pos != len(d.b) {
		return nil, errMalformed
	}
	return out, nil
}
