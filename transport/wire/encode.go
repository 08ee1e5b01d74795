package wire

import "encoding/binary"

// Message is what every top-level message type of docs/protocol.md implements: a
// bincode encoder appending to a caller's buffer, its exact size, and a
// decoder of one complete message.
type Message interface {
	// Append appends the message's bincode encoding to b and returns the
	// extended buffer. It allocates only when b lacks room.
	Append(b []byte) []byte
	// Size returns the exact number of bytes Append adds.
	Size() int
	// Unmarshal replaces the receiver with the message encoded in b, which
	// must hold exactly one message. On error the receiver is unchanged.
	Unmarshal(b []byte) error
}

var (
	_ Message = (*ProduceRequest)(nil)
	_ Message = (*ProduceResponse)(nil)
	_ Message = (*FetchRequest)(nil)
	_ Message = (*FetchResponse)(nil)
	_ Message = (*MetadataRequest)(nil)
	_ Message = (*MetadataResponse)(nil)
	_ Message = (*AuthenticateRequest)(nil)
	_ Message = (*AuthenticateResponse)(nil)
	_ Message = (*CapabilitiesRequest)(nil)
	_ Message = (*CapabilitiesResponse)(nil)
	_ Message = (*Acks)(nil)
)

func appendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, s string) []byte {
	b = appendU64(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = appendU64(b, uint64(len(p)))
	return append(b, p...)
}

// appendOptBytes writes nil as None and any non-nil slice, even an empty
// one, as Some.
func appendOptBytes(b []byte, p []byte) []byte {
	if p == nil {
		return append(b, 0)
	}
	return appendBytes(append(b, 1), p)
}

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	return appendString(append(b, 1), *s)
}

func appendStrings(b []byte, ss []string) []byte {
	b = appendU64(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func stringSize(s string) int { return 8 + len(s) }

func optBytesSize(p []byte) int {
	if p == nil {
		return 1
	}
	return 1 + 8 + len(p)
}

func optStringSize(s *string) int {
	if s == nil {
		return 1
	}
	return 1 + 8 + len(*s)
}

func stringsSize(ss []string) int {
	n := 8
	for _, s := range ss {
		n += 8 + len(s)
	}
	return n
}
