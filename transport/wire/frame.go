package wire

import (
	"bytes"
	"unicode/utf8"
)

// A frame is what one QUIC stream carries in each direction: one request
// type byte, then the message's bincode body. Errors travel as TypeError
// (0xFF) followed by UTF-8 text instead.

// errorFramePrefix is what the upstream broker puts before its message.
const errorFramePrefix = "Error: "

// AppendFrame appends the frame's type byte to b; the body follows by
// calling the message's Append on the result:
//
//	b = req.Append(wire.AppendFrame(b, wire.TypeProduce))
func AppendFrame(b []byte, reqType byte) []byte { return append(b, reqType) }

// SplitFrame separates a frame into its type byte and body. The body
// aliases frame and is not validated: decode it with the Unmarshal of the
// type's message, or, for TypeError, read it with ErrorFrameText. An empty
// frame is a *DecodeError (Type "frame") wrapping ErrTruncated.
func SplitFrame(frame []byte) (reqType byte, body []byte, err error) {
	if len(frame) == 0 {
		return 0, nil, &DecodeError{Type: "frame", Field: "type", Offset: 0, Err: ErrTruncated}
	}
	return frame[0], frame[1:], nil
}

// AppendErrorFrame appends an error frame in the upstream broker's form:
// 0xFF, then "Error: " and msg as UTF-8.
func AppendErrorFrame(b []byte, msg string) []byte {
	b = append(b, TypeError)
	b = append(b, errorFramePrefix...)
	return append(b, msg...)
}

// ErrorFrameText returns the message of an error frame's body (the bytes
// after 0xFF): the text without the "Error: " prefix when it has one, with
// invalid UTF-8 replaced by U+FFFD so it is safe to log, and cut to
// MaxErrorTextBytes like TruncateErrorText. Only the bytes kept are copied,
// whatever the size of body.
func ErrorFrameText(body []byte) string {
	body = bytes.TrimPrefix(body, []byte(errorFramePrefix))
	if len(body) > MaxErrorTextBytes+utf8.UTFMax {
		body = body[:MaxErrorTextBytes+utf8.UTFMax] // enough to cut at a character boundary
	}
	return TruncateErrorText(string(body))
}
