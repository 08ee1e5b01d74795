// Package wire is the bincode v1 codec of the RustMQ client protocol: the
// request and response types of docs/protocol.md, the protocol error-code table
// with its retriable flags, and the header keys of this project's extensions.
//
// It knows bytes only: no I/O, and of the standard library nothing that does
// I/O. Every other package of the module may import it; it imports none of them.
//
// Encoding appends to a caller's buffer (Append) and can report its exact size
// first (Size). Decoding (Unmarshal) reads one complete message, rejects
// truncated input, trailing bytes, lengths beyond what remains, unknown enum
// variants, Option tags and bool bytes other than 0 and 1, and invalid UTF-8
// with a *DecodeError that unwraps to one sentinel (ErrTruncated,
// ErrTrailingBytes, ErrInvalidLength, ErrInvalidEnum, ErrInvalidOption,
// ErrInvalidUTF8, ErrInvalidBool), and never panics. A sequence count is
// checked against the bytes left before anything is allocated. Decoded
// byte slices (keys, values, header values, payloads) alias the input buffer:
// callers that keep them past the buffer's lifetime must copy them. An
// Option<bytes> decodes None as nil and Some(empty) as a non-nil empty slice,
// and encodes the same way round.
//
// Frames (AppendFrame, SplitFrame, AppendErrorFrame, ErrorFrameText) put the
// request-type byte in front of a body.
//
// # Capabilities (request type 33)
//
// Type 33 is an extension of this project, like Authenticate (32): a client
// asks which extensions a broker serves with
//
//	CapabilitiesRequest  { version: u32 }                          // the client sends CapabilitiesVersion (1)
//	CapabilitiesResponse { version: u32, features: Vec<String> }   // the broker's version, feature names
//
// encoded in bincode like every other message. The feature names are the
// Feature* constants ("idempotence", "reorder-window", "authenticate",
// "whole-requests"); a client ignores names it does not know and a broker
// lists only what it serves. A broker answers the probe before any
// Authenticate, so a client can learn whether to authenticate at all.
// Upstream RustMQ does not know type 33: it drops the stream without an
// answer (the client reads an empty response, or the stream is reset) and
// keeps the connection, which is how a client recognises such a broker.
package wire
