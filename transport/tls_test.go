package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/internal/devcert"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// cnHandler answers every request with the client certificate's common name.
func cnHandler(r *request) []byte { return append([]byte{r.Type}, r.CN...) }

func askCN(t *testing.T, d *Dialer, s *testServer) string {
	t.Helper()
	c := dial(t, d, s)
	defer c.Close()
	got, err := c.Do(testCtx(t), wire.TypeMetadata, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func TestMutualTLSClientCertRotation(t *testing.T) {
	clientCA, err := devcert.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{clientCAs: clientCA.Pool(), handler: cnHandler})
	dir := t.TempDir()
	t0 := time.Now().Add(-time.Hour)
	certFile, keyFile := writeKeyPair(t, clientCA, dir, "alice", t0)
	caFile := s.WriteCA(dir)

	eager := testDialer(t, s, Config{TLS: TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ReloadInterval: time.Nanosecond}})
	lazy := testDialer(t, s, Config{TLS: TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ReloadInterval: time.Hour}})
	if cn := askCN(t, eager, s); cn != "alice" {
		t.Fatalf("server saw CN %q, want alice", cn)
	}

	writeKeyPair(t, clientCA, dir, "bob", t0.Add(time.Second))
	if cn := askCN(t, eager, s); cn != "bob" {
		t.Fatalf("after rotation the server saw CN %q, want bob", cn)
	}
	if cn := askCN(t, lazy, s); cn != "alice" {
		t.Fatalf("a dialer with a 1h ReloadInterval re-read the files early (CN %q)", cn)
	}

	// Half a rotation (new certificate, old key) keeps the previous pair.
	cert, err := clientCA.IssueClient("carol")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := devcert.EncodePEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(certFile, t0.Add(2*time.Second), t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if cn := askCN(t, eager, s); cn != "bob" {
		t.Fatalf("with a mismatched pair on disk the server saw CN %q, want the previous bob", cn)
	}
}

func TestMutualTLSWithoutClientCert(t *testing.T) {
	clientCA, err := devcert.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{clientCAs: clientCA.Pool()})
	d := testDialer(t, s, Config{})
	// In TLS 1.3 the client may finish its handshake before the broker
	// checks the certificate, so the refusal shows up either in Dial or on
	// the first request. Either way it is a TLS failure, not retriable.
	c, err := d.Dial(testCtx(t), s.Addr())
	if err == nil {
		defer c.Close()
		_, err = c.Do(testCtx(t), wire.TypeMetadata, nil)
	}
	if err == nil {
		t.Fatal("a broker requiring client certificates served a client without one")
	}
	if IsRetriable(err) {
		t.Fatalf("missing client certificate classified retriable: %v", err)
	}
}

