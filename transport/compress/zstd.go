package compress

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// zstdEncoder is the one encoder every Compress call shares. EncodeAll is
// safe for concurrent use; the encoder keeps GOMAXPROCS block encoders and
// starts no goroutines when only EncodeAll is used.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		// An empty value still becomes a complete frame, which decoders in
		// other languages require.
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(true),
	)
})

// zstdCompress appends one zstd frame holding src to dst.
func zstdCompress(dst, src []byte) ([]byte, error) {
	enc, err := zstdEncoder()
	if err != nil {
		return dst, fmt.Errorf("compress: zstd encoder: %w", err)
	}
	return enc.EncodeAll(src, dst), nil
}

// zstdMinLimitBits is log2 of the smallest decoder memory limit: 8 MiB, the
// window that zstd's own high levels use, so values streamed by ordinary
// encoders decode even under a small maxSize.
const zstdMinLimitBits = 23

var (
	// zstdDecoders[n] is the shared decoder whose memory limit is 1<<n
	// bytes, built on first use. A limit is fixed when a decoder is built,
	// so each power of two gets its own: a call with maxSize m uses the
	// decoder for the next power of two above m and checks m itself.
	zstdDecoders  [64]atomic.Pointer[zstd.Decoder]
	zstdDecodersM sync.Mutex
)

// zstdDecoderFor returns the shared decoder for output limit maxSize.
func zstdDecoderFor(maxSize int) (*zstd.Decoder, error) {
	n := max(bits.Len(uint(maxSize)), zstdMinLimitBits) // 1<<n > maxSize
	if d := zstdDecoders[n].Load(); d != nil {
		return d, nil
	}
	zstdDecodersM.Lock()
	defer zstdDecodersM.Unlock()
	if d := zstdDecoders[n].Load(); d != nil {
		return d, nil
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(uint64(1)<<n),
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
	)
	if err != nil {
		return nil, fmt.Errorf("compress: zstd decoder: %w", err)
	}
	zstdDecoders[n].Store(d)
	return d, nil
}

// zstdDecompress decodes every zstd frame in src, producing at most maxSize
// bytes.
func zstdDecompress(src []byte, maxSize int) ([]byte, error) {
	if len(src) == 0 {
		return nil, &CorruptError{Codec: Zstd, Err: io.ErrUnexpectedEOF}
	}
	// Reject a first frame that declares too large a content size before
	// decoding anything.
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, &CorruptError{Codec: Zstd, Err: err}
	}
	if h.HasFCS && h.FrameContentSize > uint64(maxSize) {
		return nil, tooLarge(Zstd, maxSize, nil)
	}
	d, err := zstdDecoderFor(maxSize)
	if err != nil {
		return nil, err
	}
	out, err := d.DecodeAll(src, nil)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return nil, tooLarge(Zstd, maxSize, err)
	case err != nil:
		return nil, &CorruptError{Codec: Zstd, Err: err}
	case len(out) > maxSize:
		return nil, tooLarge(Zstd, maxSize, nil)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}
