package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/goleak"

	"github.com/rustmq/rustmq-go/internal/devcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// request is one request as the test server received it. A handler answers
// with a whole frame (type byte included), which the server writes followed
// by FIN; a handler that returns nil has dealt with the stream itself.
type request struct {
	Conn   *quic.Conn
	Stream *quic.Stream
	Type   byte
	Body   []byte
	CN     string // the client certificate's common name, "" without one
}

type handler func(r *request) []byte

// echo answers every request with its own type and body.
func echo(r *request) []byte { return append([]byte{r.Type}, r.Body...) }

// serverOpts configures a testServer.
type serverOpts struct {
	nextProtos []string // nil means {"rustmq"}; use noALPN for none
	noALPN     bool
	clientCAs  *x509.CertPool // non-nil: require and verify client certificates
	handler    handler        // default echo
}

// testServer is a small QUIC server speaking the frame layout of docs/protocol.md
// with scripted answers, on 127.0.0.1. It records the ALPN offers of every
// ClientHello so tests can count handshake attempts.
type testServer struct {
	t       testing.TB
	ca      *devcert.CA
	udp     *net.UDPConn
	tr      *quic.Transport
	ln      *quic.Listener
	cert    atomic.Pointer[tls.Certificate]
	handler atomic.Pointer[handler]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	hellos  [][]string // SupportedProtos of each ClientHello
	streams int        // requests accepted
}

func startServer(t testing.TB, opts serverOpts) *testServer {
	t.Helper()
	ca, err := devcert.NewCA("transport test CA")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ca: ca}
	leaf, err := ca.IssueServer()
	if err != nil {
		t.Fatal(err)
	}
	s.cert.Store(&leaf)
	h := opts.handler
	if h == nil {
		h = echo
	}
	s.handler.Store(&h)

	protos := opts.nextProtos
	if protos == nil && !opts.noALPN {
		protos = []string{ALPN}
	}
	if opts.noALPN {
		protos = nil
	}
	base := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: protos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
	}
	if opts.clientCAs != nil {
		base.ClientAuth = tls.RequireAndVerifyClientCert
		base.ClientCAs = opts.clientCAs
	}
	tlsConf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.hellos = append(s.hellos, append([]string(nil), hello.SupportedProtos...))
			s.mu.Unlock()
			return base, nil
		},
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// An explicit Transport, so that Close can end every goroutine and
	// connection at once (a Listener alone keeps its socket until the last
	// connection has drained).
	s.tr = &quic.Transport{Conn: udp}
	ln, err := s.tr.Listen(tlsConf, &quic.Config{MaxIdleTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.udp, s.ln = udp, ln
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) Addr() string { return s.ln.Addr().String() }

// SetHandler replaces the handler for requests received from now on.
func (s *testServer) SetHandler(h handler) { s.handler.Store(&h) }

// Hellos returns the ALPN offers of the ClientHellos seen so far.
func (s *testServer) Hellos() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.hellos...)
}

// Streams returns how many request streams the server accepted.
func (s *testServer) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

// UseCert makes the server present cert from the next handshake on.
func (s *testServer) UseCert(cert tls.Certificate) { s.cert.Store(&cert) }

// WriteCA writes the server's CA certificate into dir and returns the path.
func (s *testServer) WriteCA(dir string) string {
	p := filepath.Join(dir, "ca.pem")
	if err := s.ca.WriteCA(p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// Close stops the server, closes every connection and waits for every
// goroutine it started.
func (s *testServer) Close() {
	s.cancel()
	_ = s.ln.Close()
	s.wg.Wait()
	_ = s.tr.Close()
	_ = s.udp.Close()
}

func (s *testServer) acceptLoop() {
	defer s.wg.Done()
	for {
		qc, err := s.ln.Accept(s.ctx)
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.serveConn(qc)
	}
}

func (s *testServer) serveConn(qc *quic.Conn) {
	defer s.wg.Done()
	// Close the connection when the server stops.
	stop := context.AfterFunc(s.ctx, func() { _ = qc.CloseWithError(0, "server stopped") })
	defer stop()
	cn := ""
	if pc := qc.ConnectionState().TLS.PeerCertificates; len(pc) > 0 {
		cn = pc[0].Subject.CommonName
	}
	for {
		str, err := qc.AcceptStream(s.ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.streams++
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveStream(qc, str, cn)
	}
}

func (s *testServer) serveStream(qc *quic.Conn, str *quic.Stream, cn string) {
	defer s.wg.Done()
	frame, err := io.ReadAll(str)
	if err != nil || len(frame) == 0 {
		str.CancelWrite(0)
		return
	}
	h := *s.handler.Load()
	resp := h(&request{Conn: qc, Stream: str, Type: frame[0], Body: frame[1:], CN: cn})
	if resp == nil {
		return
	}
	if _, err := str.Write(resp); err != nil {
		return
	}
	_ = str.Close()
}

// writeKeyPair writes a client certificate for cn and its key into dir as
// client.pem and client-key.pem and returns the paths. mtime is set
// explicitly so that rewrites within one clock tick still look changed.
func writeKeyPair(t testing.TB, ca *devcert.CA, dir, cn string, mtime time.Time) (certFile, keyFile string) {
	t.Helper()
	cert, err := ca.IssueClient(cn)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	if err := devcert.WriteKeyPair(cert, certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// testDialer returns a Dialer trusting s's CA through a CA file.
func testDialer(t testing.TB, s *testServer, cfg Config) *Dialer {
	t.Helper()
	if cfg.TLS.CAFile == "" && cfg.TLS.Config == nil && !cfg.TLS.InsecureSkipVerify {
		cfg.TLS.CAFile = s.WriteCA(t.TempDir())
	}
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dial dials s and registers Close as cleanup.
func dial(t testing.TB, d *Dialer, s *testServer) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, s.Addr())
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testCtx is a context bounded so that a broken test fails instead of
// hanging.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitDone fails the test unless ch is closed within a few seconds.
func waitDone(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// errAs is errors.As for tests: it fails the test when err is not a T.
func errAs[T error](t testing.TB, err error) T {
	t.Helper()
	v, ok := errors.AsType[T](err)
	if !ok {
		t.Fatalf("error %v (%T) is not a %T", err, err, v)
	}
	return v
}
