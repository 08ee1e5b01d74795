package compress

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"runtime"
	"sync"

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

// zstdMinLimit is the smallest decoder memory limit: 8 MiB, the window
// zstd's own high levels use. A decoder rejects frames whose window exceeds
// its limit, so this floor keeps values streamed by ordinary encoders
// decodable under a small maxSize (which is then checked on the output).
const zstdMinLimit = 8 << 20

// zstdMaxExactLimits bounds how many distinct limits get a decoder of their
// own; further limits round up to a power of two, so the cache stays small
// whatever maxSize values callers pass.
const zstdMaxExactLimits = 8

var (
	// zstdDecoders maps a memory limit to the shared decoder built for it
	// on first use. The limit is fixed when a decoder is built, hence one
	// per limit; DecodeAll on each is safe for concurrent use and starts no
	// goroutines.
	zstdDecoders  sync.Map // int -> *zstd.Decoder
	zstdDecodersM sync.Mutex
	zstdExact     int // decoders built for a limit that is not a power of two
)

// zstdDecoderFor returns the shared decoder for output limit maxSize: its
// memory limit is max(maxSize, zstdMinLimit), possibly rounded up to a
// power of two.
func zstdDecoderFor(maxSize int) (*zstd.Decoder, error) {
	limit := max(maxSize, zstdMinLimit)
	if d, ok := zstdDecoders.Load(limit); ok {
		return d.(*zstd.Decoder), nil
	}
	zstdDecodersM.Lock()
	defer zstdDecodersM.Unlock()
	if d, ok := zstdDecoders.Load(limit); ok {
		return d.(*zstd.Decoder), nil
	}
	exact := limit&(limit-1) != 0
	if exact && zstdExact >= zstdMaxExactLimits {
		exact = false
		if n := bits.Len(uint(limit)); n < 63 {
			limit = 1 << n // the next power of two above
		} else {
			limit = math.MaxInt
		}
		if d, ok := zstdDecoders.Load(limit); ok {
			return d.(*zstd.Decoder), nil
		}
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(uint64(limit)),
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
	)
	if err != nil {
		return nil, fmt.Errorf("compress: zstd decoder: %w", err)
	}
	if exact {
		zstdExact++
	}
	zstdDecoders.Store(limit, d)
	return d, nil
}

// zstdFrame locates one data frame of a zstd input.
type zstdFrame struct {
	start, end int
	size       int64 // declared content size, -1 when absent
}

// zstdFrames walks the frame and block headers of src without decoding
// anything. It returns the data frames (skippable frames are left out) and
// the sum of the declared content sizes, or an error for a malformed or
// truncated layout or bytes after the last frame. frames reuses buf.
func zstdFrames(src []byte, buf []zstdFrame) (frames []zstdFrame, declared int64, err error) {
	frames = buf[:0]
	for off := 0; off < len(src); {
		var h zstd.Header
		if err := h.Decode(src[off:]); err != nil {
			return nil, 0, err
		}
		if h.Skippable {
			off += h.HeaderSize + int(h.SkippableSize)
			if off > len(src) {
				return nil, 0, io.ErrUnexpectedEOF
			}
			continue
		}
		f := zstdFrame{start: off, size: -1}
		off += h.HeaderSize
		for last := false; !last; {
			if len(src)-off < 3 {
				return nil, 0, io.ErrUnexpectedEOF
			}
			bh := int(src[off]) | int(src[off+1])<<8 | int(src[off+2])<<16
			off += 3
			last = bh&1 == 1
			switch (bh >> 1) & 3 {
			case 0, 2: // raw, compressed: size bytes follow
				off += bh >> 3
			case 1: // RLE: one byte repeated size times
				off++
			default:
				return nil, 0, zstd.ErrReservedBlockType
			}
			if off > len(src) {
				return nil, 0, io.ErrUnexpectedEOF
			}
		}
		if h.HasCheckSum {
			off += 4
			if off > len(src) {
				return nil, 0, io.ErrUnexpectedEOF
			}
		}
		f.end = off
		if h.HasFCS {
			f.size = int64(min(h.FrameContentSize, math.MaxInt64/2))
			declared = min(declared+f.size, math.MaxInt64/2)
		}
		frames = append(frames, f)
	}
	if len(frames) == 0 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	return frames, declared, nil
}

// zstdDecompress decodes every zstd frame in src, producing at most maxSize
// bytes.
//
// It first walks the frame headers: when the declared content sizes already
// exceed maxSize it stops there, and it sizes the output to them. Frames are
// then decoded one by one into that buffer, which grows geometrically when a
// frame without a declared size needs more. (Handing the whole input to
// DecodeAll instead would reallocate the output for every frame of a
// many-frame input: quadratic work for a small hostile value.) A frame
// without a declared size is stopped by the decoder's memory limit, and the
// total is checked after each frame.
func zstdDecompress(src []byte, maxSize int) ([]byte, error) {
	if len(src) == 0 {
		return nil, &CorruptError{Codec: Zstd, Err: io.ErrUnexpectedEOF}
	}
	var buf [4]zstdFrame
	frames, declared, err := zstdFrames(src, buf[:])
	if err != nil {
		return nil, &CorruptError{Codec: Zstd, Err: err}
	}
	if declared > int64(maxSize) {
		return nil, tooLarge(Zstd, maxSize, nil)
	}
	d, err := zstdDecoderFor(maxSize)
	if err != nil {
		return nil, err
	}
	var out []byte
	if declared > 0 {
		out = make([]byte, 0, declared)
	}
	for _, f := range frames {
		if f.size > 0 && int64(cap(out)-len(out)) < f.size {
			// Only after a frame without a declared size used the room.
			grown := make([]byte, len(out), min(max(2*int64(cap(out)), int64(len(out))+f.size), int64(maxSize)))
			copy(grown, out)
			out = grown
		}
		out, err = d.DecodeAll(src[f.start:f.end], out)
		switch {
		case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
			return nil, tooLarge(Zstd, maxSize, err)
		case err != nil:
			return nil, &CorruptError{Codec: Zstd, Err: err}
		case len(out) > maxSize:
			return nil, tooLarge(Zstd, maxSize, nil)
		}
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}
