package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestDoEcho(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := dial(t, testDialer(t, s, Config{}), s)
	if c.ALPN() != ALPN || c.Addr() != s.Addr() || c.Principal() != "" {
		t.Fatalf("ALPN %q Addr %q Principal %q", c.ALPN(), c.Addr(), c.Principal())
	}
	for _, body := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("abc"), 10000), bytes.Repeat([]byte{7}, 200<<10)} {
		got, err := c.Do(testCtx(t), wire.TypeFetch, body)
		if err != nil {
			t.Fatalf("Do(%d bytes): %v", len(body), err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("Do(%d bytes) answered %d bytes that differ", len(body), len(got))
		}
	}
}

func TestDoConcurrent(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := dial(t, testDialer(t, s, Config{}), s)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			want := fmt.Appendf(nil, "request %d", i)
			got, err := c.Do(testCtx(t), wire.TypeMetadata, want)
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("request %d answered %q", i, got)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Streams(); n != 64 {
		t.Fatalf("server saw %d streams, want 64", n)
	}
}

func TestDoBrokerErrorFrame(t *testing.T) {
	s := startServer(t, serverOpts{handler: func(r *request) []byte {
		return wire.AppendErrorFrame(nil, "Unknown request type")
	}})
	c := dial(t, testDialer(t, s, Config{}), s)
	_, err := c.Do(testCtx(t), 9, []byte("x"))
	be := errAs[*BrokerError](t, err)
	if be.Message != "Unknown request type" || be.RequestType != 9 || be.Addr != s.Addr() {
		t.Fatalf("BrokerError %+v", be)
	}
	if IsRetriable(err) {
		t.Fatal("a 0xFF frame must not be retriable")
	}
}

func TestDoMalformedResponse(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := dial(t, testDialer(t, s, Config{}), s)
	for name, h := range map[string]handler{
		"empty":      func(*request) []byte { return []byte{} },
		"wrong type": func(r *request) []byte { return []byte{r.Type + 1, 0} },
	} {
		s.SetHandler(h)
		_, err := c.Do(testCtx(t), wire.TypeFetch, nil)
		if !errors.Is(err, ErrMalformedResponse) || IsRetriable(err) {
			t.Fatalf("%s: got %v, want non-retriable ErrMalformedResponse", name, err)
		}
	}
}

func TestDoRequestTooLarge(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := dial(t, testDialer(t, s, Config{MaxRequestBytes: 100}), s)
	_, err := c.Do(testCtx(t), wire.TypeProduce, make([]byte, 101))
	if !errors.Is(err, ErrRequestTooLarge) || IsRetriable(err) {
		t.Fatalf("got %v, want non-retriable ErrRequestTooLarge", err)
	}
	if n := s.Streams(); n != 0 {
		t.Fatalf("a refused request reached the server (%d streams)", n)
	}
	if _, err := c.Do(testCtx(t), wire.TypeProduce, make([]byte, 100)); err != nil {
		t.Fatalf("a body of exactly MaxRequestBytes: %v", err)
	}
}

func TestDoResponseTooLarge(t *testing.T) {
	const limit = 64 << 10
	s := startServer(t, serverOpts{handler: func(r *request) []byte {
		n := limit
		if r.Type == wire.TypeFetch {
			n++ // one byte over
		}
		return append([]byte{r.Type}, make([]byte, n)...)
	}})
	c := dial(t, testDialer(t, s, Config{MaxResponseBytes: limit}), s)
	_, err := c.Do(testCtx(t), wire.TypeFetch, nil)
	if !errors.Is(err, ErrResponseTooLarge) || IsRetriable(err) {
		t.Fatalf("got %v, want non-retriable ErrResponseTooLarge", err)
	}
	got, err := c.Do(testCtx(t), wire.TypeProduce, nil)
	if err != nil || len(got) != limit {
		t.Fatalf("a response of exactly MaxResponseBytes: %d bytes, %v", len(got), err)
	}
}

// blockingHandler answers nothing until the client abandons the stream or
// the connection ends; started is closed when a request arrives, and
// abandoned when the server saw the client give up.
func blockingHandler(started, abandoned chan struct{}) handler {
	var once1, once2 sync.Once
	return func(r *request) []byte {
		once1.Do(func() { close(started) })
		select {
		case <-r.Stream.Context().Done(): // STOP_SENDING from the client
			once2.Do(func() { close(abandoned) })
		case <-r.Conn.Context().Done():
		}
		return nil
	}
}

func TestDoContextCancelled(t *testing.T) {
	started, abandoned := make(chan struct{}), make(chan struct{})
	s := startServer(t, serverOpts{handler: blockingHandler(started, abandoned)})
	c := dial(t, testDialer(t, s, Config{}), s)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := c.Do(ctx, wire.TypeProduce, []byte("x"))
	if !errors.Is(err, context.Canceled) || IsRetriable(err) {
		t.Fatalf("got %v, want non-retriable context.Canceled", err)
	}
	waitDone(t, abandoned, "the server to see the stream cancelled")
	if c.Context().Err() != nil {
		t.Fatal("cancelling one request closed the connection")
	}
	// The connection keeps serving.
	s.SetHandler(echo)
	if _, err := c.Do(testCtx(t), wire.TypeProduce, []byte("y")); err != nil {
		t.Fatal(err)
	}
}

func TestDoDeadline(t *testing.T) {
	started, abandoned := make(chan struct{}), make(chan struct{})
	s := startServer(t, serverOpts{handler: blockingHandler(started, abandoned)})
	c := dial(t, testDialer(t, s, Config{}), s)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, wire.TypeProduce, []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) || !IsRetriable(err) {
		t.Fatalf("got %v, want retriable context.DeadlineExceeded", err)
	}
	waitDone(t, abandoned, "the server to see the stream cancelled")
	// An already ended context fails before opening a stream.
	before := s.Streams()
	if _, err := c.Do(ctx, wire.TypeProduce, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do with an expired context: %v", err)
	}
	if s.Streams() != before {
		t.Fatal("Do with an expired context opened a stream")
	}
}

