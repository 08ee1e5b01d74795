package transport

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// refuseRustMQ plays a quinn broker configured without ALPN: it refuses a
// ClientHello offering "rustmq" with cf and lets every other one through.
func refuseRustMQ(cf *closeFrame) func(alpn []string) *closeFrame {
	return func(alpn []string) *closeFrame {
		if offers(alpn, ALPN) {
			return cf
		}
		return nil
	}
}

// TestALPNAutoAgainstEveryQuinn dials, in ALPNAuto, a broker without ALPN
// behind a peer that refuses the "rustmq" offer exactly as each quinn
// generation does, and checks that the dialer retries once without ALPN,
// connects, and remembers the choice for the address.
func TestALPNAutoAgainstEveryQuinn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close *closeFrame
	}{
		{"quinn 0.9: bare APPLICATION_ERROR", oldQuinnALPNClose},
		{"quinn 0.11.5+: CRYPTO_ERROR 0x178", newQuinnALPNClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := startServer(t, serverOpts{noALPN: true})
			peer := startHandshakeCloser(t, backend.Addr(), refuseRustMQ(tc.close))
			d := testDialer(t, backend, Config{})
			c, err := d.Dial(testCtx(t), peer.Addr())
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if c.ALPN() != "" {
				t.Fatalf("negotiated %q", c.ALPN())
			}
			if got, err := c.Do(testCtx(t), wire.TypeMetadata, []byte("hi")); err != nil || string(got) != "hi" {
				t.Fatalf("Do: %q, %v", got, err)
			}
			_ = c.Close()
			c, err = d.Dial(testCtx(t), peer.Addr())
			if err != nil {
				t.Fatalf("second Dial: %v", err)
			}
			_ = c.Close()
			want := []helloAttempt{{alpn: []string{ALPN}, refused: true}, {}, {}}
			if got := peer.Attempts(); !reflect.DeepEqual(got, want) {
				t.Fatalf("attempts %+v, want %+v: one refused offer, one fallback, then the remembered choice", got, want)
			}
		})
	}
}

// TestALPNAutoBothRefusedByOldQuinn: a broker that closes every handshake
// with a bare APPLICATION_ERROR gets two attempts, and the error names
// both, says the cause may lie elsewhere, and is not retried forever.
func TestALPNAutoBothRefusedByOldQuinn(t *testing.T) {
	backend := startServer(t, serverOpts{})
	peer := startHandshakeCloser(t, "", func([]string) *closeFrame { return oldQuinnALPNClose })
	_, err := testDialer(t, backend, Config{}).Dial(testCtx(t), peer.Addr())
	if !errors.Is(err, ErrALPNMismatch) || IsRetriable(err) {
		t.Fatalf("got %v, want non-retriable ErrALPNMismatch", err)
	}
	errAs[*ConnError](t, err)
	for _, want := range []string{`"rustmq" offer`, "no-ALPN offer", "client certificate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := len(peer.Attempts()); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}

// TestALPNAutoNotFooledByOtherCloses: handshake closes that are not an
// ALPN refusal's (a code other than 0x0c, or 0x0c with a reason, which
// quinn never sends on a refusal) get no second attempt.
func TestALPNAutoNotFooledByOtherCloses(t *testing.T) {
	backend := startServer(t, serverOpts{})
	for _, cf := range []*closeFrame{
		{code: uint64(quic.ConnectionRefused)},
		{code: 0x0c, reason: "server busy"},
		{code: 0x0c, frameType: 0x06},
		{code: 0x100 + 42}, // CRYPTO_ERROR bad_certificate
	} {
		peer := startHandshakeCloser(t, "", func([]string) *closeFrame { return cf })
		_, err := testDialer(t, backend, Config{}).Dial(testCtx(t), peer.Addr())
		te, ok := errors.AsType[*quic.TransportError](err)
		if !ok || uint64(te.ErrorCode) != cf.code || errors.Is(err, ErrALPNMismatch) {
			t.Fatalf("close %+v: got %v", cf, err)
		}
		if n := len(peer.Attempts()); n != 1 {
			t.Fatalf("close %+v: %d attempts, want 1", cf, n)
		}
	}
}

// TestALPNModesExplainBareClose: outside auto mode a bare close is not a
// certain ALPN mismatch (it stays retriable), but the error says what it
// may mean.
func TestALPNModesExplainBareClose(t *testing.T) {
	backend := startServer(t, serverOpts{})
	for _, mode := range []ALPNMode{ALPNRustMQ, ALPNNone} {
		peer := startHandshakeCloser(t, "", func([]string) *closeFrame { return oldQuinnALPNClose })
		_, err := testDialer(t, backend, Config{ALPN: mode}).Dial(testCtx(t), peer.Addr())
		if errors.Is(err, ErrALPNMismatch) || !IsRetriable(err) || !strings.Contains(err.Error(), "quinn before 0.11.5") {
			t.Fatalf("mode %v: %v", mode, err)
		}
		if n := len(peer.Attempts()); n != 1 {
			t.Fatalf("mode %v: %d attempts", mode, n)
		}
	}
}

// TestALPNAutoNotFooledByApplicationClose: a broker that completes the
// handshake and then closes the connection with application code 0x0c
// (here while the client authenticates, inside Dial) is a connection
// failure, not an ALPN refusal: no second offer, nothing remembered.
func TestALPNAutoNotFooledByApplicationClose(t *testing.T) {
	s := startServer(t, serverOpts{handler: func(r *request) []byte {
		_ = r.Conn.CloseWithError(0x0c, "")
		return nil
	}})
	d := testDialer(t, s, Config{Auth: Plain("alice", "pw")})
	_, err := d.Dial(testCtx(t), s.Addr())
	if _, ok := errors.AsType[*quic.ApplicationError](err); !ok || errors.Is(err, ErrALPNMismatch) {
		t.Fatalf("got %v, want the broker's application close", err)
	}
	_, _ = d.Dial(testCtx(t), s.Addr())
	if h := s.Hellos(); len(h) != 2 || !reflect.DeepEqual(h[0], []string{ALPN}) || !reflect.DeepEqual(h[1], []string{ALPN}) {
		t.Fatalf("ClientHello offers %q, want [[rustmq] [rustmq]]", h)
	}
}
