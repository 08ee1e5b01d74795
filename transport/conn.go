package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// QUIC codes this package sends. Brokers only log them.
const (
	closeCodeNormal     quic.ApplicationErrorCode = 0 // Close
	closeCodeAuthFailed quic.ApplicationErrorCode = 1 // (re-)authentication failed
	streamCodeCancelled quic.StreamErrorCode      = 0 // caller's ctx ended
	streamCodeTooLarge  quic.StreamErrorCode      = 1 // response over MaxResponseBytes
)

// Conn is one QUIC connection to a broker. It is safe for concurrent use;
// each Do runs on its own bidirectional stream.
type Conn struct {
	addr     string
	qc       *quic.Conn
	alpn     string
	maxReq   int64
	maxResp  int64
	auth     Authenticator
	authTime time.Duration // bound on one re-authentication
	logger   *slog.Logger

	ctx       context.Context
	cancel    context.CancelCauseFunc
	closeOnce sync.Once
	wg        sync.WaitGroup // the re-authentication goroutine
	principal atomic.Pointer[string]
}

func newConn(d *Dialer, addr string, qc *quic.Conn) *Conn {
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &Conn{
		addr:     addr,
		qc:       qc,
		alpn:     qc.ConnectionState().TLS.NegotiatedProtocol,
		maxReq:   d.cfg.MaxRequestBytes,
		maxResp:  d.cfg.MaxResponseBytes,
		auth:     d.cfg.Auth,
		authTime: d.cfg.DialTimeout,
		logger:   d.logger.With("addr", addr),
		ctx:      ctx,
		cancel:   cancel,
	}
	// When quic-go ends the connection (idle timeout, the broker closing
	// it, a stateless reset ...), record why as our own cause. A cause set
	// earlier by Close or a failed re-authentication wins.
	context.AfterFunc(qc.Context(), func() {
		cancel(&ConnError{Addr: addr, Op: "conn", Err: context.Cause(qc.Context())})
	})
	return c
}

// Addr returns the address the connection was dialled with.
func (c *Conn) Addr() string { return c.addr }

// ALPN returns the negotiated application protocol: "rustmq", or "" when the
// connection runs without ALPN.
func (c *Conn) ALPN() string { return c.alpn }

// Principal returns the principal the broker bound to this connection in the
// last Authenticate handshake, or "" without one (with mTLS alone the broker
// derives the principal from the client certificate and does not say so).
func (c *Conn) Principal() string {
	if p := c.principal.Load(); p != nil {
		return *p
	}
	return ""
}

// Context returns a context that is cancelled when the connection is gone,
// whether by Close, by a failed re-authentication or because quic-go closed
// it. context.Cause of it is then a [*ConnError] saying why (its Err is
// net.ErrClosed after Close, an [*AuthError] after a failed
// re-authentication, a quic-go error otherwise).
func (c *Conn) Context() context.Context { return c.ctx }

// Close closes the connection. Requests in flight fail with a [*ConnError].
// It is idempotent, always returns nil, and returns once the connection's
// goroutines have finished.
func (c *Conn) Close() error {
	c.closeWith(&ConnError{Addr: c.addr, Op: "close", Err: net.ErrClosed}, "client closed the connection")
	c.wg.Wait()
	return nil
}

// closeWith records cause, then closes the QUIC connection. The first call
// wins. It does not wait for the re-authentication goroutine, which may be
// the caller.
func (c *Conn) closeWith(cause *ConnError, reason string) {
	c.closeOnce.Do(func() {
		c.cancel(cause)
		code := closeCodeNormal
		if _, ok := errors.AsType[*AuthError](cause.Err); ok {
			code = closeCodeAuthFailed
		}
		_ = c.qc.CloseWithError(code, reason)
	})
}

// Do sends one request and returns the response body (without its type
// byte). It opens a bidirectional stream, writes [reqType][body], closes its
// send side and reads the answer to the end.
//
// Errors: [ErrRequestTooLarge] when body exceeds Config.MaxRequestBytes
// (nothing is sent); [ErrResponseTooLarge] when the answer exceeds
// Config.MaxResponseBytes; [*BrokerError] for a 0xFF frame;
// [ErrMalformedResponse] for an empty answer or a wrong type byte;
// [*ConnError] when the connection is or becomes unusable; [*StreamError]
// when the broker resets the stream; the context's error (wrapped) when ctx
// ends first, in which case the stream is cancelled in both directions.
//
// The returned slice is the caller's.
func (c *Conn) Do(ctx context.Context, reqType byte, body []byte) ([]byte, error) {
	if int64(len(body)) > c.maxReq {
		return nil, fmt.Errorf("%w: %s request body of %d bytes exceeds MaxRequestBytes %d",
			ErrRequestTooLarge, requestName(reqType), len(body), c.maxReq)
	}
	return c.roundTrip(ctx, reqType, body)
}

// smallFrame is the size up to which the type byte and body are copied into
// one buffer and written with a single Write.
const smallFrame = 16 << 10

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, smallFrame); return &b }}

func (c *Conn) roundTrip(ctx context.Context, reqType byte, body []byte) ([]byte, error) {
	resp, err := c.exchange(ctx, reqType, body)
	if err != nil {
		return nil, err
	}
	return parseResponse(c.addr, reqType, resp)
}

