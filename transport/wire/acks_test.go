package wire

import (
	"math"
	"testing"
)

func acksGolden() []goldenCase {
	newAcks := func() Message { return new(Acks) }
	return []goldenCase{
		{"acks_none", 0, &Acks{Level: AckNone}, newAcks},
		{"acks_leader", 0, &Acks{Level: AckLeader}, newAcks},
		{"acks_majority", 0, &Acks{Level: AckMajority}, newAcks},
		{"acks_all", 0, &Acks{Level: AckAll}, newAcks},
		{"acks_custom_3", 0, &Acks{Level: AckCustom, Custom: 3}, newAcks},
	}
}

func TestAcksGolden(t *testing.T) {
	for _, c := range acksGolden() {
		t.Run(c.name, func(t *testing.T) { checkGolden(t, c) })
	}
}

func TestAcksRoundTrip(t *testing.T) {
	for _, a := range []Acks{{Level: AckCustom}, {Level: AckCustom, Custom: math.MaxUint64}} {
		roundTrip(t, &a, new(Acks), &a)
	}
	roundTrip(t, &Acks{Level: AckAll, Custom: 9}, new(Acks), &Acks{Level: AckAll})
}

func TestAcksMalformed(t *testing.T) {
	checkMalformed(t, "AcknowledgmentLevel", func() Message { return new(Acks) }, []malformedCase{
		{"empty", nil, ErrTruncated, "", 0},
		{"three bytes", []byte{3, 0, 0}, ErrTruncated, "", 0},
		{"variant 5", []byte{5, 0, 0, 0}, ErrInvalidEnum, "", 0},
		{"variant 256", []byte{0, 1, 0, 0}, ErrInvalidEnum, "", 0},
		{"custom without value", []byte{4, 0, 0, 0}, ErrTruncated, "", 4},
		{"custom value short", []byte{4, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7}, ErrTruncated, "", 4},
		{"trailing", []byte{1, 0, 0, 0, 0}, ErrTrailingBytes, "", 4},
	})
}

// An invalid level is written as given, and no decoder accepts it back.
func TestAcksInvalidLevelIsNotDecodable(t *testing.T) {
	a := Acks{Level: 9}
	if a.Level.Valid() {
		t.Fatal("level 9 reported valid")
	}
	b := a.Append(nil)
	if len(b) != a.Size() || len(b) != 4 {
		t.Fatalf("Append wrote %x, Size %d", b, a.Size())
	}
	if err := new(Acks).Unmarshal(b); err == nil {
		t.Fatal("level 9 decoded")
	}
}

func TestAckLevelString(t *testing.T) {
	for l, want := range map[AckLevel]string{
		AckNone: "None", AckLeader: "Leader", AckMajority: "Majority", AckAll: "All", AckCustom: "Custom", 12: "AckLevel(12)",
	} {
		if got := l.String(); got != want {
			t.Errorf("AckLevel(%d).String() = %q, want %q", uint32(l), got, want)
		}
		if l.Valid() != (l <= AckCustom) {
			t.Errorf("AckLevel(%d).Valid() = %v", uint32(l), l.Valid())
		}
	}
}
