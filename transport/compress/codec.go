package compress

import (
	"fmt"
	"strings"
)

// Codec names a value compression scheme. The zero value, None, leaves
// values as they are.
type Codec uint8

// The codecs of the rmq-codec header. Their String forms are the header
// values.
const (
	None Codec = iota // no compression; no rmq-codec header is written
	Gzip              // "gzip": RFC 1952 gzip members
	LZ4               // "lz4": LZ4 frame format
	Zstd              // "zstd": zstd frames
)

// DefaultMaxDecodedBytes is the decompressed size limit [DecodeValue]
// applies, and the one [Decompress] uses when given maxSize <= 0.
const DefaultMaxDecodedBytes = 64 << 20

// String returns the codec's header value: "none", "gzip", "lz4" or "zstd",
// or "codec(N)" for a value outside the defined set.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// ParseCodec returns the codec named name ("none", "gzip", "lz4" or
// "zstd", ignoring ASCII case). The empty string is not a codec name: an
// absent header is handled by [DecodeValue]. Any other name yields an error
// matching [ErrUnknownCodec].
func ParseCodec(name string) (Codec, error) {
	switch {
	case strings.EqualFold(name, "none"):
		return None, nil
	case strings.EqualFold(name, "gzip"):
		return Gzip, nil
	case strings.EqualFold(name, "lz4"):
		return LZ4, nil
	case strings.EqualFold(name, "zstd"):
		return Zstd, nil
	}
	return None, fmt.Errorf("%w: %q", ErrUnknownCodec, name)
}

// Compress appends the compressed form of src to dst and returns the
// extended slice; None appends src unchanged. Encoders come from pools (gzip,
// LZ4) or one shared encoder (zstd), never built per call, so Compress is
// safe for concurrent use and cheap for small values. A Codec outside the
// defined set yields an error matching [ErrUnknownCodec].
func (c Codec) Compress(dst, src []byte) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Gzip:
		return gzipCompress(dst, src)
	case LZ4:
		return lz4Compress(dst, src)
	case Zstd:
		return zstdCompress(dst, src)
	}
	return dst, fmt.Errorf("%w: %s", ErrUnknownCodec, c)
}

// Decompress decodes src, compressed with the codec named codecName (an
// rmq-codec header value, see [ParseCodec]), into a new slice of at most
// maxSize bytes; maxSize <= 0 means [DefaultMaxDecodedBytes]. For "none" it
// returns src itself. It is safe for concurrent use.
//
// Errors: [ErrUnknownCodec] for an unknown name, [ErrTooLarge] when the
// value would decode to more than maxSize bytes (checked while decoding, so a
// decompression bomb costs memory and time in proportion to maxSize, or to
// 8 MiB for a zstd frame that does not declare its size), and
// [*CorruptError] for input the codec rejects.
func Decompress(codecName string, src []byte, maxSize int) ([]byte, error) {
	c, err := ParseCodec(codecName)
	if err != nil {
		return nil, err
	}
	return c.decompress(src, maxSize)
}

// decompress is Decompress for a parsed codec.
func (c Codec) decompress(src []byte, maxSize int) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxDecodedBytes
	}
	switch c {
	case None:
		if len(src) > maxSize {
			return nil, tooLarge(c, maxSize, nil)
		}
		return src, nil
	case Gzip:
		return gzipDecompress(src, maxSize)
	case LZ4:
		return lz4Decompress(src, maxSize)
	case Zstd:
		return zstdDecompress(src, maxSize)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownCodec, c)
}