// exchange writes one request frame on a new stream and returns the raw
// answer frame, unchecked: it may be empty, or an error frame.
func (c *Conn) exchange(ctx context.Context, reqType byte, body []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.ctxErr(ctx, reqType)
	}
	if c.ctx.Err() != nil {
		return nil, context.Cause(c.ctx)
	}
	str, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, c.failure(ctx, reqType, "open stream", err)
	}
	stop := context.AfterFunc(ctx, func() {
		str.CancelWrite(streamCodeCancelled)
		str.CancelRead(streamCodeCancelled)
	})
	defer stop()

	if err := writeFrame(str, reqType, body); err != nil {
		if !(stoppedByPeer(err) || errors.Is(err, errSendStopped)) || ctx.Err() != nil {
			str.CancelRead(streamCodeCancelled)
			return nil, c.failure(ctx, reqType, "write", err)
		}
		// The broker stopped reading the request (STOP_SENDING), as the
		// development broker does past its maximum request size, but its
		// answer may still follow on the receive side: a 0xFF frame saying
		// why is worth more than a bare, retriable stream reset.
		resp, rerr := c.readResponse(str, reqType)
		if rerr != nil {
			if errors.Is(rerr, ErrResponseTooLarge) {
				return nil, rerr
			}
			return nil, c.failure(ctx, reqType, "write", err)
		}
		return resp, nil
	}
	resp, err := c.readResponse(str, reqType)
	if err != nil {
		if errors.Is(err, ErrResponseTooLarge) {
			return nil, err
		}
		return nil, c.failure(ctx, reqType, "read", err)
	}
	return resp, nil
}

// readResponse reads the answer frame to FIN, cancelling the receive side
// on failure.
func (c *Conn) readResponse(str *quic.Stream, reqType byte) ([]byte, error) {
	resp, err := readAll(str, c.maxResp+1)
	if err != nil {
		if errors.Is(err, ErrResponseTooLarge) {
			str.CancelRead(streamCodeTooLarge)
			return nil, fmt.Errorf("%w: %s response from %s exceeds MaxResponseBytes %d",
				ErrResponseTooLarge, requestName(reqType), c.addr, c.maxResp)
		}
		str.CancelRead(streamCodeCancelled)
		return nil, err
	}
	return resp, nil
}

// stoppedByPeer reports a write that failed because the broker asked this
// stream's send side to stop (STOP_SENDING) while the connection stayed up.
func stoppedByPeer(err error) bool {
	se, ok := errors.AsType[*quic.StreamError](err)
	return ok && se.Remote && !isConnLevel(err)
}

// parseResponse checks a response frame against the request type and
// returns its body: the frame must be non-empty and start with reqType, or
// be a 0xFF error frame.
func parseResponse(addr string, reqType byte, resp []byte) ([]byte, error) {
	switch {
	case len(resp) == 0:
		return nil, fmt.Errorf("%w: empty %s response from %s", ErrMalformedResponse, requestName(reqType), addr)
	case resp[0] == wire.TypeError:
		return nil, &BrokerError{Addr: addr, RequestType: reqType, Message: wire.ErrorFrameText(resp[1:])}
	case resp[0] != reqType:
		return nil, fmt.Errorf("%w: %s request answered with type %d by %s", ErrMalformedResponse, requestName(reqType), resp[0], addr)
	}
	return resp[1:], nil
}

// writeFrame writes [reqType][body] and the FIN.
func writeFrame(str *quic.Stream, reqType byte, body []byte) error {
	if len(body) < smallFrame {
		bp := framePool.Get().(*[]byte)
		frame := append(append((*bp)[:0], reqType), body...)
		_, err := str.Write(frame)
		*bp = frame[:0]
		framePool.Put(bp)
		if err != nil {
			return err
		}
	} else {
		if _, err := str.Write([]byte{reqType}); err != nil {
			return err
		}
		if _, err := str.Write(body); err != nil {
			return err
		}
	}
	if err := str.Close(); err != nil {
		// quic-go refuses the FIN of a send side that was already cancelled
		// with a plain error. With the caller's context alive, only the
		// broker's STOP_SENDING cancels it: mark it as such.
		return fmt.Errorf("%w: %w", errSendStopped, err)
	}
	return nil
}

// errSendStopped marks a FIN refused because the send side had been
// cancelled, which, while the caller's context is alive, means the broker
// stopped reading the request (STOP_SENDING) after the body was written.
var errSendStopped = errors.New("send side stopped before FIN")

// readAll reads r to EOF, failing with ErrResponseTooLarge past limit bytes.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			grow := int64(cap(buf)) * 2
			if grow > limit+1 {
				grow = limit + 1 // one byte over the limit proves it was exceeded
			}
			nb := make([]byte, len(buf), grow)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, ErrResponseTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// ctxErr is what Do returns when the caller's context ended.
func (c *Conn) ctxErr(ctx context.Context, reqType byte) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("rustmq: %s request to %s: %w (%w)", requestName(reqType), c.addr, err, cause)
	}
	return fmt.Errorf("rustmq: %s request to %s: %w", requestName(reqType), c.addr, err)
}

// failure sorts a stream operation's error: the caller's context first, then
// the connection's end, then a reset of this stream alone.
func (c *Conn) failure(ctx context.Context, reqType byte, op string, err error) error {
	if ctx.Err() != nil {
		return c.ctxErr(ctx, reqType)
	}
	if c.ctx.Err() != nil {
		if ce, ok := context.Cause(c.ctx).(*ConnError); ok {
			return ce
		}
	}
	if se, ok := errors.AsType[*quic.StreamError](err); ok && !isConnLevel(err) {
		return &StreamError{Addr: c.addr, RequestType: reqType, Err: se}
	}
	return &ConnError{Addr: c.addr, Op: op, Err: err}
}
