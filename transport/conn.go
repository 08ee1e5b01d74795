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
	"unicode/utf8"

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
	// slot, with SerialRequests, holds the token of the one request
	// allowed in flight (small ones apart); nil otherwise.
	slot chan struct{}
}

// OneDatagramBytes is the largest request frame (type byte and body) that
// travels in a single QUIC packet with room to spare, when no other
// request's bytes share the packet (Config.SerialRequests): quic-go's first
// packets carry 1280 bytes, of which the short header (up to 21 bytes
// with the 8-byte connection ids quinn hands out), the AEAD tag (16), the
// STREAM frame's header (up to 11) and an ACK frame or a small control
// frame leave about 1,200; the rest is margin.
const OneDatagramBytes = 1150

// SmallRequestBytes is the largest frame of a request other than Produce
// that Config.SerialRequests lets through without waiting for the slot
// (a health check's Metadata request for no topic is 9 bytes): it fits the
// room OneDatagramBytes leaves in a packet.
const SmallRequestBytes = 64

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
	if d.cfg.SerialRequests {
		c.slot = make(chan struct{}, 1)
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
// With Config.SerialRequests a Produce (or a request too large to share a
// packet with one) first waits, within ctx, for the one
// before it on the connection ([ErrQueuedTooLong] if ctx ends first); ctx's
// deadline is then moved on by the time waited, so that the round trip
// has as long as the caller meant it to, while cancelling ctx still ends it.
//
// The returned slice is the caller's.
func (c *Conn) Do(ctx context.Context, reqType byte, body []byte) ([]byte, error) {
	if int64(len(body)) > c.maxReq {
		return nil, fmt.Errorf("%w: %s request body of %d bytes exceeds MaxRequestBytes %d",
			ErrRequestTooLarge, requestName(reqType), len(body), c.maxReq)
	}
	if c.slot != nil && (reqType == wire.TypeProduce || 1+len(body) > SmallRequestBytes) {
		queued := time.Now()
		select {
		case c.slot <- struct{}{}:
			defer func() { <-c.slot }()
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrQueuedTooLong, c.ctxErr(ctx, reqType))
		case <-c.ctx.Done():
			return nil, context.Cause(c.ctx)
		}
		if waited := time.Since(queued); waited > 0 {
			if ctx.Err() != nil {
				// The slot came as ctx ended: still never sent.
				return nil, fmt.Errorf("%w: %w", ErrQueuedTooLong, c.ctxErr(ctx, reqType))
			}
			if deadline, ok := ctx.Deadline(); ok {
				// The caller's deadline bounds the round trip: the wait
				// for the slot must not eat it, or a request taken off
				// the queue just before its deadline would be sent, time
				// out at once while the broker applies it, and be retried
				// (stored twice) and counted as the broker's silence.
				var cancel context.CancelFunc
				parent := ctx
				ctx, cancel = context.WithDeadline(context.WithoutCancel(parent), deadline.Add(waited))
				defer cancel()
				stop := context.AfterFunc(parent, func() {
					if errors.Is(parent.Err(), context.Canceled) {
						cancel() // withdrawn by the caller, not merely late
					}
				})
				defer stop()
			}
		}
	}
	return c.roundTrip(ctx, reqType, body)
}

// ErrQueuedTooLong marks a Produce request whose context ended while it
// waited for the request before it on the connection (Config.SerialRequests):
// it was never sent, and the broker's silence is not the cause.
var ErrQueuedTooLong = errors.New("rustmq: request not sent: the one before it on the connection was still unanswered")

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
// on failure and after an error frame cut short.
func (c *Conn) readResponse(str *quic.Stream, reqType byte) ([]byte, error) {
	limit := c.responseLimit(reqType)
	resp, cut, err := readFrame(str, limit)
	if err != nil {
		if errors.Is(err, ErrResponseTooLarge) {
			str.CancelRead(streamCodeTooLarge)
			what := "MaxResponseBytes"
			if limit < c.maxResp {
				what = "the limit for this request type"
			}
			return nil, fmt.Errorf("%w: %s response from %s exceeds %s (%d bytes)",
				ErrResponseTooLarge, requestName(reqType), c.addr, what, limit)
		}
		str.CancelRead(streamCodeCancelled)
		return nil, err
	}
	if cut {
		str.CancelRead(streamCodeTooLarge) // the rest of an error text is not wanted
	}
	return resp, nil
}

// smallResponseBytes bounds the answers that are small by nature, whatever
// Config.MaxResponseBytes says: a ProduceResponse is an offset, a code and
// a message, an AuthenticateResponse a SASL challenge, a
// CapabilitiesResponse a few names. A broker sending more is broken or
// hostile, and its answer is refused before it costs memory.
const smallResponseBytes = 64 << 10

// responseLimit is the largest response body accepted for reqType:
// smallResponseBytes (or MaxResponseBytes when smaller) for Produce,
// Authenticate and Capabilities, MaxResponseBytes for the rest (Metadata,
// Fetch and types this package does not know).
func (c *Conn) responseLimit(reqType byte) int64 {
	switch reqType {
	case wire.TypeProduce, wire.TypeAuthenticate, wire.TypeCapabilities:
		return min(c.maxResp, smallResponseBytes)
	}
	return c.maxResp
}

// errorFrameBytes is how much of an error frame is read: the type byte,
// upstream's "Error: " prefix and what wire.ErrorFrameText keeps of the
// text (plus a few bytes so it can cut at a character boundary). A longer
// text is not read further.
const errorFrameBytes int64 = 1 + int64(len("Error: ")) + wire.MaxErrorTextBytes + utf8.UTFMax

// readFrame reads one answer frame from r to EOF into a buffer that
// doubles as bytes arrive (never by a length the peer announces). A frame
// longer than limit+1 bytes (a body over limit) fails with
// ErrResponseTooLarge as soon as the excess arrives. An error frame (type
// 0xFF) is read up to errorFrameBytes only: when it is longer, the bytes
// read are returned with cut true and the rest is left unread.
//
// Doubling one buffer was measured against keeping chunks and joining
// them at the end (BenchmarkHugeAnswers, 8 answers of 50 MB): chunks
// allocate 20% less and leave 400 MiB live instead of 514, but the join
// needs the chunks and the whole frame at once and raised the peak heap
// to 814 MiB against about 575 for doubling, whose old buffers the GC
// reclaims while the answer still grows. The peak is what a service feels.
func readFrame(r io.Reader, limit int64) (frame []byte, cut bool, err error) {
	max := limit + 1 // type byte and body
	buf := make([]byte, 0, min(512, max+1))
	errFrame := false
	for {
		if len(buf) == cap(buf) {
			// Double, up to one byte past the bound: that byte proves the
			// bound was exceeded (or, for an error frame, cut).
			nb := make([]byte, len(buf), min(int64(cap(buf))*2, max+1))
			copy(nb, buf)
			buf = nb
		}
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if !errFrame && len(buf) > 0 && buf[0] == wire.TypeError {
			errFrame, max = true, errorFrameBytes
		}
		if int64(len(buf)) > max {
			if errFrame {
				return buf[:max], true, nil
			}
			return nil, false, ErrResponseTooLarge
		}
		if rerr == io.EOF {
			return buf, false, nil
		}
		if rerr != nil {
			return nil, false, rerr
		}
	}
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
