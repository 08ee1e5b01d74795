package wire

import (
	"bytes"
	"errors"
	"testing"
)

// The golden file has no Authenticate vectors (the message is this
// project's extension), so the expected bytes are spelled out here from
// docs/protocol.md's definition, field by field.
func TestAuthenticateRequestEncoding(t *testing.T) {
	m := &AuthenticateRequest{Mechanism: "PLAIN", Payload: []byte("\x00u\x00p")}
	want := cat(le64(5), []byte("PLAIN"), le64(4), []byte("\x00u\x00p"))
	if got := m.Append(nil); !bytes.Equal(got, want) || m.Size() != len(want) {
		t.Fatalf("Append = %x (Size %d), want %x", got, m.Size(), want)
	}
	var got AuthenticateRequest
	if err := got.Unmarshal(want); err != nil || got.Mechanism != "PLAIN" || !bytes.Equal(got.Payload, m.Payload) {
		t.Fatalf("Unmarshal = %#v, %v", got, err)
	}
	frame := m.Append(AppendFrame(nil, TypeAuthenticate))
	if frame[0] != 32 || !bytes.Equal(frame[1:], want) {
		t.Fatalf("frame = %x", frame)
	}
}

func TestAuthenticateResponseEncoding(t *testing.T) {
	m := &AuthenticateResponse{
		ErrorCode: 0, Payload: []byte("srv"), Complete: true,
		Principal: ptr("alice"), SessionLifetimeMs: 3600000,
	}
	want := cat(
		[]byte{0, 0, 0, 0}, // error_code
		[]byte{0},          // error_message None
		le64(3), []byte("srv"),
		[]byte{1},                           // complete
		[]byte{1}, le64(5), []byte("alice"), // principal Some
		le64(3600000),
	)
	if got := m.Append(nil); !bytes.Equal(got, want) || m.Size() != len(want) {
		t.Fatalf("Append = %x (Size %d), want %x", got, m.Size(), want)
	}
	roundTrip(t, m, new(AuthenticateResponse), m)
}

func TestAuthenticateRoundTrip(t *testing.T) {
	roundTrip(t, &AuthenticateRequest{}, new(AuthenticateRequest), &AuthenticateRequest{Payload: []byte{}})
	scram := &AuthenticateRequest{Mechanism: "SCRAM-SHA-512", Payload: []byte("n,,n=user,r=abc")}
	roundTrip(t, scram, new(AuthenticateRequest), scram)

	roundTrip(t, &AuthenticateResponse{}, new(AuthenticateResponse), &AuthenticateResponse{Payload: []byte{}})
	failed := &AuthenticateResponse{ErrorCode: 58, ErrorMessage: ptr("bad password"), Payload: []byte{}, Principal: ptr("")}
	roundTrip(t, failed, new(AuthenticateResponse), failed)
	if err := failed.Err(); !errors.Is(err, ErrSASLAuthenticationFailed) {
		t.Fatalf("Err() = %v", err)
	}
	if err := (&AuthenticateResponse{Complete: true}).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticateRequestMalformed(t *testing.T) {
	base := (&AuthenticateRequest{Mechanism: "JWT", Payload: []byte("tok")}).Append(nil)
	checkMalformed(t, "AuthenticateRequest", func() Message { return new(AuthenticateRequest) }, []malformedCase{
		{"empty", nil, ErrTruncated, "mechanism", 0},
		{"mechanism not UTF-8", patch(base, 8, 0xff), ErrInvalidUTF8, "mechanism", 0},
		{"payload length hostile", patch(base, 11, le64(1<<62)...), ErrInvalidLength, "payload", 11},
		{"payload length truncated", base[:15], ErrTruncated, "payload", 11},
		{"trailing", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "", len(base)},
	})
}

func TestAuthenticateResponseMalformed(t *testing.T) {
	m := &AuthenticateResponse{ErrorMessage: ptr("e"), Payload: []byte("p"), Complete: true, Principal: ptr("bob"), SessionLifetimeMs: 1}
	base := m.Append(nil)
	// error_code 0..4, tag 4, len 5..13, "e" 13, payload len 14..22, "p" 22,
	// complete 23, principal tag 24, len 25..33, "bob" 33..36, lifetime 36..44.
	checkMalformed(t, "AuthenticateResponse", func() Message { return new(AuthenticateResponse) }, []malformedCase{
		{"empty", nil, ErrTruncated, "error_code", 0},
		{"error message tag 2", patch(base, 4, 2), ErrInvalidOption, "error_message", 4},
		{"error message not UTF-8", patch(base, 13, 0x80), ErrInvalidUTF8, "error_message", 5},
		{"payload length hostile", patch(base, 14, le64(1<<45)...), ErrInvalidLength, "payload", 14},
		{"complete byte 2", patch(base, 23, 2), ErrInvalidBool, "complete", 23},
		{"complete byte 0xff", patch(base, 23, 0xff), ErrInvalidBool, "complete", 23},
		{"complete missing", base[:23], ErrTruncated, "complete", 23},
		{"principal tag 7", patch(base, 24, 7), ErrInvalidOption, "principal", 24},
		{"principal not UTF-8", patch(base, 34, 0xc0, 0x80), ErrInvalidUTF8, "principal", 25},
		{"lifetime truncated", base[:40], ErrTruncated, "session_lifetime_ms", 36},
		{"trailing", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "", len(base)},
	})
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
