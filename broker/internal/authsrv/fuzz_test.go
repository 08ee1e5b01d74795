package authsrv

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// FuzzParsePlain feeds arbitrary bytes to the PLAIN message parser: it must
// not panic, and whatever it accepts must re-encode to exactly the input.
func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00pw", "alice\x00alice\x00pw", "", "\x00", "\x00\x00", "a\x00b\x00c\x00d", "\xff\x00a\x00b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		az, user, pass, err := parsePlain(b)
		if err != nil {
			if az != "" || user != "" || pass != "" {
				t.Fatalf("error %v with fields %q %q %q", err, az, user, pass)
			}
			return
		}
		if user == "" || pass == "" || (az != "" && az != user) {
			t.Fatalf("accepted %q as %q %q %q", b, az, user, pass)
		}
		re := []byte(az + "\x00" + user + "\x00" + pass)
		if !bytes.Equal(re, b) {
			t.Fatalf("accepted %q but fields re-encode to %q", b, re)
		}
	})
}

// fuzzServer is built once: deriving SCRAM keys costs milliseconds.
var fuzzServer = sync.OnceValues(func() (*Server, error) {
	return New(Config{
		Users:  map[string]string{"alice": "pw"},
		JWTKey: []byte("0123456789abcdef0123456789abcdef"),
	})
})

// FuzzSessionStep feeds arbitrary payloads to two steps, then a third, of a
// session of each mechanism: nothing may panic, a failure must be a
// SASL-authentication-failed *Error that is neither done nor names anyone,
// success must name a principal, and no step after the session ends may
// succeed.
func FuzzSessionStep(f *testing.F) {
	f.Add(uint8(0), []byte("\x00alice\x00pw"), []byte(nil))
	f.Add(uint8(0), []byte("\x00alice\x00wrong"), []byte("\x00alice\x00pw"))
	f.Add(uint8(1), []byte("n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL"), []byte("c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=AAAA"))
	f.Add(uint8(2), []byte("n,,n=mallory,r=abc"), []byte("c=biws,r=abc,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
	f.Add(uint8(2), []byte("y,a=alice,n=alice,r=abc"), []byte(""))
	f.Add(uint8(3), []byte("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"), []byte(nil))
	f.Add(uint8(3), []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdmMifQ."), []byte(nil))
	mechs := []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512, MechanismJWT}
	f.Fuzz(func(t *testing.T, mech uint8, first, second []byte) {
		srv, err := fuzzServer()
		if err != nil {
			t.Fatal(err)
		}
		name := mechs[int(mech)%len(mechs)]
		sess, err := srv.Start(name)
		if err != nil {
			t.Fatal(err)
		}
		ended := false
		for i, p := range [][]byte{first, second, first} {
			_, done, principal, err := sess.Step(p)
			if err != nil {
				var ae *Error
				if !errors.Is(err, wire.ErrSASLAuthenticationFailed) || !errors.As(err, &ae) || done || principal != "" {
					t.Fatalf("%s step %d: err=%v done=%v principal=%q", name, i, err, done, principal)
				}
				ended = true
				continue
			}
			if ended {
				t.Fatalf("%s step %d succeeded after the session ended", name, i)
			}
			if done {
				if principal == "" {
					t.Fatalf("%s step %d: done without a principal", name, i)
				}
				if name != MechanismJWT && principal != "alice" {
					t.Fatalf("%s step %d: principal %q", name, i, principal)
				}
				ended = true
			}
		}
		if !ended {
			t.Fatalf("%s: three steps and the session neither failed nor finished", name)
		}
	})
}
