package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// gzipDecoder is a pooled gzip reader with the reader of its input.
type gzipDecoder struct {
	zr  gzip.Reader
	src bytes.Reader
}

var (
	gzipEncoders = sync.Pool{New: func() any {
		e := &streamEncoder{name: "gzip"}
		// NewWriterLevel only fails for a level outside the valid range.
		e.zw, _ = gzip.NewWriterLevel(&e.out, gzip.DefaultCompression)
		return e
	}}
	gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}
)

// gzipCompress appends one gzip member holding src to dst.
func gzipCompress(dst, src []byte) ([]byte, error) { return compressStream(&gzipEncoders, dst, src) }

// gzipMaxRatio bounds how far deflate can expand its input (about 1032:1);
// it keeps a forged size trailer from inflating the first allocation.
const gzipMaxRatio = 1032

// gzipDecompress decodes every gzip member in src, producing at most
// maxSize bytes.
func gzipDecompress(src []byte, maxSize int) ([]byte, error) {
	// The trailer of the last member holds its size modulo 2^32: a good
	// first guess for the output buffer when there is a single member.
	hint := 0
	if len(src) >= 18 {
		hint = int(binary.LittleEndian.Uint32(src[len(src)-4:]))
		hint = min(hint, len(src)*gzipMaxRatio)
	}
	d := gzipDecoders.Get().(*gzipDecoder)
	defer func() {
		d.src.Reset(nil)
		gzipDecoders.Put(d)
	}()
	d.src.Reset(src)
	if err := d.zr.Reset(&d.src); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, &CorruptError{Codec: Gzip, Err: err}
	}
	out, err := readBounded(&d.zr, maxSize, hint)
	switch {
	case err == errLimit:
		return nil, tooLarge(Gzip, maxSize, nil)
	case err != nil:
		return nil, &CorruptError{Codec: Gzip, Err: err}
	}
	return out, nil
}
