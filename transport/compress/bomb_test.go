package compress

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestDecompressLimit(t *testing.T) {
	v := bytes.Repeat([]byte("abcdefgh"), 4096) // 32 KiB
	for _, c := range codecs {
		comp, err := c.Compress(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Decompress(c.String(), comp, len(v)); err != nil || len(got) != len(v) {
			t.Errorf("%v: limit == size: %d bytes, %v", c, len(got), err)
		}
		if _, err := Decompress(c.String(), comp, len(v)-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v: limit == size-1: error %v, want ErrTooLarge", c, err)
		}
		// maxSize <= 0 means the default limit.
		if got, err := Decompress(c.String(), comp, 0); err != nil || len(got) != len(v) {
			t.Errorf("%v: default limit: %d bytes, %v", c, len(got), err)
		}
	}
}

// allocatedDuring reports the bytes the heap allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// zstdStreamed compresses v the way a streaming producer would: the frame
// carries no content size, so only the decoder's limit can stop it.
func zstdStreamed(t testing.TB, v []byte) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = zw.Write(v)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A decompression bomb fails with ErrTooLarge and costs memory in
// proportion to the limit, not to what the bomb would expand to. Each bomb
// is 1 MiB of zeros compressed, repeated 512 times (frames and gzip members
// concatenate), so it would expand to 256 MiB.
func TestDecompressionBomb(t *testing.T) {
	const copies = 256
	zeros := make([]byte, 1<<20)
	frames := map[string][]byte{"zstd-streamed": zstdStreamed(t, zeros)}
	for _, c := range codecs {
		comp, err := c.Compress(nil, zeros)
		if err != nil {
			t.Fatal(err)
		}
		frames[c.String()] = comp
	}
	for name, frame := range frames {
		codec := name
		if name == "zstd-streamed" {
			codec = "zstd"
		}
		bomb := bytes.Repeat(frame, copies)
		for _, limit := range []int{100 << 10, 4 << 20} {
			var out []byte
			var derr error
			alloc := allocatedDuring(func() { out, derr = Decompress(codec, bomb, limit) })
			if !errors.Is(derr, ErrTooLarge) || out != nil {
				t.Errorf("%s: %d-byte bomb, limit %d: got %d bytes, %v; want ErrTooLarge",
					name, len(bomb), limit, len(out), derr)
			}
			// gzip and LZ4 stop after limit+1 bytes of output, the buffer
			// doubling up to that; zstd frames without a declared size
			// run up to the decoder's 8 MiB floor. Far below 256 MiB.
			budget := uint64(4*limit) + 2<<20
			if name == "zstd-streamed" {
				budget = uint64(4*max(limit, zstdMinLimit)) + 2<<20
			}
			if alloc > budget {
				t.Errorf("%s: limit %d: rejecting the bomb allocated %d MiB, budget %d MiB",
					name, limit, alloc>>20, budget>>20)
			}
			t.Logf("%s: limit %d KiB: %d-byte bomb rejected after allocating %.1f MiB",
				name, limit>>10, len(bomb), float64(alloc)/(1<<20))
		}
	}
}

// A zstd frame that declares a content size above the limit is refused
// before any decoding.
func TestZstdDeclaredSizeRejected(t *testing.T) {
	comp, _ := Zstd.Compress(nil, make([]byte, 4<<20))
	var out []byte
	var err error
	alloc := allocatedDuring(func() { out, err = Decompress("zstd", comp, 1000) })
	if !errors.Is(err, ErrTooLarge) || out != nil {
		t.Fatalf("got %d bytes, %v; want ErrTooLarge", len(out), err)
	}
	if alloc > 64<<10 {
		t.Errorf("refusing by header allocated %d bytes", alloc)
	}
}

// Streaming encoders declare a window larger than the content. Windows up
// to the decoder's 8 MiB floor decode under any limit; a larger window needs
// a limit that covers it.
func TestZstdStreamWindow(t *testing.T) {
	v := randomBytes(5, 256<<10)
	streamed := func(window int) []byte {
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = zw.Write(v)
		_ = zw.Close()
		return buf.Bytes()
	}
	w8, w16 := streamed(8<<20), streamed(16<<20)
	if got, err := Decompress("zstd", w8, 1<<20); err != nil || !bytes.Equal(got, v) {
		t.Errorf("8 MiB window, 1 MiB limit: %d bytes, %v", len(got), err)
	}
	if _, err := Decompress("zstd", w16, 1<<20); !errors.Is(err, ErrTooLarge) || !errors.Is(err, zstd.ErrWindowSizeExceeded) {
		t.Errorf("16 MiB window, 1 MiB limit: error %v, want ErrTooLarge wrapping the window error", err)
	}
	if got, err := Decompress("zstd", w16, 16<<20); err != nil || !bytes.Equal(got, v) {
		t.Errorf("16 MiB window, 16 MiB limit: %d bytes, %v", len(got), err)
	}
}
