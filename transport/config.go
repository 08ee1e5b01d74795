package transport

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ALPN is the application protocol id RustMQ brokers announce (docs/protocol.md).
const ALPN = "rustmq"

// Defaults applied to zero fields of [Config] and [TLSConfig].
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultKeepAlivePeriod  = 500 * time.Millisecond
	DefaultIdleTimeout      = 1500 * time.Millisecond
	DefaultMaxRequestBytes  = 16 << 20
	DefaultMaxResponseBytes = 64 << 20
	DefaultReloadInterval   = 30 * time.Second
)

// ALPNMode says whether the client offers the "rustmq" ALPN protocol id.
type ALPNMode int

const (
	// ALPNAuto offers "rustmq" and, when a broker's handshake fails for lack
	// of a common application protocol, retries once without ALPN (and the
	// other way round). The outcome is remembered per address by the Dialer,
	// so later dials to that broker start with what worked. This suits both
	// upstream servers: the secure one that requires "rustmq" and the
	// default one that configures no ALPN at all.
	//
	// A refusal is recognised as quinn sends it: CRYPTO_ERROR 0x178 (TLS
	// alert no_application_protocol) from quinn-proto 0.11.5 on, and a bare
	// APPLICATION_ERROR 0x0c (no frame type, no reason) before, which old
	// quinn sends for every TLS failure of the handshake. When both offers
	// are refused the error wraps [ErrALPNMismatch] and names both
	// refusals. A close after the handshake never triggers the retry.
	ALPNAuto ALPNMode = iota
	// ALPNRustMQ always offers "rustmq" and fails against a broker that
	// selects no application protocol.
	ALPNRustMQ
	// ALPNNone never offers an application protocol.
	ALPNNone
)

// String returns "auto", "rustmq" or "none".
func (m ALPNMode) String() string {
	switch m {
	case ALPNAuto:
		return "auto"
	case ALPNRustMQ:
		return "rustmq"
	case ALPNNone:
		return "none"
	}
	return fmt.Sprintf("ALPNMode(%d)", int(m))
}

// ParseALPNMode reads "auto" (or ""), "rustmq" or "none", ignoring case.
// Anything else yields a [*ConfigError] for field "ALPN".
func ParseALPNMode(s string) (ALPNMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return ALPNAuto, nil
	case "rustmq":
		return ALPNRustMQ, nil
	case "none":
		return ALPNNone, nil
	}
	return 0, &ConfigError{Field: "ALPN", Value: s, Reason: `must be "auto", "rustmq" or "none"`}
}

// TLSConfig says how connections authenticate the broker and, for mutual
// TLS, themselves. Connections always use TLS 1.3 (QUIC requires it).
//
// Settings come from files, from a base *tls.Config, or both; a file setting
// overrides the matching part of Config. Files are re-read when they change
// (see ReloadInterval), so rotated certificates take effect on new
// connections without a restart; established connections keep the
// certificates they were made with.
type TLSConfig struct {
	// CAFile is a PEM bundle of the certificate authorities trusted to sign
	// broker certificates. Default: Config.RootCAs, else the system roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate chain and its
	// private key, presented when a broker asks for one (mTLS). Both or
	// neither. Default: Config's client certificate, else none.
	CertFile, KeyFile string
	// ServerName is the name verified against the broker's certificate and
	// sent as SNI. Default: Config.ServerName, else the host of the address
	// being dialled.
	ServerName string
	// InsecureSkipVerify disables verification of the broker's certificate
	// chain and name. It is for throwaway development setups only and is
	// never switched on implicitly. Default false (Config.InsecureSkipVerify
	// also counts as asking for it).
	InsecureSkipVerify bool
	// Config is a base configuration to start from; it is cloned, never
	// modified. Its MinVersion is raised to TLS 1.3 and its NextProtos are
	// replaced according to the ALPN mode. Default: an empty tls.Config.
	Config *tls.Config
	// ReloadInterval bounds how often CAFile, CertFile and KeyFile are
	// checked for changes (size, modification time or a different file at
	// the path). Checks happen lazily while dialing, never in a background
	// goroutine. A negative value disables reloading. Default 30s.
	ReloadInterval time.Duration
}

