package compress

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzLimit bounds every fuzzed decode.
const fuzzLimit = 1 << 20

// fuzzDecompress checks that Decompress of arbitrary input never panics,
// never returns more than the limit, fails only with this package's error
// kinds, and that whatever it accepts survives a round trip.
func fuzzDecompress(f *testing.F, c Codec) {
	for _, v := range [][]byte{{}, []byte("a"), []byte("hello, hello, hello, hello"), jsonLike(1, 3000), randomBytes(2, 700)} {
		comp, err := c.Compress(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(comp)
		if len(comp) > 8 {
			f.Add(comp[:len(comp)/2])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Decompress(c.String(), data, fuzzLimit)
		if err != nil {
			var ce *CorruptError
			if !errors.Is(err, ErrTooLarge) && !(errors.As(err, &ce) && ce.Codec == c) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if out != nil {
				t.Fatal("output returned with an error")
			}
			return
		}
		if len(out) > fuzzLimit {
			t.Fatalf("decoded %d bytes over the %d limit", len(out), fuzzLimit)
		}
		comp, err := c.Compress(nil, out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decompress(c.String(), comp, fuzzLimit)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("round trip of accepted output failed: %v", err)
		}
	})
}

func FuzzDecompressGzip(f *testing.F) { fuzzDecompress(f, Gzip) }
func FuzzDecompressLZ4(f *testing.F)  { fuzzDecompress(f, LZ4) }
func FuzzDecompressZstd(f *testing.F) { fuzzDecompress(f, Zstd) }
