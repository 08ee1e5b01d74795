// Package logstore holds the append-only partition log of the development
// broker: batches of records numbered by offset, kept in memory or in segment
// files that survive restarts and crashes. Of this module it imports only
// transport/wire, for the record type; the rest is the standard library.
//
// # Modes
//
// A Log opened with an empty directory lives in memory only. A Log opened with
// a directory writes every appended batch as one frame to the active segment
// file and keeps it in memory as well: reads never touch the disk. Each batch
// is held as its encoded frame (one allocation), with its base offset, its
// record count and the payload position of every sixteenth record; Read and
// Batches decode the records they return from those bytes, and the records'
// byte slices and header keys point into the frame. So Append's deep copy
// costs one encode, memory use is about the log's size on disk plus a few
// dozen bytes per batch, and the garbage collector has two pointers per batch
// to trace instead of several per record. Read is a binary search over batch
// base offsets, then decodes from the nearest indexed record up to the offset
// (at most fifteen records it does not return) and onwards.
//
// # On-disk format
//
// A segment file is named after the offset of its first record, as twenty
// decimal digits: 00000000000000000000.log, 00000000000000004096.log, and so
// on. A new segment starts when the next frame would take the active one past
// Options.SegmentBytes (a single batch larger than that gets a segment of its
// own). A segment is a sequence of frames, one per appended batch:
//
//	frame   = length u32 | crc u32 | payload          (integers little-endian)
//	length  = len(payload)
//	crc     = CRC-32C (Castagnoli) of payload
//	payload = base u64 | count u32 | record * count
//	record  = key bytesOpt | value bytesOpt | timestamp varint
//	          | headerCount uvarint | (headerKey bytesOpt | headerValue bytesOpt) * headerCount
//	bytesOpt = uvarint(0) for nil, else uvarint(len+1) followed by len bytes
//
// Varints are those of encoding/binary (timestamps zig-zag encoded) and must be
// minimal, so every payload has exactly one encoding. The format is private to
// this package; nothing else reads the files.
//
// # Durability and recovery
//
// Append with sync set calls fsync on the segment before it returns, and on
// the directory as well when a segment file was created since the last sync.
// Before a segment is left for a new one it is synced, so an acknowledged
// batch never sits behind a batch that might still be lost. Open reads the
// segments in order and checks each frame's length, checksum, payload and base
// offset (each batch must start where the previous one ended). At the first
// frame that fails it truncates that segment there, deletes every later
// segment, logs what it dropped at Warn level and carries on with the valid
// prefix; Batches then replays exactly what survived.
//
// # Concurrency
//
// A *Log is safe for concurrent use. Appends are serialised; readers are not
// blocked while an append waits for fsync, and see a batch only once its
// append has finished.
package logstore
