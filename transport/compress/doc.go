// Package compress holds the value codecs of the rmq-codec header extension:
// gzip, the LZ4 frame format and zstd frames, each with pooled or shared
// encoders and decoders, bounded decompression and the [DecodeValue] helper
// that consumers use to undo what a producer compressed.
//
// It may import transport/wire (for [wire.Record] and the header key),
// github.com/klauspost/compress and github.com/pierrec/lz4/v4, and nothing
// else of this module.
//
// # Formats
//
// Every codec writes its standard self-describing container, so consumers
// in any language decode values with their usual library:
//
//   - "gzip": RFC 1952 members (any gzip reader; concatenated members are
//     accepted on decode).
//   - "lz4": the LZ4 frame format with a content checksum (lz4 -d, liblz4's
//     LZ4F API, pierrec/lz4 Reader), not the raw block format.
//   - "zstd": RFC 8878 zstd frames carrying the content size (zstd -d,
//     libzstd, klauspost/compress/zstd).
//
// # Limits
//
// Decompression never produces more than the caller's maxSize bytes: gzip
// and LZ4 are read through a limit of maxSize+1 bytes; zstd first adds up
// the content sizes its frames declare, then decodes frame by frame on a
// shared decoder whose memory limit is maxSize (at least 8 MiB, so that the
// windows of ordinary zstd encoders are accepted), checking the total after
// each frame.
// A value that would decode to more yields an error matching [ErrTooLarge].
//
// # Errors
//
// An unknown codec name or value matches [ErrUnknownCodec]; damaged input is
// a [*CorruptError] naming the codec and wrapping the library's error.
package compress
