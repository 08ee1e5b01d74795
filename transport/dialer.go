package transport

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/quic-go/quic-go"
)

// Dialer makes connections to brokers with one [Config]. It is safe for
// concurrent use, starts no goroutines and holds no sockets between dials,
// so it needs no Close.
type Dialer struct {
	cfg    Config
	tls    *tlsSource
	quic   *quic.Config
	logger *slog.Logger

	mu     sync.Mutex
	noALPN map[string]bool // ALPNAuto: addresses where dialing without ALPN worked
}

// NewDialer validates cfg, applies its defaults and loads the TLS files. It
// returns a [*ConfigError] for an invalid field and a [*TLSFileError] for a
// file that cannot be read or parsed.
func NewDialer(cfg Config) (*Dialer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	src, err := newTLSSource(cfg.TLS, cfg.Logger)
	if err != nil {
		return nil, err
	}
	keepAlive := cfg.KeepAlivePeriod
	if keepAlive < 0 {
		keepAlive = 0
	}
	return &Dialer{
		cfg:    cfg,
		tls:    src,
		logger: cfg.Logger,
		quic: &quic.Config{
			HandshakeIdleTimeout: cfg.DialTimeout,
			MaxIdleTimeout:       cfg.IdleTimeout,
			KeepAlivePeriod:      keepAlive,
			// Brokers never open streams towards the client.
			MaxIncomingStreams:    -1,
			MaxIncomingUniStreams: -1,
		},
		noALPN: make(map[string]bool),
	}, nil
}

// Config returns the configuration in effect, with defaults applied.
func (d *Dialer) Config() Config { return d.cfg }

// Dial connects to the broker at addr ("host:port", UDP), completes the QUIC
// and TLS handshakes and, when Config.Auth is set, the Authenticate
// handshake. Config.DialTimeout bounds all of it; ctx may end it sooner.
//
// Errors: the caller's context error when ctx ended first; [*ConnError] when
// the connection could not be made (wrapping [ErrALPNMismatch] when no
// application protocol could be agreed, a TLS verification error when the
// broker's certificate is not trusted); [*AuthError] when authentication
// failed.
func (d *Dialer) Dial(ctx context.Context, addr string) (*Conn, error) {
	dctx, cancel := context.WithTimeoutCause(ctx, d.cfg.DialTimeout,
		fmt.Errorf("dial timeout %v: %w", d.cfg.DialTimeout, context.DeadlineExceeded))
	defer cancel()

	qc, err := d.handshake(dctx, addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rustmq: dial %s: %w", addr, ctx.Err())
		}
		if dctx.Err() != nil {
			err = context.Cause(dctx)
		}
		return nil, &ConnError{Addr: addr, Op: "dial", Err: err}
	}
	c := newConn(d, addr, qc)
	if d.cfg.Auth != nil {
		lifetime, err := c.authenticate(dctx)
		if err != nil {
			c.closeWith(&ConnError{Addr: addr, Op: "authenticate", Err: err}, "authentication failed")
			c.wg.Wait()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("rustmq: dial %s: %w", addr, ctx.Err())
			}
			return nil, err
		}
		c.scheduleReauth(lifetime)
	}
	return c, nil
}

// handshake dials with the ALPN offer of the configured mode. In ALPNAuto it
// starts with what last worked for addr and, when the handshake fails in a
// way an ALPN refusal does (see isALPNFailure), tries the other offer once.
func (d *Dialer) handshake(ctx context.Context, addr string) (*quic.Conn, error) {
	switch d.cfg.ALPN {
	case ALPNRustMQ:
		qc, err := d.dialOnce(ctx, addr, true)
		switch {
		case err == nil:
		case isALPNRefusal(err):
			err = fmt.Errorf("%w: offered %q but the broker selected none (use ALPN mode auto or none for brokers without ALPN): %w", ErrALPNMismatch, ALPN, err)
		case isBareHandshakeClose(err):
			err = fmt.Errorf("broker closed the handshake with a bare APPLICATION_ERROR, as quinn before 0.11.5 does for any TLS failure, an unwanted ALPN offer included (ALPN mode auto retries without ALPN): %w", err)
		}
		return qc, err
	case ALPNNone:
		qc, err := d.dialOnce(ctx, addr, false)
		switch {
		case err == nil:
		case isALPNRefusal(err):
			err = fmt.Errorf("%w: offered none but the broker requires one (use ALPN mode auto or rustmq): %w", ErrALPNMismatch, err)
		case isBareHandshakeClose(err):
			err = fmt.Errorf("broker closed the handshake with a bare APPLICATION_ERROR, as quinn before 0.11.5 does for any TLS failure, a missing ALPN offer included (ALPN mode auto retries with %q): %w", ALPN, err)
		}
		return qc, err
	}
	d.mu.Lock()
	offer := !d.noALPN[addr]
	d.mu.Unlock()
	qc, err := d.dialOnce(ctx, addr, offer)
	if err == nil || !isALPNFailure(err) {
		return qc, err
	}
	d.logger.Info("rustmq transport: handshake refused as for an ALPN mismatch; retrying with the other offer",
		"addr", addr, "offered_alpn", offer, "error", err)
	qc, err2 := d.dialOnce(ctx, addr, !offer)
	if err2 != nil {
		first, second := offerName(offer), offerName(!offer)
		if !isALPNFailure(err2) {
			// Classified by the second failure alone: the first one
			// only explains why there was a second attempt.
			return nil, fmt.Errorf("%w (the first attempt, offering %s, was refused: %v)", err2, first, err)
		}
		hint := ""
		if isBareHandshakeClose(err) && isBareHandshakeClose(err2) {
			hint = "; both closes were bare APPLICATION_ERRORs, which a broker on quinn before 0.11.5 sends for any TLS failure, so its client certificate requirements may be the cause instead"
		}
		return nil, fmt.Errorf("%w: broker refused both the %s offer (%w) and the %s offer (%w)%s", ErrALPNMismatch, first, err, second, err2, hint)
	}
	d.mu.Lock()
	if offer {
		d.noALPN[addr] = true
	} else {
		delete(d.noALPN, addr)
	}
	d.mu.Unlock()
	return qc, nil
}

// offerName names an ALPN offer for messages.
func offerName(offer bool) string {
	if offer {
		return fmt.Sprintf("%q", ALPN)
	}
	return "no-ALPN"
}

func (d *Dialer) dialOnce(ctx context.Context, addr string, offerALPN bool) (*quic.Conn, error) {
	var protos []string
	if offerALPN {
		protos = []string{ALPN}
	}
	dctx, finish := dialContext(ctx, addr)
	defer finish()
	qc, err := quic.DialAddr(dctx, addr, d.tls.config(protos), d.quic)
	if err != nil {
		if re := refusal(dctx); re != nil {
			return nil, re
		}
	}
	return qc, err
}