func TestCAFileRotation(t *testing.T) {
	s := startServer(t, serverOpts{})
	dir := t.TempDir()
	caFile := s.WriteCA(dir)
	d := testDialer(t, s, Config{TLS: TLSConfig{CAFile: caFile, ReloadInterval: time.Nanosecond}})
	dial(t, d, s).Close()

	// The broker moves to a certificate from a new CA: not trusted yet.
	ca2, err := devcert.NewCA("second CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca2.IssueServer()
	if err != nil {
		t.Fatal(err)
	}
	s.UseCert(leaf)
	_, err = d.Dial(testCtx(t), s.Addr())
	if err == nil {
		t.Fatal("dial succeeded against a certificate from an untrusted CA")
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); !ok || IsRetriable(err) {
		t.Fatalf("untrusted CA: got %v, want a non-retriable certificate verification error", err)
	}

	// The CA file is rotated on disk: new connections trust the new CA.
	if err := ca2.WriteCA(caFile); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(caFile, future, future); err != nil {
		t.Fatal(err)
	}
	dial(t, d, s).Close()
}

func TestTLSFromBaseConfigAndServerName(t *testing.T) {
	s := startServer(t, serverOpts{})
	d := testDialer(t, s, Config{TLS: TLSConfig{Config: &tls.Config{RootCAs: s.ca.Pool()}, ServerName: "localhost"}})
	dial(t, d, s).Close()

	// A name the certificate does not cover fails verification.
	d = testDialer(t, s, Config{TLS: TLSConfig{Config: &tls.Config{RootCAs: s.ca.Pool()}, ServerName: "broker.example"}})
	if _, err := d.Dial(testCtx(t), s.Addr()); err == nil || IsRetriable(err) {
		t.Fatalf("wrong server name: %v", err)
	}
}

func TestInsecureSkipVerifyOnlyWhenAsked(t *testing.T) {
	s := startServer(t, serverOpts{})
	// The system roots do not trust the test CA.
	d, err := NewDialer(Config{TLS: TLSConfig{Config: &tls.Config{}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dial(testCtx(t), s.Addr()); err == nil {
		t.Fatal("an untrusted broker was accepted without InsecureSkipVerify")
	}
	d = testDialer(t, s, Config{TLS: TLSConfig{InsecureSkipVerify: true}})
	dial(t, d, s).Close()
}

func TestTLSFileErrors(t *testing.T) {
	dir := t.TempDir()
	ca, err := devcert.NewCA("files CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeKeyPair(t, ca, dir, "client", time.Now())
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(dir, "other-key.pem")
	other, err := ca.IssueClient("other")
	if err != nil {
		t.Fatal(err)
	}
	if err := devcert.WriteKeyPair(other, filepath.Join(dir, "other.pem"), otherKey); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name  string
		tls   TLSConfig
		field string
		is    error
	}{
		{"missing CA", TLSConfig{CAFile: missing}, "TLS.CAFile", fs.ErrNotExist},
		{"CA without PEM", TLSConfig{CAFile: garbage}, "TLS.CAFile", ErrNoCertificates},
		{"missing cert", TLSConfig{CertFile: missing, KeyFile: keyFile}, "TLS.CertFile", fs.ErrNotExist},
		{"missing key", TLSConfig{CertFile: certFile, KeyFile: missing}, "TLS.KeyFile", fs.ErrNotExist},
		{"cert without PEM", TLSConfig{CertFile: garbage, KeyFile: keyFile}, "TLS.CertFile", ErrNoCertificates},
		{"key of another cert", TLSConfig{CertFile: certFile, KeyFile: otherKey}, "TLS.KeyFile", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDialer(Config{TLS: tc.tls})
			fe := errAs[*TLSFileError](t, err)
			if fe.Field != tc.field || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("got %v (field %s), want field %s matching %v", err, fe.Field, tc.field, tc.is)
			}
			if IsRetriable(err) {
				t.Fatal("file errors must not be retriable")
			}
		})
	}
}

func TestALPNAutoFallsBackAndRemembers(t *testing.T) {
	s := startServer(t, serverOpts{noALPN: true})
	d := testDialer(t, s, Config{})
	c := dial(t, d, s)
	if c.ALPN() != "" {
		t.Fatalf("negotiated %q with a broker without ALPN", c.ALPN())
	}
	if _, err := c.Do(testCtx(t), wire.TypeMetadata, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	dial(t, d, s).Close()
	hellos := s.Hellos()
	if len(hellos) != 3 || len(hellos[0]) != 1 || hellos[0][0] != ALPN || len(hellos[1]) != 0 || len(hellos[2]) != 0 {
		t.Fatalf("ClientHello offers %q, want [[rustmq] [] []]: one fallback, then the remembered choice", hellos)
	}
}

func TestALPNAutoWithRustMQBroker(t *testing.T) {
	s := startServer(t, serverOpts{})
	d := testDialer(t, s, Config{})
	c := dial(t, d, s)
	if c.ALPN() != ALPN || len(s.Hellos()) != 1 {
		t.Fatalf("ALPN %q after %d handshakes", c.ALPN(), len(s.Hellos()))
	}
}

func TestALPNAutoFlipsBackWhenBrokerStartsRequiringIt(t *testing.T) {
	// The dialer remembers "no ALPN" for an address where a broker that
	// requires ALPN now listens (say, upgraded in place).
	s := startServer(t, serverOpts{})
	d := testDialer(t, s, Config{})
	d.mu.Lock()
	d.noALPN[s.Addr()] = true
	d.mu.Unlock()
	c := dial(t, d, s)
	if c.ALPN() != ALPN {
		t.Fatalf("negotiated %q", c.ALPN())
	}
	d.mu.Lock()
	stale := d.noALPN[s.Addr()]
	d.mu.Unlock()
	if stale {
		t.Fatal("the dialer still remembers no ALPN for a broker that requires it")
	}
	if h := s.Hellos(); len(h) != 2 || len(h[0]) != 0 || len(h[1]) != 1 {
		t.Fatalf("ClientHello offers %q, want [[] [rustmq]]", h)
	}
}

func TestALPNRustMQModeAgainstBrokerWithoutALPN(t *testing.T) {
	s := startServer(t, serverOpts{noALPN: true})
	d := testDialer(t, s, Config{ALPN: ALPNRustMQ})
	_, err := d.Dial(testCtx(t), s.Addr())
	if !errors.Is(err, ErrALPNMismatch) || IsRetriable(err) {
		t.Fatalf("got %v, want non-retriable ErrALPNMismatch", err)
	}
	errAs[*ConnError](t, err)
	if len(s.Hellos()) != 1 {
		t.Fatalf("mode rustmq retried (%d handshakes)", len(s.Hellos()))
	}
}

func TestALPNNoneMode(t *testing.T) {
	s := startServer(t, serverOpts{noALPN: true})
	c := dial(t, testDialer(t, s, Config{ALPN: ALPNNone}), s)
	if c.ALPN() != "" || len(s.Hellos()[0]) != 0 {
		t.Fatalf("mode none offered %q, negotiated %q", s.Hellos()[0], c.ALPN())
	}
	// Against a broker that requires ALPN, mode none fails clearly.
	s2 := startServer(t, serverOpts{})
	_, err := testDialer(t, s2, Config{ALPN: ALPNNone}).Dial(testCtx(t), s2.Addr())
	if !errors.Is(err, ErrALPNMismatch) {
		t.Fatalf("got %v, want ErrALPNMismatch", err)
	}
}

func TestALPNAutoBothOffersRefused(t *testing.T) {
	// A broker that only speaks another protocol refuses both offers.
	s := startServer(t, serverOpts{nextProtos: []string{"h3"}})
	_, err := testDialer(t, s, Config{}).Dial(testCtx(t), s.Addr())
	if !errors.Is(err, ErrALPNMismatch) || len(s.Hellos()) != 2 {
		t.Fatalf("got %v after %d handshakes, want ErrALPNMismatch after 2", err, len(s.Hellos()))
	}
}

func TestDialUnreachableCancelledEarly(t *testing.T) {
	d, err := NewDialer(Config{TLS: TLSConfig{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Dial(ctx, "127.0.0.1:1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("dial with a cancelled context: %v", err)
	}
}
