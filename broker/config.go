package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Defaults of Config fields; a zero field means the default.
const (
	DefaultListen            = "127.0.0.1:0"
	DefaultPartitions        = 1
	DefaultMaxRequestBytes   = 64 << 20 // 64 MiB per request frame
	DefaultMaxMessageBytes   = 1 << 20  // 1 MiB of record bytes per Produce batch, as Kafka's message.max.bytes
	DefaultBrokers           = 1
	DefaultProduceTimeout    = 30 * time.Second // used when a request says timeout_ms 0
	DefaultMaxFetchWait      = 30 * time.Second // cap on a Fetch long poll
	DefaultSessionLifetime   = 0                // authenticated sessions do not expire
	maxPartitionsPerTopic    = 1 << 16
	maxBrokers               = 64
	anonymousPrincipal       = "ANONYMOUS"
	injectedFaultDescription = "injected fault"
)

// RequestSeen describes one request frame as the broker read it, for
// Config.OnRequest.
type RequestSeen struct {
	// Type is the request's type byte.
	Type byte
	// Bytes is the frame's size, type byte included.
	Bytes int
	// Concurrent is how many requests of this type the same connection has
	// being handled (read and not yet answered), this one included.
	Concurrent int
	// Others is how many requests of other types the same connection has
	// being handled.
	Others int
}

// DefaultIdempotenceReorderWindow is how long, by default, an idempotent
// batch that arrived before its predecessors waits for them; see
// Config.IdempotenceReorderWindow.
const DefaultIdempotenceReorderWindow = 2 * time.Second

// ErrInvalidConfig is wrapped by every error Start returns for a bad Config.
var ErrInvalidConfig = errors.New("broker: invalid config")

// ErrClosed is returned by control methods called after Close.
var ErrClosed = errors.New("broker: closed")

// ErrUnknownTopic is returned by control methods naming a topic the broker
// does not hold.
var ErrUnknownTopic = errors.New("broker: unknown topic")

// AuthConfig enables the Authenticate extension (request type 32).
type AuthConfig struct {
	// Users maps user name to password for PLAIN and SCRAM-SHA-256/512.
	// Nil or empty disables those mechanisms.
	Users map[string]string
	// JWTKey verifies JWT bearer tokens: []byte for HMAC, or an RSA, ECDSA
	// or Ed25519 public key. Nil disables the JWT mechanism.
	JWTKey any
	// JWTIssuer and JWTAudience, when set, must match the token's iss and aud.
	JWTIssuer, JWTAudience string
	// SessionLifetime, when positive, is sent as session_lifetime_ms and the
	// principal expires after it; zero (the default) means no expiry.
	SessionLifetime time.Duration
	// Required refuses Produce and Fetch (code 58) and Metadata (0xFF) on
	// connections that have not authenticated. A verified client certificate
	// (mTLS) counts as authentication. Default false.
	Required bool
}

// Config configures a broker. The zero value is a usable single-node,
// in-memory broker on an ephemeral loopback port with no topics.
type Config struct {
	// Listen is the UDP address of node 0. Default DefaultListen
	// ("127.0.0.1:0"). With Brokers > 1 node i listens on port+i, or on its
	// own ephemeral port when the port is 0.
	Listen string
	// Topics maps topic name to partition count, created at start.
	Topics map[string]int
	// AutoCreateTopics creates unknown topics named by Produce, Fetch or
	// Metadata with DefaultPartitions partitions. Default false: unknown
	// topics are answered with code 3.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics.
	// Default 1.
	DefaultPartitions int
	// DataDir, when set, makes the broker durable: partition logs live in
	// DataDir/<node-id>/<topic>-<partition>/ and are recovered at start
	// (topics found there are recreated). Default "": memory only.
	DataDir string
	// SegmentBytes is the segment file size of durable logs. Default: the
	// log store's own default.
	SegmentBytes int64
	// Certificate is the server certificate. Default nil: a development CA
	// and a leaf signed by it (localhost, 127.0.0.1, ::1) are generated; see
	// Broker.CACertPEM.
	Certificate *tls.Certificate
	// ClientCAs verifies client certificates when set. Default nil: client
	// certificates are neither requested nor verified.
	ClientCAs *x509.CertPool
	// RequireClientCert refuses clients without a certificate verified by
	// ClientCAs (mTLS). The principal is then the certificate's subject
	// common name. Default false.
	RequireClientCert bool
	// NoALPN configures no ALPN protocol, like upstream's default (insecure)
	// QUIC server: clients offering "rustmq" then fail the handshake, clients
	// offering none connect. Default false: ALPN "rustmq" is required.
	NoALPN bool
	// MaxRequestBytes bounds one request frame (type byte + body); a larger
	// request is answered 0xFF "Error: request too large ...". Default
	// DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxMessageBytes bounds the summed record sizes of one Produce batch
	// (code 10 above it). Default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// TopicMaxMessageBytes overrides MaxMessageBytes per topic.
	TopicMaxMessageBytes map[string]int
	// Brokers is the number of nodes (cluster mode above 1). Default 1.
	Brokers int
	// Auth enables the Authenticate extension. Default nil: request type 32
	// is answered 0xFF like upstream, and every connection is anonymous
	// (or its client certificate's common name under mTLS).
	Auth *AuthConfig
	// ACL maps a principal to the topics it may write ("*" = any). Default
	// nil: everyone may write everything. Unauthenticated connections have
	// the principal "ANONYMOUS". Reads are not restricted.
	ACL map[string][]string
	// IdempotenceReorderWindow is how long an idempotent batch whose
	// sequence is ahead of its producer's next expected one (or above 0
	// for a producer id the partition has not seen) waits for the batches
	// before it, which a pipelining client sent earlier on other QUIC
	// streams, before it is answered code 45. The request's timeout_ms
	// also bounds the wait, and at most 16 batches wait per producer id
	// and partition (more are answered 45 at once). Waiting batches hold
	// no lock. Default DefaultIdempotenceReorderWindow (2 s); negative
	// disables waiting, so such a batch is answered 45 at once, as docs/protocol.md
	// describes.
	IdempotenceReorderWindow time.Duration
	// StatelessResetKey derives the stateless reset tokens the broker
	// hands its clients (RFC 9000 §10.3). A broker restarted on the same
	// address with the same key answers the packets of connections it no
	// longer knows with a stateless reset, so those clients learn at once
	// that their connection is gone instead of waiting for their idle
	// timeout. Persist it with the data (cmd/rustmq-broker keeps it in its
	// data or TLS directory). Default nil: a random key per Start, which a
	// node restarted by StartNode keeps; see Broker.StatelessResetKey.
	StatelessResetKey *quic.StatelessResetKey
	// Logger receives the broker's logs. Default nil: discarded.
	Logger *slog.Logger
	// OnRequest, when set, is called for every request frame read, before
	// it is handled, with what a test may want to know of how a client
	// spreads its requests (RequestSeen). It is called from the streams'
	// goroutines, so it must be safe for concurrent use, and quick.
	OnRequest func(RequestSeen)
}

