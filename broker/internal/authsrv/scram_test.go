package authsrv_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rustmq/rustmq-go/broker/internal/authsrv"
	"github.com/xdg-go/scram"
)

var scramMechs = []struct {
	name string
	hash scram.HashGeneratorFcn
}{
	{"SCRAM-SHA-256", scram.SHA256},
	{"SCRAM-SHA-512", scram.SHA512},
}

type scramResult struct {
	serverFirst string
	principal   string
	err         error // the server's verdict
	clientValid bool  // the client verified the server's signature
}

// scramExchange runs a full exchange between an xdg-go/scram client and
// the server's session, the way the broker steps it.
func scramExchange(t *testing.T, s *authsrv.Server, mech string, h scram.HashGeneratorFcn, user, pass, authz string) scramResult {
	t.Helper()
	r, err := tryScramExchange(s, mech, h, user, pass, authz)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryScramExchange is scramExchange for any goroutine: it returns what
// breaks the exchange's shape as an error instead of failing the test.
func tryScramExchange(s *authsrv.Server, mech string, h scram.HashGeneratorFcn, user, pass, authz string) (scramResult, error) {
	var res scramResult
	client, err := h.NewClient(user, pass, authz)
	if err != nil {
		return res, err
	}
	conv := client.NewConversation()
	sess, err := s.Start(mech)
	if err != nil {
		return res, err
	}
	c1, err := conv.Step("")
	if err != nil {
		return res, err
	}
	s1, done, principal, err := sess.Step([]byte(c1))
	if err != nil || done || principal != "" {
		return res, fmt.Errorf("server-first: done=%v principal=%q err=%v", done, principal, err)
	}
	res.serverFirst = string(s1)
	c2, err := conv.Step(string(s1))
	if err != nil {
		return res, fmt.Errorf("client rejected server-first %q: %v", s1, err)
	}
	s2, done, principal, err := sess.Step([]byte(c2))
	res.principal, res.err = principal, err
	if err != nil {
		if done || principal != "" || len(s2) != 0 {
			return res, fmt.Errorf("failure with done=%v principal=%q resp=%q", done, principal, s2)
		}
		return res, nil
	}
	if !done {
		return res, fmt.Errorf("client-final accepted but exchange not done")
	}
	if _, err := conv.Step(string(s2)); err == nil && conv.Valid() {
		res.clientValid = true
	}
	return res, nil
}

func TestScramAccepts(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "pencil", "a,b=c": "pw", "I\u00adX": "soft"}})
	for _, m := range scramMechs {
		t.Run(m.name, func(t *testing.T) {
			r := scramExchange(t, s, m.name, m.hash, "alice", "pencil", "")
			if r.err != nil || r.principal != "alice" || !r.clientValid {
				t.Fatalf("%+v", r)
			}
			if !strings.Contains(r.serverFirst, ",i=4096") {
				t.Fatalf("server-first %q does not announce 4096 iterations", r.serverFirst)
			}
			// authzid equal to the user is allowed.
			if r := scramExchange(t, s, m.name, m.hash, "alice", "pencil", "alice"); r.err != nil || r.principal != "alice" {
				t.Fatalf("authzid=user: %+v", r)
			}
			// saslname escaping of ',' and '='.
			if r := scramExchange(t, s, m.name, m.hash, "a,b=c", "pw", ""); r.err != nil || r.principal != "a,b=c" {
				t.Fatalf("escaped name: %+v", r)
			}
			// SASLprep maps the soft hyphen to nothing: the client sends "IX",
			// the principal is the name as configured.
			if r := scramExchange(t, s, m.name, m.hash, "I\u00adX", "soft", ""); r.err != nil || r.principal != "I\u00adX" {
				t.Fatalf("SASLprep'd name: %+v", r)
			}
		})
	}
}

