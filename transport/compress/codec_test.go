package compress

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestCodecNames(t *testing.T) {
	for _, c := range []Codec{None, Gzip, LZ4, Zstd} {
		got, err := ParseCodec(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCodec(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	want := map[Codec]string{None: "none", Gzip: "gzip", LZ4: "lz4", Zstd: "zstd", Codec(9): "codec(9)"}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("Codec(%d).String() = %q, want %q", uint8(c), c.String(), s)
		}
	}
	if c, err := ParseCodec("ZSTD"); err != nil || c != Zstd {
		t.Errorf("ParseCodec(ZSTD) = %v, %v", c, err)
	}
	for _, name := range []string{"", "snappy", "gzip ", "lz4hc"} {
		if _, err := ParseCodec(name); !errors.Is(err, ErrUnknownCodec) {
			t.Errorf("ParseCodec(%q) error = %v, want ErrUnknownCodec", name, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	inputs := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"tiny", []byte("x")},
		{"random-1MiB", randomBytes(1, 1<<20)},
		{"json-1MiB", jsonLike(2, 1<<20)},
	}
	for _, c := range append([]Codec{None}, codecs...) {
		for _, in := range inputs {
			t.Run(c.String()+"/"+in.name, func(t *testing.T) {
				prefix := []byte("prefix:")
				dst := append(make([]byte, 0, 16), prefix...)
				out, err := c.Compress(dst, in.data)
				if err != nil {
					t.Fatalf("Compress: %v", err)
				}
				if !bytes.HasPrefix(out, prefix) {
					t.Fatalf("Compress did not append to dst: starts %q", out[:min(len(out), 10)])
				}
				comp := out[len(prefix):]
				if c != None && len(comp) == 0 {
					t.Fatal("compressed form of a value is empty; other decoders need a full frame")
				}
				got, err := Decompress(c.String(), comp, 2<<20)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(got, in.data) {
					t.Fatalf("round trip changed the value: got %d bytes, want %d", len(got), len(in.data))
				}
				if in.name == "json-1MiB" && c != None && len(comp) > len(in.data)/2 {
					t.Errorf("JSON compressed to %d of %d bytes: codec is not compressing", len(comp), len(in.data))
				}
			})
		}
	}
}

func TestUnknownCodec(t *testing.T) {
	if _, err := Codec(7).Compress(nil, []byte("v")); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("Codec(7).Compress error = %v, want ErrUnknownCodec", err)
	}
	for _, name := range []string{"", "snappy"} {
		if _, err := Decompress(name, []byte("v"), 0); !errors.Is(err, ErrUnknownCodec) {
			t.Errorf("Decompress(%q) error = %v, want ErrUnknownCodec", name, err)
		}
	}
}

func TestDecompressCorrupt(t *testing.T) {
	value := jsonLike(3, 20_000)
	for _, c := range codecs {
		good, err := c.Compress(nil, value)
		if err != nil {
			t.Fatal(err)
		}
		flipped := bytes.Clone(good)
		flipped[len(flipped)/2] ^= 0x55
		cases := map[string][]byte{
			"empty":     {},
			"garbage":   []byte("this is not compressed at all, not even a little"),
			"truncated": good[:len(good)-5],
			"header":    good[:4],
			"flipped":   flipped,
			"trailing":  append(bytes.Clone(good), "junk after the frame"...),
		}
		for name, in := range cases {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				out, err := Decompress(c.String(), in, 1<<20)
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("Decompress = %d bytes, %v; want *CorruptError", len(out), err)
				}
				if ce.Codec != c || ce.Unwrap() == nil {
					t.Fatalf("CorruptError = %+v; want codec %v and a cause", ce, c)
				}
				if out != nil {
					t.Fatal("a failed Decompress returned data")
				}
			})
		}
	}
}

// Several frames (or gzip members) back to back decode to the concatenation
// of their contents, as the standard tools do.
func TestConcatenatedFrames(t *testing.T) {
	for _, c := range codecs {
		a, _ := c.Compress(nil, []byte("first,"))
		ab, _ := c.Compress(a, []byte("second"))
		got, err := Decompress(c.String(), ab, 0)
		if err != nil || string(got) != "first,second" {
			t.Errorf("%v: Decompress(two frames) = %q, %v", c, got, err)
		}
	}
}

func TestNoneCodec(t *testing.T) {
	v := []byte("plain")
	got, err := Decompress("none", v, 0)
	if err != nil || &got[0] != &v[0] {
		t.Fatalf("Decompress(none) = %q, %v; want the input itself", got, err)
	}
	if _, err := Decompress("none", v, 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decompress(none, 5 bytes, max 4) error = %v, want ErrTooLarge", err)
	}
}

// Many goroutines share the pools and the zstd coders; run with -race.
func TestConcurrentUse(t *testing.T) {
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			var buf []byte
			for i := range rounds {
				c := codecs[r.IntN(len(codecs))]
				var v []byte
				if i%2 == 0 {
					v = jsonLike(uint64(w*rounds+i), r.IntN(32<<10))
				} else {
					v = randomBytes(uint64(w*rounds+i), r.IntN(8<<10))
				}
				var err error
				buf, err = c.Compress(buf[:0], v)
				if err != nil {
					errs <- fmt.Errorf("%v Compress: %w", c, err)
					return
				}
				got, err := Decompress(c.String(), buf, len(v))
				if err != nil {
					errs <- fmt.Errorf("%v Decompress: %w", c, err)
					return
				}
				if !bytes.Equal(got, v) {
					errs <- fmt.Errorf("%v: round trip of %d bytes changed the value", c, len(v))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
