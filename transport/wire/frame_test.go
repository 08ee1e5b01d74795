package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestErrorFrameGolden(t *testing.T) {
	want := golden(t, "error_frame.frame")
	if n := goldenLen(t, "error_frame"); n != len(want) {
		t.Fatalf("error_frame.len = %d, frame has %d bytes", n, len(want))
	}
	if got := AppendErrorFrame(nil, "Invalid request type: 9"); !bytes.Equal(got, want) {
		t.Fatalf("AppendErrorFrame:\n got %x\nwant %x", got, want)
	}
	typ, body, err := SplitFrame(want)
	if err != nil || typ != TypeError {
		t.Fatalf("SplitFrame = %d, %v", typ, err)
	}
	if got := ErrorFrameText(body); got != "Invalid request type: 9" {
		t.Fatalf("ErrorFrameText = %q", got)
	}
}

func TestSplitFrame(t *testing.T) {
	typ, body, err := SplitFrame([]byte{TypeMetadata})
	if err != nil || typ != TypeMetadata || len(body) != 0 {
		t.Fatalf("one-byte frame: %d, %x, %v", typ, body, err)
	}
	frame := []byte{TypeFetch, 1, 2, 3}
	if _, body, _ := SplitFrame(frame); &body[0] != &frame[1] {
		t.Fatal("body does not alias the frame")
	}

	for _, in := range [][]byte{nil, {}} {
		_, _, err := SplitFrame(in)
		var de *DecodeError
		if !errors.Is(err, ErrTruncated) || !errors.As(err, &de) || de.Type != "frame" || de.Field != "type" || de.Offset != 0 {
			t.Fatalf("SplitFrame(%#v) err = %#v", in, err)
		}
	}
}

func TestAppendFrame(t *testing.T) {
	buf := make([]byte, 0, 64)
	out := AppendFrame(buf, TypeProduce)
	if len(out) != 1 || out[0] != TypeProduce || &out[:1][0] != &buf[:1][0] {
		t.Fatalf("AppendFrame = %x", out)
	}
	if got := AppendErrorFrame([]byte{9}, ""); !bytes.Equal(got, []byte("\x09\xffError: ")) {
		t.Fatalf("AppendErrorFrame onto a prefix = %q", got)
	}
}

func TestErrorFrameText(t *testing.T) {
	for in, want := range map[string]string{
		"Error: boom":          "boom",
		"no prefix":            "no prefix",
		"":                     "",
		"Error: bad \xff byte": "bad \uFFFD byte",
		"Error: Error: twice":  "Error: twice",
	} {
		if got := ErrorFrameText([]byte(in)); got != want {
			t.Errorf("ErrorFrameText(%q) = %q, want %q", in, got, want)
		}
	}
}
