package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// Sentinels of malformed input. Every decoding failure is a *DecodeError
// whose Err is exactly one of these, so errors.Is(err, wire.ErrTruncated)
// and friends classify it.
var (
	// ErrTruncated: the input ended inside a fixed-width field or a tag.
	ErrTruncated = errors.New("truncated input")
	// ErrTrailingBytes: a complete message was followed by more bytes.
	ErrTrailingBytes = errors.New("trailing bytes after message")
	// ErrInvalidLength: a length prefix (string, bytes or sequence count)
	// promises more than the rest of the input can hold, or does not fit in
	// an int.
	ErrInvalidLength = errors.New("length exceeds remaining input")
	// ErrInvalidEnum: an enum variant index the type does not define.
	ErrInvalidEnum = errors.New("invalid enum variant")
	// ErrInvalidOption: an Option tag other than 0 (None) or 1 (Some).
	// Option is an enum in Rust, so it also matches ErrInvalidEnum.
	ErrInvalidOption error = &optionTagError{}
	// ErrInvalidUTF8: a String field holds bytes that are not UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8 in string")
	// ErrInvalidBool: a bool byte other than 0 or 1.
	ErrInvalidBool = errors.New("invalid bool byte")
)

type optionTagError struct{}

func (*optionTagError) Error() string { return "invalid option tag" }
func (*optionTagError) Unwrap() error { return ErrInvalidEnum }

// DecodeError describes why Unmarshal (or SplitFrame) rejected its input.
// Type is the message being decoded ("ProduceRequest", "frame"), Field the
// path of the offending field in docs/protocol.md's names ("records[1].headers[0].key"),
// Offset the position in the input where that field (or, for trailing bytes,
// the surplus) begins, and Err one of the sentinels above.
type DecodeError struct {
	Type   string
	Field  string
	Offset int
	Err    error
}

