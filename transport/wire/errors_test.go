package wire

import (
	"errors"
	"fmt"
	"testing"
)

// The table of docs/protocol.md, line by line: code and retriable flag.
func TestErrorTableMatchesWireMD(t *testing.T) {
	want := map[uint32]bool{1: true, 2: false, 3: true, 6: true, 7: true, 10: false, 19: true, 29: false, 33: false, 45: false, 58: false, 87: false}
	if len(codeTable) != len(want) {
		t.Fatalf("table has %d codes, docs/protocol.md %d", len(codeTable), len(want))
	}
	for code, retriable := range want {
		e := ErrorForCode(code)
		if e == nil || e.Code != code || e.Retriable != retriable || e.Name == "" || e.Description == "" {
			t.Errorf("ErrorForCode(%d) = %#v, want retriable=%v", code, e, retriable)
		}
		if e != codeTable[code] {
			t.Errorf("ErrorForCode(%d) is not the table's value", code)
		}
	}
}

func TestErrorForCode(t *testing.T) {
	if ErrorForCode(0) != nil {
		t.Fatal("code 0 is not an error")
	}
	if ErrorForCode(6) != ErrNotLeader {
		t.Fatal("code 6 is ErrNotLeader")
	}
	u := ErrorForCode(4242)
	if u.Code != 4242 || u.Name != "UNKNOWN_CODE_4242" || u.Retriable {
		t.Fatalf("unknown code: %#v", u)
	}
	if errors.Is(u, ErrUnknownServerError) {
		t.Fatal("an unknown code must not match code 1")
	}
}

func TestResponseErr(t *testing.T) {
	if ResponseErr(0, ptr("ignored")) != nil {
		t.Fatal("code 0 must give nil")
	}
	err := ResponseErr(19, nil)
	if got := err.Error(); got != "rustmq: broker answered NOT_ENOUGH_REPLICAS" {
		t.Fatalf("Error() = %q", got)
	}
	err = fmt.Errorf("produce: %w", ResponseErr(29, ptr("alice may not write orders")))
	var re *ResponseError
	if !errors.Is(err, ErrTopicAuthorizationFailed) || !errors.As(err, &re) || re.Message != "alice may not write orders" {
		t.Fatalf("err = %v", err)
	}
	if got := re.Error(); got != "rustmq: broker answered TOPIC_AUTHORIZATION_FAILED: alice may not write orders" {
		t.Fatalf("Error() = %q", got)
	}
	if got := ErrCorruptMessage.Error(); got != "CORRUPT_MESSAGE: corrupt message" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestIsRetriable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("plain"), false},
		{ResponseErr(1, nil), true},
		{ResponseErr(3, nil), true},
		{fmt.Errorf("wrapped: %w", ResponseErr(7, nil)), true},
		{ResponseErr(10, nil), false},
		{ResponseErr(45, nil), false},
		{ResponseErr(999, nil), false},
		{&DecodeError{Type: "T", Err: ErrTruncated}, false},
	} {
		if got := IsRetriable(c.err); got != c.want {
			t.Errorf("IsRetriable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
