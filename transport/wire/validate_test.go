package wire

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateTopic(t *testing.T) {
	for _, ok := range []string{"orders", "a", strings.Repeat("x", 249), "événements", "with space"} {
		if err := ValidateTopic(ok); err != nil {
			t.Errorf("ValidateTopic(%q) = %v", ok, err)
		}
	}
	for _, tc := range []struct{ name, reason string }{
		{"", "empty"},
		{"bad\xff", "not valid UTF-8"},
		{strings.Repeat("x", 250), "250 bytes, more than 249"},
		{strings.Repeat("é", 200), "400 bytes"},
	} {
		err := ValidateTopic(tc.name)
		var ne *NameError
		if !errors.Is(err, ErrInvalidTopic) || !errors.As(err, &ne) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ValidateTopic(%.20q) = %v, want ErrInvalidTopic (%s)", tc.name, err, tc.reason)
			continue
		}
		if len(ne.Name) > MaxTopicNameBytes+3 || !utf8.ValidString(err.Error()) {
			t.Errorf("error for %.20q quotes %d bytes or is not UTF-8", tc.name, len(ne.Name))
		}
	}
}

func TestValidateHeaderKey(t *testing.T) {
	for _, ok := range []string{"k", HeaderTraceparent, "ключ"} {
		if err := ValidateHeaderKey(ok); err != nil {
			t.Errorf("ValidateHeaderKey(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "\xc0\x80", strings.Repeat("\xff", 5000)} {
		err := ValidateHeaderKey(bad)
		var ne *NameError
		if !errors.Is(err, ErrInvalidHeaderKey) || errors.Is(err, ErrInvalidTopic) || !errors.As(err, &ne) || len(ne.Name) > MaxErrorTextBytes+3 {
			t.Errorf("ValidateHeaderKey(%.10q) = %v", bad, err)
		}
	}
}

func TestBaseOffset(t *testing.T) {
	for _, tc := range []struct {
		base    uint64
		records int
		want    int64
		ok      bool
	}{
		{0, 1, 0, true},
		{41, 10, 41, true},
		{math.MaxInt64, 1, math.MaxInt64, true},
		{math.MaxInt64, 0, math.MaxInt64, true}, // counted as 1
		{math.MaxInt64 - 9, 10, math.MaxInt64 - 9, true},
		{math.MaxInt64 - 9, 11, 0, false},
		{math.MaxInt64, 2, 0, false},
		{math.MaxInt64 + 1, 1, 0, false},
		{math.MaxUint64, 1, 0, false}, // would read as -1, "no offset"
	} {
		got, err := (&ProduceResponse{Offset: tc.base}).BaseOffset(tc.records)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("BaseOffset(%d, %d) = %d, %v", tc.base, tc.records, got, err)
			}
			continue
		}
		var oe *OffsetError
		if !errors.Is(err, ErrOffsetOverflow) || !errors.As(err, &oe) || oe.Base != tc.base || got != 0 {
			t.Errorf("BaseOffset(%d, %d) = %d, %v; want ErrOffsetOverflow", tc.base, tc.records, got, err)
		}
	}
	if _, err := CheckOffset(math.MaxUint64, 3); err == nil || !strings.Contains(err.Error(), "18446744073709551615 for 3 records") {
		t.Fatalf("message: %v", err)
	}
}

func TestTruncateErrorText(t *testing.T) {
	short := "not leader"
	if got := TruncateErrorText(short); got != short {
		t.Fatalf("short text changed: %q", got)
	}
	exact := strings.Repeat("a", MaxErrorTextBytes)
	if got := TruncateErrorText(exact); got != exact {
		t.Fatal("a text of exactly the limit was cut")
	}
	huge := strings.Repeat("x", 10<<20)
	got := TruncateErrorText(huge)
	if len(got) > MaxErrorTextBytes+len(truncatedMarker) || !strings.HasSuffix(got, "[truncated]") {
		t.Fatalf("10 MB text became %d bytes ending %q", len(got), got[len(got)-20:])
	}
	// A cut inside a multi-byte character keeps the text valid.
	for pad := 0; pad < 4; pad++ {
		s := strings.Repeat("a", pad) + strings.Repeat("€", MaxErrorTextBytes)
		got := TruncateErrorText(s)
		body := strings.TrimSuffix(got, truncatedMarker)
		if !utf8.ValidString(got) || len(body) > MaxErrorTextBytes || len(body) < MaxErrorTextBytes-3 || strings.ContainsRune(got, utf8.RuneError) {
			t.Fatalf("pad %d: %d bytes, valid %v", pad, len(body), utf8.ValidString(got))
		}
	}
	if got := TruncateErrorText("bad \xff byte"); got != "bad \uFFFD byte" {
		t.Fatalf("invalid UTF-8: %q", got)
	}
	// Error frames and error_message fields are cut the same way.
	frame := AppendErrorFrame(nil, huge)
	if got := ErrorFrameText(frame[1:]); len(got) > MaxErrorTextBytes+len(truncatedMarker) || !strings.HasPrefix(got, "xxx") {
		t.Fatalf("ErrorFrameText kept %d bytes", len(got))
	}
	err := ResponseErr(6, &huge)
	var re *ResponseError
	if !errors.As(err, &re) || len(re.Message) > MaxErrorTextBytes+len(truncatedMarker) || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ResponseErr kept %d bytes", len(re.Message))
	}
}

func TestCutAtRune(t *testing.T) {
	if got := cutAtRune("abc", 5); got != "abc" {
		t.Fatalf("short: %q", got)
	}
	if got := cutAtRune("a€b", 2); got != "a" {
		t.Fatalf("inside a rune: %q", got)
	}
	if got := cutAtRune("a€b", 4); got != "a€" {
		t.Fatalf("at a boundary: %q", got)
	}
}

// FuzzTruncateErrorText: whatever a broker sends, the text kept is valid
// UTF-8, bounded, and the unaltered start of the input when the input was.
func FuzzTruncateErrorText(f *testing.F) {
	f.Add("not leader for partition")
	f.Add(strings.Repeat("€", 400))
	f.Add(strings.Repeat("a", MaxErrorTextBytes) + "\xff")
	f.Fuzz(func(t *testing.T, s string) {
		got := TruncateErrorText(s)
		if !utf8.ValidString(got) {
			t.Fatalf("not UTF-8: %q", got)
		}
		if len(got) > MaxErrorTextBytes+len(truncatedMarker) {
			t.Fatalf("%d bytes kept", len(got))
		}
		if !utf8.ValidString(s) {
			return
		}
		if len(s) <= MaxErrorTextBytes {
			if got != s {
				t.Fatalf("a short valid text changed: %q -> %q", s, got)
			}
			return
		}
		body, cut := strings.CutSuffix(got, truncatedMarker)
		if !cut || !strings.HasPrefix(s, body) || len(body) < MaxErrorTextBytes-utf8.UTFMax+1 {
			t.Fatalf("%d bytes in, %d kept, marker %v", len(s), len(body), cut)
		}
	})
}
