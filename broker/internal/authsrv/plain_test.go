package authsrv_test

import (
	"strings"
	"testing"

	"github.com/rustmq/rustmq-go/broker/internal/authsrv"
)

func plainStep(t *testing.T, s *authsrv.Server, payload string) (bool, string, error) {
	t.Helper()
	sess, err := s.Start("PLAIN")
	if err != nil {
		t.Fatal(err)
	}
	resp, done, principal, err := sess.Step([]byte(payload))
	if len(resp) != 0 {
		t.Fatalf("PLAIN answered %q; it has no server data", resp)
	}
	if err != nil && (done || principal != "") {
		t.Fatalf("failure with done=%v principal=%q", done, principal)
	}
	return done, principal, err
}

func TestPlainAccepts(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "s3cret", "bob": "hunter2"}})
	for _, payload := range []string{"\x00alice\x00s3cret", "alice\x00alice\x00s3cret"} {
		done, principal, err := plainStep(t, s, payload)
		if err != nil || !done || principal != "alice" {
			t.Fatalf("%q: done=%v principal=%q err=%v", payload, done, principal, err)
		}
	}
	if _, principal, err := plainStep(t, s, "\x00bob\x00hunter2"); err != nil || principal != "bob" {
		t.Fatalf("bob: %q %v", principal, err)
	}
}

// An unknown user and a wrong password must read the same to the client.
func TestPlainFailuresDoNotRevealUsers(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "s3cret"}})
	_, _, err := plainStep(t, s, "\x00alice\x00wrong")
	wrongPassword := failed(t, err)
	_, _, err = plainStep(t, s, "\x00mallory\x00s3cret")
	unknownUser := failed(t, err)
	if wrongPassword != unknownUser {
		t.Fatalf("wrong password %q differs from unknown user %q", wrongPassword, unknownUser)
	}
	if strings.Contains(unknownUser, "mallory") || strings.Contains(wrongPassword, "alice") {
		t.Fatalf("message names the user: %q / %q", wrongPassword, unknownUser)
	}
	// Same password, different case: no folding.
	_, _, err = plainStep(t, s, "\x00alice\x00S3CRET")
	failed(t, err)
	_, _, err = plainStep(t, s, "\x00Alice\x00s3cret")
	failed(t, err)
}

func TestPlainMalformed(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "s3cret"}})
	for _, tc := range []struct{ name, payload string }{
		{"empty", ""},
		{"no NUL", "alices3cret"},
		{"one NUL", "alice\x00s3cret"},
		{"three NULs", "\x00alice\x00s3cret\x00"},
		{"NUL inside password", "\x00alice\x00s3\x00cret"},
		{"empty user", "\x00\x00s3cret"},
		{"empty password", "\x00alice\x00"},
		{"only NULs", "\x00\x00"},
		{"invalid UTF-8 user", "\x00al\xffice\x00s3cret"},
		{"invalid UTF-8 password", "\x00alice\x00s3cr\xc3"},
		{"invalid UTF-8 authzid", "\xff\x00alice\x00s3cret"},
		{"foreign authzid", "bob\x00alice\x00s3cret"},
		{"too large", "\x00alice\x00" + strings.Repeat("x", authsrv.MaxPayload)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := plainStep(t, s, tc.payload)
			failed(t, err)
		})
	}
}

func TestPlainStepAfterDone(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "s3cret"}})
	for _, first := range []string{"\x00alice\x00s3cret", "\x00alice\x00nope"} {
		sess, _ := s.Start("PLAIN")
		_, _, _, _ = sess.Step([]byte(first))
		_, done, principal, err := sess.Step([]byte("\x00alice\x00s3cret"))
		if done || principal != "" {
			t.Fatalf("second step after %q: done=%v principal=%q", first, done, principal)
		}
		failed(t, err)
	}
}