// withDefaults validates cfg and fills its defaults, naming the field and
// value of the first problem.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return cfg, fmt.Errorf("%w: Listen %q: %w", ErrInvalidConfig, cfg.Listen, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return cfg, fmt.Errorf("%w: Listen %q: bad port", ErrInvalidConfig, cfg.Listen)
	}
	if host == "" {
		return cfg, fmt.Errorf("%w: Listen %q: a host is required (use 127.0.0.1 for loopback)", ErrInvalidConfig, cfg.Listen)
	}
	if cfg.DefaultPartitions == 0 {
		cfg.DefaultPartitions = DefaultPartitions
	}
	if cfg.DefaultPartitions < 0 || cfg.DefaultPartitions > maxPartitionsPerTopic {
		return cfg, fmt.Errorf("%w: DefaultPartitions %d: must be 1..%d", ErrInvalidConfig, cfg.DefaultPartitions, maxPartitionsPerTopic)
	}
	for name, n := range cfg.Topics {
		if err := validTopic(name, n); err != nil {
			return cfg, fmt.Errorf("%w: Topics[%q]: %w", ErrInvalidConfig, name, err)
		}
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxRequestBytes < 2 {
		return cfg, fmt.Errorf("%w: MaxRequestBytes %d: must be at least 2", ErrInvalidConfig, cfg.MaxRequestBytes)
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxMessageBytes < 0 {
		return cfg, fmt.Errorf("%w: MaxMessageBytes %d: must be positive", ErrInvalidConfig, cfg.MaxMessageBytes)
	}
	for name, n := range cfg.TopicMaxMessageBytes {
		if n <= 0 {
			return cfg, fmt.Errorf("%w: TopicMaxMessageBytes[%q] %d: must be positive", ErrInvalidConfig, name, n)
		}
	}
	if cfg.Brokers == 0 {
		cfg.Brokers = DefaultBrokers
	}
	if cfg.Brokers < 0 || cfg.Brokers > maxBrokers {
		return cfg, fmt.Errorf("%w: Brokers %d: must be 1..%d", ErrInvalidConfig, cfg.Brokers, maxBrokers)
	}
	if p, _ := strconv.Atoi(port); p != 0 && p+cfg.Brokers-1 > 65535 {
		return cfg, fmt.Errorf("%w: Listen %q with Brokers %d: ports run past 65535", ErrInvalidConfig, cfg.Listen, cfg.Brokers)
	}
	if cfg.SegmentBytes < 0 {
		return cfg, fmt.Errorf("%w: SegmentBytes %d: must not be negative", ErrInvalidConfig, cfg.SegmentBytes)
	}
	if cfg.RequireClientCert && cfg.ClientCAs == nil {
		return cfg, fmt.Errorf("%w: RequireClientCert needs ClientCAs", ErrInvalidConfig)
	}
	if cfg.Certificate != nil && len(cfg.Certificate.Certificate) == 0 {
		return cfg, fmt.Errorf("%w: Certificate has no certificate chain", ErrInvalidConfig)
	}
	if a := cfg.Auth; a != nil {
		if len(a.Users) == 0 && a.JWTKey == nil {
			return cfg, fmt.Errorf("%w: Auth set with neither Users nor JWTKey", ErrInvalidConfig)
		}
		if a.SessionLifetime < 0 {
			return cfg, fmt.Errorf("%w: Auth.SessionLifetime %v: must not be negative", ErrInvalidConfig, a.SessionLifetime)
		}
	}
	if cfg.IdempotenceReorderWindow == 0 {
		cfg.IdempotenceReorderWindow = DefaultIdempotenceReorderWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// validTopic checks a topic name and partition count. Names pass the
// protocol's check (wire.ValidateTopic) and follow Kafka's rule on top
// (1..249 of [a-zA-Z0-9._-], not "." or ".."), which also keeps them safe
// as directory names.
func validTopic(name string, partitions int) error {
	if err := wire.ValidateTopic(name); err != nil {
		return err
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name %q: must not be \".\" or \"..\"", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q: character %q not in [a-zA-Z0-9._-]", name, c)
		}
	}
	if partitions < 1 || partitions > maxPartitionsPerTopic {
		return fmt.Errorf("topic %q: partition count %d must be 1..%d", name, partitions, maxPartitionsPerTopic)
	}
	return nil
}