// Config configures a [Dialer]. The zero value dials with TLS against the
// system roots, ALPN auto, no authentication and the defaults below.
type Config struct {
	// TLS configures certificates and verification.
	TLS TLSConfig
	// ALPN selects the ALPN behaviour. Default ALPNAuto.
	ALPN ALPNMode
	// DialTimeout bounds one whole Dial: the QUIC handshake, the ALPN
	// fallback attempt if any, and the Authenticate handshake. It also
	// bounds each re-authentication. Default 10s.
	DialTimeout time.Duration
	// KeepAlivePeriod is how long after the last packet from the broker a
	// connection sends a keep-alive PING (at most half of the negotiated
	// idle timeout). Keep-alives are what lets an idle connection notice a
	// dead broker: without them it has nothing to wait an answer for. A
	// negative value disables them, and an idle connection then ends after
	// IdleTimeout (raise it accordingly). Default 500ms.
	KeepAlivePeriod time.Duration
	// IdleTimeout ends a connection that heard nothing from the broker for
	// this long after it last sent it something that needs an answer; the
	// smaller of ours and the broker's applies, on both sides. The
	// connection then ends with a [*ConnError] wrapping a
	// *quic.IdleTimeoutError. With the defaults a dead broker (killed, or
	// unreachable) is noticed within about 2s on loopback: at most
	// IdleTimeout after the first request or keep-alive it leaves
	// unanswered, so about KeepAlivePeriod + IdleTimeout on an idle
	// connection. quic-go never times out sooner than three probe timeouts
	// (3 PTO, about three round trips plus their variance), so on slow or
	// lossy paths the effective timeout stretches beyond this value by
	// itself; a broker restarted on the same address with the same
	// stateless reset key ends old connections at once instead. Default
	// 1.5s.
	IdleTimeout time.Duration
	// MaxRequestBytes is the largest request body Do sends; larger ones fail
	// with ErrRequestTooLarge before touching the network. Upstream brokers
	// read at most 8 KiB per request; the development broker reads to the
	// end. Default 16 MiB.
	MaxRequestBytes int64
	// MaxResponseBytes is the largest response body Do accepts for
	// Metadata, Fetch and request types this package does not know; a
	// larger one is abandoned with ErrResponseTooLarge as soon as the
	// excess arrives, and the buffer grows with what arrives, never by a
	// length the broker claims. Answers that are small by nature
	// (Produce, Authenticate, Capabilities) are refused past 64 KiB
	// whatever this says, and of an error frame (0xFF) only the first KiB
	// of text is read and kept. Default 64 MiB.
	MaxResponseBytes int64
	// SerialRequests keeps at most one request in flight per connection,
	// small ones apart: each Produce, and each request of another type
	// whose frame exceeds [SmallRequestBytes], waits (within its context)
	// until the one before it has been answered. Upstream RustMQ reads a
	// request with a single read and applies concurrent requests for one
	// partition unguarded; with one request at a time a request of at most
	// [OneDatagramBytes] travels in a QUIC packet with nothing larger than
	// a health check beside it and arrives whole, and no two Produce
	// requests of the connection are handled at once. Default false.
	SerialRequests bool
	// Auth, when set, runs the Authenticate handshake on every new
	// connection before Dial returns. An Auth with a Validate() error
	// method (the mechanisms of this package have one) is validated by
	// NewDialer. Default nil: no handshake (with mTLS the broker takes the
	// client certificate's common name as principal).
	Auth Authenticator
	// Logger receives certificate reloads, ALPN fallbacks and
	// re-authentications. Default: discard everything.
	Logger *slog.Logger
}

// withDefaults returns cfg with zero fields replaced by their defaults, or a
// *ConfigError naming the first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.ALPN < ALPNAuto || cfg.ALPN > ALPNNone {
		return cfg, &ConfigError{Field: "ALPN", Value: cfg.ALPN.String(), Reason: "unknown mode"}
	}
	durations := []struct {
		field string
		v     *time.Duration
		def   time.Duration
		neg   bool // negative allowed (means "off")
	}{
		{"DialTimeout", &cfg.DialTimeout, DefaultDialTimeout, false},
		{"KeepAlivePeriod", &cfg.KeepAlivePeriod, DefaultKeepAlivePeriod, true},
		{"IdleTimeout", &cfg.IdleTimeout, DefaultIdleTimeout, false},
		{"TLS.ReloadInterval", &cfg.TLS.ReloadInterval, DefaultReloadInterval, true},
	}
	for _, d := range durations {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0 && !d.neg:
			return cfg, &ConfigError{Field: d.field, Value: d.v.String(), Reason: "must not be negative"}
		}
	}
	sizes := []struct {
		field string
		v     *int64
		def   int64
	}{
		{"MaxRequestBytes", &cfg.MaxRequestBytes, DefaultMaxRequestBytes},
		{"MaxResponseBytes", &cfg.MaxResponseBytes, DefaultMaxResponseBytes},
	}
	for _, s := range sizes {
		switch {
		case *s.v == 0:
			*s.v = s.def
		case *s.v < 0:
			return cfg, &ConfigError{Field: s.field, Value: fmt.Sprint(*s.v), Reason: "must not be negative"}
		case *s.v > maxFrameBytes:
			return cfg, &ConfigError{Field: s.field, Value: fmt.Sprint(*s.v), Reason: fmt.Sprintf("must be at most %d", int64(maxFrameBytes))}
		}
	}
	if (cfg.TLS.CertFile == "") != (cfg.TLS.KeyFile == "") {
		field, other := "TLS.CertFile", "TLS.KeyFile"
		if cfg.TLS.CertFile == "" {
			field, other = other, field
		}
		return cfg, &ConfigError{Field: other, Value: "", Reason: "must be set together with " + field}
	}
	if b := cfg.TLS.Config; b != nil && b.MaxVersion != 0 && b.MaxVersion < tls.VersionTLS13 {
		return cfg, &ConfigError{Field: "TLS.Config.MaxVersion", Value: tls.VersionName(b.MaxVersion), Reason: "QUIC requires TLS 1.3"}
	}
	if v, ok := cfg.Auth.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return cfg, &ConfigError{Field: "Auth", Value: cfg.Auth.Mechanism(), Reason: err.Error(), Err: err}
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// maxFrameBytes caps the size limits so that buffers stay addressable on
// every platform and a limit plus the type byte cannot overflow.
const maxFrameBytes = 1 << 30
