package wire

import (
	"bytes"
	"testing"
)

// Capabilities is this project's extension, so like Authenticate it has no
// golden vectors from Rust: the expected bytes are spelled out from the
// definition, field by field.
func TestCapabilitiesRequestEncoding(t *testing.T) {
	m := &CapabilitiesRequest{Version: CapabilitiesVersion}
	want := []byte{1, 0, 0, 0}
	if got := m.Append(nil); !bytes.Equal(got, want) || m.Size() != len(want) {
		t.Fatalf("Append = %x (Size %d), want %x", got, m.Size(), want)
	}
	roundTrip(t, m, new(CapabilitiesRequest), m)
	frame := m.Append(AppendFrame(nil, TypeCapabilities))
	if !bytes.Equal(frame, []byte{33, 1, 0, 0, 0}) {
		t.Fatalf("frame = %x", frame)
	}
}

func TestCapabilitiesResponseEncoding(t *testing.T) {
	m := &CapabilitiesResponse{Version: 1, Features: []string{FeatureIdempotence, FeatureWholeRequests}}
	want := cat(
		[]byte{1, 0, 0, 0}, // version
		le64(2),            // features count
		le64(11), []byte("idempotence"),
		le64(14), []byte("whole-requests"),
	)
	if got := m.Append(nil); !bytes.Equal(got, want) || m.Size() != len(want) {
		t.Fatalf("Append = %x (Size %d), want %x", got, m.Size(), want)
	}
	roundTrip(t, m, new(CapabilitiesResponse), m)
	// An empty feature list encodes as a zero count and decodes as nil.
	roundTrip(t, &CapabilitiesResponse{Version: 7, Features: []string{}}, new(CapabilitiesResponse), &CapabilitiesResponse{Version: 7})
	if !m.Has(FeatureWholeRequests) || m.Has(FeatureAuthenticate) || m.Has("") {
		t.Fatalf("Has is wrong for %v", m.Features)
	}
}

func TestCapabilitiesRequestMalformed(t *testing.T) {
	base := (&CapabilitiesRequest{Version: 1}).Append(nil)
	checkMalformed(t, "CapabilitiesRequest", func() Message { return new(CapabilitiesRequest) }, []malformedCase{
		{"empty", nil, ErrTruncated, "version", 0},
		{"short version", base[:3], ErrTruncated, "version", 0},
		{"trailing", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "", 4},
	})
}

func TestCapabilitiesResponseMalformed(t *testing.T) {
	base := (&CapabilitiesResponse{Version: 1, Features: []string{"ab", "c"}}).Append(nil)
	// version 0..4, count 4..12, len 12..20, "ab" 20..22, len 22..30, "c" 30.
	checkMalformed(t, "CapabilitiesResponse", func() Message { return new(CapabilitiesResponse) }, []malformedCase{
		{"empty", nil, ErrTruncated, "version", 0},
		{"count missing", base[:4], ErrTruncated, "features", 4},
		{"count hostile", patch(base, 4, le64(1<<60)...), ErrInvalidLength, "features", 4},
		{"feature not UTF-8", patch(base, 20, 0xff), ErrInvalidUTF8, "features[0]", 12},
		{"feature length truncated", base[:28], ErrTruncated, "features[1]", 22},
		{"feature cut short", base[:30], ErrInvalidLength, "features[1]", 22},
		{"trailing", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "", len(base)},
	})
	// A decode failure leaves the receiver as it was.
	m := CapabilitiesResponse{Version: 9}
	if err := m.Unmarshal(base[:30]); err == nil || m.Version != 9 || m.Features != nil {
		t.Fatalf("after a failed Unmarshal: %+v, %v", m, err)
	}
	r := CapabilitiesRequest{Version: 9}
	if err := r.Unmarshal(nil); err == nil || r.Version != 9 {
		t.Fatalf("after a failed Unmarshal: %+v, %v", r, err)
	}
}
