package compress

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// lz4Decoder is a pooled LZ4 frame reader with the reader of its input.
type lz4Decoder struct {
	zr  *lz4.Reader
	src bytes.Reader
}

var (
	lz4Encoders = sync.Pool{New: func() any {
		e := &streamEncoder{name: "lz4"}
		zw := lz4.NewWriter(&e.out)
		e.zw = zw
		// 64 KiB blocks keep each pooled writer small (the default is 4 MiB)
		// and are what other LZ4 frame producers use; the content checksum
		// lets consumers detect damage. Options survive Reset.
		if err := zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(true), lz4.ConcurrencyOption(1)); err != nil {
			panic(fmt.Sprintf("compress: lz4 writer options rejected: %v", err))
		}
		return e
	}}
	lz4Decoders = sync.Pool{New: func() any {
		d := &lz4Decoder{}
		d.zr = lz4.NewReader(&d.src)
		return d
	}}
)

// lz4Compress appends one LZ4 frame holding src to dst.
func lz4Compress(dst, src []byte) ([]byte, error) { return compressStream(&lz4Encoders, dst, src) }

// lz4Decompress decodes every LZ4 frame in src, producing at most maxSize
// bytes.
func lz4Decompress(src []byte, maxSize int) ([]byte, error) {
	if len(src) == 0 {
		return nil, &CorruptError{Codec: LZ4, Err: io.ErrUnexpectedEOF}
	}
	d := lz4Decoders.Get().(*lz4Decoder)
	defer func() {
		d.src.Reset(nil)
		d.zr.Reset(&d.src)
		lz4Decoders.Put(d)
	}()
	d.src.Reset(src)
	d.zr.Reset(&d.src)
	// LZ4 expands at most about 255:1; without a content size in the header
	// start from a modest guess and let readBounded grow.
	out, err := readBounded(d.zr, maxSize, 4*len(src))
	switch {
	case err == errLimit:
		return nil, tooLarge(LZ4, maxSize, nil)
	case err != nil:
		return nil, &CorruptError{Codec: LZ4, Err: err}
	}
	return out, nil
}
