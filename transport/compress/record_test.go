package compress

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestDecodeValue(t *testing.T) {
	plain := jsonLike(21, 5000)
	for _, c := range codecs {
		comp, err := c.Compress(nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		r := &wire.Record{
			Key:   []byte("k"),
			Value: comp,
			Headers: []wire.Header{
				{Key: "other", Value: []byte("x")},
				{Key: wire.HeaderCodec, Value: []byte(c.String())},
			},
		}
		got, err := DecodeValue(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%v: DecodeValue = %d bytes, %v", c, len(got), err)
		}
		if _, err := DecodeValueMax(r, 100); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v: DecodeValueMax(100) error = %v, want ErrTooLarge", c, err)
		}
	}

	// Without the header, or with "none", the value is returned as is.
	for _, hs := range [][]wire.Header{nil, {{Key: wire.HeaderCodec, Value: []byte("none")}}} {
		r := &wire.Record{Value: []byte("as is"), Headers: hs}
		got, err := DecodeValue(r)
		if err != nil || &got[0] != &r.Value[0] {
			t.Errorf("headers %v: DecodeValue = %q, %v; want r.Value itself", hs, got, err)
		}
	}

	r := &wire.Record{Value: []byte("v"), Headers: []wire.Header{{Key: wire.HeaderCodec, Value: []byte("brotli")}}}
	if _, err := DecodeValue(r); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("unknown codec header: error %v, want ErrUnknownCodec", err)
	}
	r = &wire.Record{Value: []byte("not gzip"), Headers: []wire.Header{{Key: wire.HeaderCodec, Value: []byte("gzip")}}}
	var ce *CorruptError
	if _, err := DecodeValue(r); !errors.As(err, &ce) || ce.Codec != Gzip {
		t.Errorf("corrupt gzip value: error %v, want *CorruptError{Codec: Gzip}", err)
	}
}
