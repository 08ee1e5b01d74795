package wire

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestDecodeErrorMessageAndUnwrap(t *testing.T) {
	err := error(&DecodeError{Type: "ProduceRequest", Field: "records[1].key", Offset: 40, Err: ErrTruncated})
	if got, want := err.Error(), "wire: decoding ProduceRequest: records[1].key at offset 40: truncated input"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("reading response: %w", err)
	var de *DecodeError
	if !errors.Is(wrapped, ErrTruncated) || !errors.As(wrapped, &de) || de.Offset != 40 {
		t.Fatalf("wrapping lost the error: %v", wrapped)
	}
	noField := &DecodeError{Type: "FetchRequest", Offset: 34, Err: ErrTrailingBytes}
	if got, want := noField.Error(), "wire: decoding FetchRequest at offset 34: trailing bytes after message"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	if got := ErrInvalidOption.Error(); got != "invalid option tag" {
		t.Fatalf("ErrInvalidOption.Error() = %q", got)
	}
	all := []error{ErrTruncated, ErrTrailingBytes, ErrInvalidLength, ErrInvalidEnum, ErrInvalidOption, ErrInvalidUTF8, ErrInvalidBool}
	for i, a := range all {
		for j, b := range all {
			is := errors.Is(a, b)
			// The only overlap: an Option tag is an enum variant.
			want := i == j || (a == ErrInvalidOption && b == ErrInvalidEnum)
			if is != want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", a, b, is, want)
			}
		}
	}
}

// Every reader primitive, at the boundary of the bytes left.
func TestReaderBoundaries(t *testing.T) {
	type step func(r *reader) error
	cases := []struct {
		name string
		in   []byte
		run  step
		want error
		off  int // expected DecodeError.Offset
	}{
		{"u8 empty", nil, func(r *reader) error { _, err := r.u8("f"); return err }, ErrTruncated, 0},
		{"u16 one byte", []byte{1}, func(r *reader) error { _, err := r.u16("f"); return err }, ErrTruncated, 0},
		{"u16 ok", []byte{1, 2}, func(r *reader) error { _, err := r.u16("f"); return err }, nil, 0},
		{"u32 three bytes", []byte{1, 2, 3}, func(r *reader) error { _, err := r.u32("f"); return err }, ErrTruncated, 0},
		{"u64 seven bytes", make([]byte, 7), func(r *reader) error { _, err := r.u64("f"); return err }, ErrTruncated, 0},
		{"bool 1", []byte{1}, func(r *reader) error { _, err := r.boolean("f"); return err }, nil, 0},
		{"bool 2", []byte{2}, func(r *reader) error { _, err := r.boolean("f"); return err }, ErrInvalidBool, 0},
		{"bool empty", nil, func(r *reader) error { _, err := r.boolean("f"); return err }, ErrTruncated, 0},
		{"bytes exact", append(le64(2), 'a', 'b'), func(r *reader) error { _, err := r.bytes("f"); return err }, nil, 0},
		{"bytes one short", append(le64(3), 'a', 'b'), func(r *reader) error { _, err := r.bytes("f"); return err }, ErrInvalidLength, 0},
		{"bytes length MaxUint64", le64(math.MaxUint64), func(r *reader) error { _, err := r.bytes("f"); return err }, ErrInvalidLength, 0},
		{"bytes length MaxInt64+1", le64(1 << 63), func(r *reader) error { _, err := r.bytes("f"); return err }, ErrInvalidLength, 0},
		{"opt bytes tag only", []byte{1}, func(r *reader) error { _, err := r.optBytes("f"); return err }, ErrTruncated, 1},
		{"string overlong UTF-8", append(le64(2), 0xc0, 0xaf), func(r *reader) error { _, err := r.str("f"); return err }, ErrInvalidUTF8, 0},
		{"string surrogate", append(le64(3), 0xed, 0xa0, 0x80), func(r *reader) error { _, err := r.str("f"); return err }, ErrInvalidUTF8, 0},
		{"string 4-byte rune", append(le64(4), "😀"...), func(r *reader) error { _, err := r.str("f"); return err }, nil, 0},
		{"header key not UTF-8", append(le64(1), 0xff), func(r *reader) error { _, err := r.headerKey("f", ""); return err }, ErrInvalidUTF8, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &reader{buf: c.in, typ: "T"}
			err := c.run(r)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var de *DecodeError
			if err != nil && (!errors.As(err, &de) || de.Field != "f" || de.Type != "T" || de.Offset != c.off) {
				t.Fatalf("err = %#v", err)
			}
		})
	}
}

// Known header keys come back as the package's constants, so decoding them
// does not allocate.
func TestHeaderKeyInterning(t *testing.T) {
	for _, k := range []string{HeaderProducerID, HeaderSequence, HeaderCodec, HeaderTraceparent, HeaderTracestate} {
		in := append(le64(uint64(len(k))), k...)
		allocs := testing.AllocsPerRun(20, func() {
			r := reader{buf: in}
			if got, err := r.headerKey("key", ""); err != nil || got != k {
				t.Fatalf("headerKey = %q, %v", got, err)
			}
		})
		if allocs != 0 {
			t.Errorf("decoding header key %q allocated %v times", k, allocs)
		}
	}
}
