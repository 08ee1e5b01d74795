package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// The compressed values must be the standard containers, readable by any
// consumer's usual library. These tests decode our output with independent
// readers and decode their output with ours.

func compatInputs() map[string][]byte {
	return map[string][]byte{
		"empty":  {},
		"tiny":   []byte("hello"),
		"json":   jsonLike(11, 300_000),
		"random": randomBytes(12, 200_000),
	}
}

func TestGzipIsStandard(t *testing.T) {
	for name, v := range compatInputs() {
		comp, err := Gzip.Compress(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := stdgzip.NewReader(bytes.NewReader(comp))
		if err != nil {
			t.Fatalf("%s: stdlib gzip rejects our header: %v", name, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s: stdlib gzip read %d bytes, %v; want %d", name, len(got), err, len(v))
		}

		var buf bytes.Buffer
		zw := stdgzip.NewWriter(&buf)
		_, _ = zw.Write(v)
		_ = zw.Close()
		got, err = Decompress("gzip", buf.Bytes(), 0)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s: decoding stdlib gzip: %d bytes, %v", name, len(got), err)
		}
	}
}

func TestLZ4IsFrameFormat(t *testing.T) {
	for name, v := range compatInputs() {
		comp, err := LZ4.Compress(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if len(comp) < 4 || binary.LittleEndian.Uint32(comp) != 0x184D2204 {
			t.Fatalf("%s: output does not start with the LZ4 frame magic: % x", name, comp[:min(4, len(comp))])
		}
		got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(comp)))
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s: lz4.NewReader read %d bytes, %v; want %d", name, len(got), err, len(v))
		}

		// A writer with the library's defaults (4 MiB blocks) and with block
		// checksums, as other producers may configure.
		var buf bytes.Buffer
		zw := lz4.NewWriter(&buf)
		if err := zw.Apply(lz4.BlockChecksumOption(true)); err != nil {
			t.Fatal(err)
		}
		_, _ = zw.Write(v)
		_ = zw.Close()
		got, err = Decompress("lz4", buf.Bytes(), 0)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s: decoding a default lz4 frame: %d bytes, %v", name, len(got), err)
		}
	}
}

func TestZstdIsStandard(t *testing.T) {
	for name, v := range compatInputs() {
		comp, err := Zstd.Compress(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		var h zstd.Header
		if err := h.Decode(comp); err != nil {
			t.Fatalf("%s: frame header: %v", name, err)
		}
		// zstd stores no content size below 256 bytes unless the frame is a
		// single segment; larger values carry it, plus a checksum.
		if len(v) >= 256 && (!h.HasFCS || h.FrameContentSize != uint64(len(v)) || !h.HasCheckSum) {
			t.Errorf("%s: header has FCS=%v (%d) checksum=%v; want the content size %d and a checksum",
				name, h.HasFCS, h.FrameContentSize, h.HasCheckSum, len(v))
		}
		// A fresh streaming decoder, independent of our shared ones.
		zr, err := zstd.NewReader(bytes.NewReader(comp))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		zr.Close()
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s: fresh zstd reader read %d bytes, %v; want %d", name, len(got), err, len(v))
		}

		// A streaming encoder writes no content size: our decoder still
		// accepts it.
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = zw.Write(v)
		_ = zw.Close()
		got, err = Decompress("zstd", buf.Bytes(), 0)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s: decoding a streamed zstd frame: %d bytes, %v", name, len(got), err)
		}
	}
}
