package wire

import (
	"bytes"
	"testing"
)

func TestHeaderValue(t *testing.T) {
	hs := []Header{
		{Key: HeaderCodec, Value: []byte("zstd")},
		{Key: "dup", Value: []byte("first")},
		{Key: "dup", Value: []byte("second")},
		{Key: "empty", Value: []byte{}},
	}
	for _, c := range []struct {
		key  string
		want []byte
		ok   bool
	}{
		{HeaderCodec, []byte("zstd"), true},
		{"dup", []byte("first"), true},
		{"empty", []byte{}, true},
		{"missing", nil, false},
		{"ZSTD", nil, false},
	} {
		got, ok := HeaderValue(hs, c.key)
		if ok != c.ok || !bytes.Equal(got, c.want) {
			t.Errorf("HeaderValue(%q) = %q, %v; want %q, %v", c.key, got, ok, c.want, c.ok)
		}
	}
	if _, ok := HeaderValue(nil, "x"); ok {
		t.Error("found a header in nil")
	}
}

// Record.Append and Size agree with the record's slice of a golden
// ProduceRequest, for a Some key with headers and a None key without.
func TestRecordAppendMatchesGolden(t *testing.T) {
	req := produceRequestGoldenValue()
	body := golden(t, "produce_request.bincode")
	off := 8 + len(req.Topic) + 4 + 8
	for i := range req.Records {
		r := &req.Records[i]
		got := r.Append(nil)
		if len(got) != r.Size() {
			t.Fatalf("record %d: Size() = %d, Append wrote %d", i, r.Size(), len(got))
		}
		if !bytes.Equal(got, body[off:off+len(got)]) {
			t.Fatalf("record %d:\n got %x\nwant %x", i, got, body[off:off+len(got)])
		}
		off += len(got)
	}
}

func TestRecordSizeOptionKey(t *testing.T) {
	none := Record{Value: []byte("v")}
	some := Record{Key: []byte{}, Value: []byte("v")}
	if some.Size()-none.Size() != 8 {
		t.Fatalf("Some(empty) key should cost 8 bytes more than None: %d vs %d", some.Size(), none.Size())
	}
	if b := none.Append(nil); b[0] != 0 {
		t.Fatalf("nil key not written as None: %x", b)
	}
	if b := some.Append(nil); b[0] != 1 || !bytes.Equal(b[1:9], le64(0)) {
		t.Fatalf("empty key not written as Some(empty): %x", b)
	}
}