// Error implements the error interface.
func (e *DecodeError) Error() string {
	s := "wire: decoding " + e.Type
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + " at offset " + strconv.Itoa(e.Offset) + ": " + e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

// prefixField puts an outer field path (with an index when idx >= 0) in front
// of the Field of a *DecodeError coming from a nested decoder. It runs on the
// error path only.
func prefixField(err error, outer string, idx int) error {
	if de, ok := err.(*DecodeError); ok {
		p := outer
		if idx >= 0 {
			p += "[" + strconv.Itoa(idx) + "]"
		}
		if de.Field != "" {
			p += "." + de.Field
		}
		de.Field = p
	}
	return err
}

// Smallest encodings of sequence elements, used to bound a sequence count
// against the bytes left before anything is allocated.
const (
	minStringSize            = 8                 // length prefix only
	minHeaderSize            = 8 + 8             // key, value
	minRecordSize            = 1 + 8 + 8 + 8     // None key, value, headers, timestamp
	minBrokerInfoSize        = 8 + 8 + 2 + 2 + 8 // id, host, ports, rack_id
	minPartitionMetadataSize = 4 + 1 + 8         // partition_id, None leader, replicas
	minTopicMetadataSize     = 8 + 8             // name, partitions
)

// reader walks a bincode buffer. Its methods never panic: every read checks
// the bytes left first and reports a *DecodeError naming the field.
type reader struct {
	buf []byte
	off int
	typ string
}

func (r *reader) remaining() int { return len(r.buf) - r.off }

func (r *reader) fail(field string, at int, err error) error {
	return &DecodeError{Type: r.typ, Field: field, Offset: at, Err: err}
}

func (r *reader) u8(field string) (byte, error) {
	if r.remaining() < 1 {
		return 0, r.fail(field, r.off, ErrTruncated)
	}
	v := r.buf[r.off]
	r.off++
	return v, nil
}

func (r *reader) u16(field string) (uint16, error) {
	if r.remaining() < 2 {
		return 0, r.fail(field, r.off, ErrTruncated)
	}
	v := binary.LittleEndian.Uint16(r.buf[r.off:])
	r.off += 2
	return v, nil
}

func (r *reader) u32(field string) (uint32, error) {
	if r.remaining() < 4 {
		return 0, r.fail(field, r.off, ErrTruncated)
	}
	v := binary.LittleEndian.Uint32(r.buf[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) u64(field string) (uint64, error) {
	if r.remaining() < 8 {
		return 0, r.fail(field, r.off, ErrTruncated)
	}
	v := binary.LittleEndian.Uint64(r.buf[r.off:])
	r.off += 8
	return v, nil
}

func (r *reader) boolean(field string) (bool, error) {
	at := r.off
	v, err := r.u8(field)
	if err != nil {
		return false, err
	}
	switch v {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, r.fail(field, at, ErrInvalidBool)
}

// optionTag reads an Option's tag: true for Some.
func (r *reader) optionTag(field string) (bool, error) {
	at := r.off
	v, err := r.u8(field)
	if err != nil {
		return false, err
	}
	switch v {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, r.fail(field, at, ErrInvalidOption)
}

// length reads a u64 length or count and checks that count elements of at
// least minElem bytes each fit in what is left, so no allocation sized by
// the input can exceed a small multiple of the input's own size.
func (r *reader) length(field string, minElem int) (int, error) {
	at := r.off
	n, err := r.u64(field)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt || n > uint64(r.remaining()/minElem) {
		return 0, r.fail(field, at, ErrInvalidLength)
	}
	return int(n), nil
}

// bytes reads a length-prefixed byte string. The result aliases the input
// with its capacity clipped, so appending to it never overwrites the input;
// it is never nil.
func (r *reader) bytes(field string) ([]byte, error) {
	n, err := r.length(field, 1)
	if err != nil {
		return nil, err
	}
	end := r.off + n
	v := r.buf[r.off:end:end]
	r.off = end
	return v, nil
}

// optBytes reads an Option<bytes>: nil for None, a non-nil (possibly empty)
// slice for Some.
func (r *reader) optBytes(field string) ([]byte, error) {
	some, err := r.optionTag(field)
	if err != nil || !some {
		return nil, err
	}
	return r.bytes(field)
}

// rawString reads a length-prefixed UTF-8 string and returns its bytes,
// still aliasing the input.
func (r *reader) rawString(field string) ([]byte, error) {
	at := r.off
	v, err := r.bytes(field)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(v) {
		return nil, r.fail(field, at, ErrInvalidUTF8)
	}
	return v, nil
}

func (r *reader) str(field string) (string, error) {
	v, err := r.rawString(field)
	if err != nil {
		return "", err
	}
	return string(v), nil
}

// headerKey reads a header key. A key equal to prev (the same header of the
// previous record, which a batch usually repeats) or to one of this
// project's well-known keys is returned without allocating a copy; an equal
// key is valid UTF-8 by construction, so it skips that check too.
func (r *reader) headerKey(field, prev string) (string, error) {
	at := r.off
	v, err := r.bytes(field)
	if err != nil {
		return "", err
	}
	if string(v) == prev {
		return prev, nil
	}
	if !utf8.Valid(v) {
		return "", r.fail(field, at, ErrInvalidUTF8)
	}
	switch string(v) {
	case HeaderProducerID:
		return HeaderProducerID, nil
	case HeaderSequence:
		return HeaderSequence, nil
	case HeaderCodec:
		return HeaderCodec, nil
	case HeaderTraceparent:
		return HeaderTraceparent, nil
	case HeaderTracestate:
		return HeaderTracestate, nil
	}
	return string(v), nil
}

func (r *reader) optStr(field string) (*string, error) {
	some, err := r.optionTag(field)
	if err != nil || !some {
		return nil, err
	}
	s, err := r.str(field)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// strings reads a Vec<String>; an empty sequence decodes as nil.
func (r *reader) strings(field string) ([]string, error) {
	n, err := r.length(field, minStringSize)
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]string, n)
	for i := range out {
		if out[i], err = r.str(""); err != nil {
			return nil, prefixField(err, field, i)
		}
	}
	return out, nil
}

// finish rejects bytes left after a complete message.
func (r *reader) finish() error {
	if r.remaining() != 0 {
		return r.fail("", r.off, ErrTrailingBytes)
	}
	return nil
}
