package compress

import "github.com/rustmq/rustmq-go/transport/wire"

// DecodeValue returns the value of a fetched record with its compression
// undone, at most [DefaultMaxDecodedBytes] bytes. It reads the record's
// rmq-codec header ([wire.HeaderCodec]); without that header (or with
// "none") it returns r.Value itself. This is the decoder consumers use for
// records written by a producer that compresses values.
//
// Errors are those of [Decompress]: [ErrUnknownCodec] for a header naming
// no known codec, [ErrTooLarge], [*CorruptError].
func DecodeValue(r *wire.Record) ([]byte, error) {
	return DecodeValueMax(r, DefaultMaxDecodedBytes)
}

// DecodeValueMax is [DecodeValue] with an explicit limit on the decoded
// size; maxSize <= 0 means [DefaultMaxDecodedBytes].
func DecodeValueMax(r *wire.Record, maxSize int) ([]byte, error) {
	name, ok := codecHeader(r.Headers)
	if !ok {
		return r.Value, nil
	}
	return Decompress(name, r.Value, maxSize)
}

// codecHeader returns the value of the first rmq-codec header.
func codecHeader(hs []wire.Header) (string, bool) {
	for i := range hs {
		if hs[i].Key == wire.HeaderCodec {
			return string(hs[i].Value), true
		}
	}
	return "", false
}