func TestConnLossDuringRequest(t *testing.T) {
	s := startServer(t, serverOpts{handler: func(r *request) []byte {
		_ = r.Conn.CloseWithError(42, "broker going away")
		return nil
	}})
	c := dial(t, testDialer(t, s, Config{}), s)
	_, err := c.Do(testCtx(t), wire.TypeProduce, []byte("x"))
	ce := errAs[*ConnError](t, err)
	if !errors.Is(err, net.ErrClosed) || !IsRetriable(err) {
		t.Fatalf("got %v: want retriable and net.ErrClosed", err)
	}
	var ae *quic.ApplicationError
	if !errors.As(ce, &ae) || ae.ErrorCode != 42 || !ae.Remote {
		t.Fatalf("ConnError %v does not carry the broker's close code", ce)
	}
	var ne net.Error
	if !errors.As(err, &ne) || ne.Timeout() || !ce.Temporary() {
		t.Fatalf("net.Error view of %v: Timeout/Temporary wrong", err)
	}
	waitDone(t, c.Context().Done(), "Conn.Context to end")
	cause := errAs[*ConnError](t, context.Cause(c.Context()))
	if !errors.As(cause, &ae) || ae.ErrorCode != 42 {
		t.Fatalf("cause %v does not carry the close code", cause)
	}
	// Later requests fail fast with the same cause.
	_, err = c.Do(testCtx(t), wire.TypeProduce, nil)
	if _, ok := errors.AsType[*ConnError](err); !ok || !IsRetriable(err) {
		t.Fatalf("Do after loss: %v", err)
	}
}

func TestStreamResetByBroker(t *testing.T) {
	s := startServer(t, serverOpts{handler: func(r *request) []byte {
		r.Stream.CancelWrite(7)
		return nil
	}})
	c := dial(t, testDialer(t, s, Config{}), s)
	_, err := c.Do(testCtx(t), wire.TypeProduce, []byte("x"))
	se := errAs[*StreamError](t, err)
	var qse *quic.StreamError
	if !errors.As(se, &qse) || qse.ErrorCode != 7 || !IsRetriable(err) {
		t.Fatalf("got %v, want a retriable StreamError with code 7", err)
	}
	if c.Context().Err() != nil {
		t.Fatal("a stream reset ended the connection")
	}
}

func TestClose(t *testing.T) {
	started, abandoned := make(chan struct{}), make(chan struct{})
	s := startServer(t, serverOpts{handler: blockingHandler(started, abandoned)})
	c := dial(t, testDialer(t, s, Config{}), s)
	inflight := make(chan error, 1)
	go func() {
		_, err := c.Do(testCtx(t), wire.TypeProduce, []byte("x"))
		inflight <- err
	}()
	<-started
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	err := <-inflight
	ce := errAs[*ConnError](t, err)
	if ce.Op != "close" || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("in-flight request after Close: %v", err)
	}
	cause := errAs[*ConnError](t, context.Cause(c.Context()))
	if cause.Op != "close" {
		t.Fatalf("cause after Close: %v", cause)
	}
	if _, err := c.Do(testCtx(t), wire.TypeProduce, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
}

func TestDialTimeout(t *testing.T) {
	// A UDP socket that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	d, err := NewDialer(Config{DialTimeout: 200 * time.Millisecond, TLS: TLSConfig{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Dial(context.Background(), pc.LocalAddr().String())
	ce := errAs[*ConnError](t, err)
	if ce.Op != "dial" || !ce.Timeout() || !IsRetriable(err) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial to a silent peer: %v (timeout %v)", err, ce.Timeout())
	}

	// The caller's own cancellation is reported as such, not as a ConnError.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err = d.Dial(ctx, pc.LocalAddr().String())
	if !errors.Is(err, context.Canceled) || IsRetriable(err) {
		t.Fatalf("cancelled dial: %v", err)
	}
	if _, ok := errors.AsType[*ConnError](err); ok {
		t.Fatalf("cancelled dial returned a ConnError: %v", err)
	}
}

// FuzzParseResponse checks the response-frame check on arbitrary bytes: it
// never panics, returns the body only for a frame of the request's type,
// and turns every 0xFF frame into a *BrokerError with valid UTF-8 text.
func FuzzParseResponse(f *testing.F) {
	f.Add(wire.TypeProduce, []byte{wire.TypeProduce, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(wire.TypeFetch, wire.AppendErrorFrame(nil, "boom"))
	f.Add(wire.TypeMetadata, []byte{})
	f.Add(wire.TypeMetadata, []byte{wire.TypeProduce})
	f.Add(byte(0xFF), []byte{0xFF, 0xC3, 0x28})
	f.Fuzz(func(t *testing.T, reqType byte, frame []byte) {
		body, err := parseResponse("b:1", reqType, frame)
		switch {
		case len(frame) == 0:
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("empty frame: %v", err)
			}
		case frame[0] == wire.TypeError:
			be, ok := errors.AsType[*BrokerError](err)
			if !ok || !utf8.ValidString(be.Message) {
				t.Fatalf("error frame: %v", err)
			}
		case frame[0] == reqType:
			if err != nil || !bytes.Equal(body, frame[1:]) {
				t.Fatalf("matching frame: %q, %v", body, err)
			}
		default:
			if !errors.Is(err, ErrMalformedResponse) || IsRetriable(err) {
				t.Fatalf("mismatched type: %v", err)
			}
		}
	})
}