func TestScramFailuresDoNotRevealUsers(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "pencil"}})
	for _, m := range scramMechs {
		t.Run(m.name, func(t *testing.T) {
			wrong := scramExchange(t, s, m.name, m.hash, "alice", "crayon", "")
			unknown := scramExchange(t, s, m.name, m.hash, "mallory", "pencil", "")
			if failed(t, wrong.err) != failed(t, unknown.err) {
				t.Fatalf("wrong password %q vs unknown user %q", wrong.err, unknown.err)
			}
			// An unknown user gets a server-first like anyone else: same
			// iteration count, a salt of the same length, and the same salt
			// on every attempt, so probing cannot tell it apart.
			again := scramExchange(t, s, m.name, m.hash, "mallory", "other", "")
			if salt(t, unknown.serverFirst) != salt(t, again.serverFirst) {
				t.Fatal("an unknown user's salt changes between attempts")
			}
			if len(salt(t, unknown.serverFirst)) != len(salt(t, wrong.serverFirst)) {
				t.Fatal("an unknown user's salt has a different length")
			}
			if !strings.HasSuffix(unknown.serverFirst, ",i=4096") {
				t.Fatalf("unknown user's server-first %q", unknown.serverFirst)
			}
			// A known user's salt is stable too (the client caches its keys).
			if salt(t, wrong.serverFirst) != salt(t, scramExchange(t, s, m.name, m.hash, "alice", "pencil", "").serverFirst) {
				t.Fatal("a known user's salt changes between attempts")
			}
		})
	}
}

func salt(t *testing.T, serverFirst string) string {
	t.Helper()
	for _, f := range strings.Split(serverFirst, ",") {
		if v, ok := strings.CutPrefix(f, "s="); ok {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	t.Fatalf("no salt in %q", serverFirst)
	return ""
}

func TestScramRejectsForeignAuthzID(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "pencil", "bob": "pw"}})
	for _, m := range scramMechs {
		r := scramExchange(t, s, m.name, m.hash, "alice", "pencil", "bob")
		failed(t, r.err)
	}
}

// SHA-256 and SHA-512 keys are separate: a client cannot mix them.
func TestScramHashesAreSeparate(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "pencil"}})
	sess, _ := s.Start("SCRAM-SHA-512")
	client, _ := scram.SHA256.NewClient("alice", "pencil", "")
	conv := client.NewConversation()
	c1, _ := conv.Step("")
	s1, _, _, err := sess.Step([]byte(c1))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := conv.Step(string(s1))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = sess.Step([]byte(c2))
	failed(t, err)
}

func TestScramOutOfOrderAndMalformed(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "pencil"}})
	for _, m := range scramMechs {
		t.Run(m.name, func(t *testing.T) {
			client, _ := m.hash.NewClient("alice", "pencil", "")

			// Garbage or a client-final as the first message.
			for _, first := range []string{"", "garbage", "c=biws,r=abc,p=AAAA", "p=tls-unique,,n=alice,r=abc", "n,,n=alice"} {
				sess, _ := s.Start(m.name)
				_, _, _, err := sess.Step([]byte(first))
				failed(t, err)
				// The session is over: a valid client-first no longer helps.
				c1, _ := client.NewConversation().Step("")
				_, _, _, err = sess.Step([]byte(c1))
				failed(t, err)
			}

			// A client-first repeated where client-final belongs.
			sess, _ := s.Start(m.name)
			c1, _ := client.NewConversation().Step("")
			if _, _, _, err := sess.Step([]byte(c1)); err != nil {
				t.Fatal(err)
			}
			_, _, _, err := sess.Step([]byte(c1))
			failed(t, err)

			// Steps after success.
			conv := client.NewConversation()
			sess, _ = s.Start(m.name)
			c1, _ = conv.Step("")
			s1, _, _, _ := sess.Step([]byte(c1))
			c2, _ := conv.Step(string(s1))
			if _, done, _, err := sess.Step([]byte(c2)); err != nil || !done {
				t.Fatalf("done=%v err=%v", done, err)
			}
			_, done, principal, err := sess.Step([]byte(c2))
			if done || principal != "" {
				t.Fatalf("step after done: done=%v principal=%q", done, principal)
			}
			failed(t, err)

			// Oversized payload.
			sess, _ = s.Start(m.name)
			_, _, _, err = sess.Step([]byte("n,,n=alice,r=" + strings.Repeat("x", authsrv.MaxPayload)))
			failed(t, err)
		})
	}
}

func TestScramConcurrentExchanges(t *testing.T) {
	s := newServer(t, authsrv.Config{Users: map[string]string{"alice": "pencil", "bob": "pw"}})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		m := scramMechs[i%2]
		user, pass := "alice", "pencil"
		if i%3 == 0 {
			user, pass = "bob", "pw"
		}
		wg.Go(func() {
			r, err := tryScramExchange(s, m.name, m.hash, user, pass, "")
			switch {
			case err != nil:
				errs <- err
			case r.err != nil || !r.clientValid || r.principal != user:
				errs <- fmt.Errorf("%s as %s: %+v", m.name, user, r)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
