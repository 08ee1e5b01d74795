package runtime

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/compress"
)

// Defaults of [Config] and [ProducerConfig], applied to zero fields.
const (
	DefaultClientID           = "rustmq-go"
	DefaultConnectTimeout     = 10 * time.Second
	DefaultRequestTimeout     = 30 * time.Second
	DefaultHealthInterval     = 10 * time.Second
	DefaultMetadataRefresh    = 30 * time.Second
	DefaultRetryBackoffMin    = 50 * time.Millisecond
	DefaultRetryBackoffMax    = 2 * time.Second
	DefaultBatchSize          = 1000
	DefaultBatchBytes         = 1 << 20
	DefaultLinger             = 5 * time.Millisecond
	DefaultMaxInFlight        = 5
	DefaultCompressThreshold  = 1024
	DefaultMaxMessageBytes    = 1 << 20
	DefaultMaxBufferedBytes   = 64 << 20
	DefaultMaxBufferedRecords = 500_000
	DefaultDeliveryTimeout    = 2 * time.Minute
	// MaxDeliveryTimeout is the longest DeliveryTimeout (24 days): a
	// buffered message keeps its deadline in 32 bits of milliseconds
	// (about 24.8 days either way), as Kafka's delivery.timeout.ms does.
	MaxDeliveryTimeout       = 24 * 24 * time.Hour
	DefaultActorRestartMin   = 10 * time.Millisecond
	DefaultActorRestartMax   = time.Second
	DefaultKeepAlive         = transport.DefaultKeepAlivePeriod
	DefaultIdleTimeout       = transport.DefaultIdleTimeout
	DefaultMaxResponseBytes  = transport.DefaultMaxResponseBytes
	DefaultReconnectMin      = 50 * time.Millisecond
	DefaultReconnectMax      = time.Second
	DefaultMaxTimeouts       = 3
	DefaultUnknownTopicGrace = time.Second
	DefaultUnreachableDials  = 3
	DefaultMaxPartitions     = actors.DefaultMaxPartitions
	// MaxInFlightIdempotent is the most batches per partition that may be
	// outstanding with idempotence: the development broker remembers the
	// last 5 batches of each producer id to recognise duplicates.
	MaxInFlightIdempotent = 5
)

// TLSConfig says how connections verify brokers and, for mutual TLS, present
// a client certificate. Connections always use TLS 1.3.
type TLSConfig struct {
	// CAFile is a PEM bundle of the authorities that sign broker
	// certificates. Default: the system roots (or Config.RootCAs).
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key for mTLS;
	// both or neither. Default none.
	CertFile, KeyFile string
	// ServerName is verified against the broker certificate and sent as
	// SNI. Default: the host of the address dialled.
	ServerName string
	// InsecureSkipVerify disables certificate verification; for throwaway
	// development setups only. Default false.
	InsecureSkipVerify bool
	// ALPN chooses whether the "rustmq" ALPN id is offered. Default
	// transport.ALPNAuto (offer it, retry without when a broker selects
	// none).
	ALPN transport.ALPNMode
	// Config is a base tls.Config, cloned, never modified. Default nil.
	Config *tls.Config
}

// Config configures a [Runtime]. The zero value of every field but Brokers
// means its documented default.
type Config struct {
	// Brokers lists the host:port addresses to bootstrap from. Required.
	Brokers []string
	// ClientID names this client on spans and metrics. Default "rustmq-go".
	ClientID string
	// TLS configures certificates and verification.
	TLS TLSConfig
	// Auth runs an authentication mechanism on every new connection; build
	// it with [SASLPlain], [ScramSHA256], [ScramSHA512] or [JWT], or supply
	// any transport.Authenticator. Default nil: none (with mTLS the broker
	// takes the client certificate's common name as principal).
	Auth transport.Authenticator
	// ConnectTimeout bounds one dial (QUIC and TLS handshakes and
	// authentication). Default 10s.
	ConnectTimeout time.Duration
	// RequestTimeout bounds one request to a broker. Default 30s.
	RequestTimeout time.Duration
	// RetryBackoff spaces the attempts of failed produce and metadata
	// requests: capped exponential with full jitter. Default 50ms doubling
	// up to 2s, with jitter.
	RetryBackoff supervision.Backoff
	// Supervision is the restart strategy of the connection actors: a
	// connection actor crashes when its connection is lost or its dial
	// fails and is restarted (it dials again) after a capped exponential
	// backoff. The backoff starts afresh when a connection that was up for
	// a second or more is lost, so the first redial after an incident
	// comes within Backoff.Initial, and while a broker stays unreachable
	// the dials are at most Backoff.Max apart. Zero fields take the
	// runtime's defaults, which differ from package supervision's: Backoff
	// 50ms doubling up to 1s with full jitter, and MaxRestarts unlimited
	// (a positive MaxRestarts gives up on a broker after that many
	// restarts within Window; a stopped connection actor is started again
	// the next time a partition needs its broker). Supervision.Logger
	// defaults to Logger.
	Supervision supervision.Config
	// KeepAlive is how long after the last packet from a broker a
	// connection sends a keep-alive PING (at most half of IdleTimeout is
	// used). It lets an idle connection notice a dead broker. Negative
	// disables keep-alives: an idle connection then ends after
	// IdleTimeout. Default 500ms.
	KeepAlive time.Duration
	// IdleTimeout ends a connection that heard nothing from the broker for
	// this long while it waits for an answer (a request or a keep-alive);
	// the smaller of the client's and the broker's applies. With the
	// defaults a dead broker is noticed within about 2s on loopback; QUIC
	// never gives up sooner than about three round trips, so slow paths
	// stretch it by themselves. Default 1.5s.
	IdleTimeout time.Duration
	// MaxResponseBytes is the largest answer accepted for Metadata and
	// Fetch requests; a larger one fails the request with
	// transport.ErrResponseTooLarge as soon as the excess arrives, and
	// what is buffered grows with what arrives, never by what the broker
	// claims. Produce answers are capped at 64 KiB whatever this says.
	// Default 64 MiB.
	MaxResponseBytes int64
	// UnknownTopicGrace is how long a topic that the brokers' metadata does
	// not list (and that has no StaticPartitions count) is asked about
	// again before its messages fail with ErrUnknownTopic, wrapped with
	// the topic's name. It gives brokers that create topics on first use
	// time to do so; Metadata is asked again several times within it.
	// Negative: the first answer decides. Default 1s.
	UnknownTopicGrace time.Duration
	// UnreachableDials is the fail-fast policy for brokers that cannot be
	// reached. While the runtime has never been connected to any broker,
	// once every bootstrap broker has failed this many dials in a row, the
	// messages waiting for metadata fail with an *UnreachableError
	// (errors.Is ErrUnreachable, and each broker's last dial failure:
	// connection refused, no such host, a TLS verification failure), and
	// so do later ones while that lasts. Once the runtime has been
	// connected, an outage is ridden out: messages wait until their
	// DeliveryTimeout, whose error then wraps the last failure. Negative:
	// always wait for the DeliveryTimeout. Default 3.
	UnreachableDials int
	// MaxPartitions bounds the partitions of one topic the runtime
	// believes a broker's metadata about; a topic listed with more (or
	// with partition ids that are not 0..n-1, or with leaders that are not
	// listed brokers with a usable address) is a *MetadataError for that
	// topic: metadata believed before stays in force, and messages for a
	// topic with none fail with it. Default 100,000.
	MaxPartitions int
	// MaxConsecutiveTimeouts closes a broker connection after this many
	// requests on it in a row, health checks included, got no answer
	// within their timeout, and dials again: a broker that still
	// acknowledges QUIC packets (so keep-alives do not notice) but answers
	// nothing is treated as gone. Any answer resets the count. Negative
	// disables it. Default 3.
	MaxConsecutiveTimeouts int
	// HealthInterval is the period of each connection's health check (a
	// Metadata request whose duration is reported as RTT). Negative
	// disables it. Default 10s.
	HealthInterval time.Duration
	// MetadataRefresh is the period of the background metadata refresh.
	// Negative disables it (metadata is still refreshed on "not leader").
	// Default 30s.
	MetadataRefresh time.Duration
	// StaticPartitions gives the partition count of topics whose metadata
	// lists no partitions (upstream RustMQ answers an empty topic list);
	// their records go round robin to connected brokers. Default none. In
	// upstream mode every topic produced to needs an entry.
	StaticPartitions map[string]int
	// Upstream switches on upstream mode, for brokers that behave like
	// upstream RustMQ's (docs/protocol.md, "Upstream mode"): each request
	// is read with one read of at most 8 KiB, failures are answered as
	// text, Metadata lists no topics, and nothing guards two requests for
	// one partition handled at once. In this mode the runtime
	//
	//   - takes every topic's partition count from StaticPartitions (a
	//     Metadata answer that does list the topic is believed instead)
	//     (CreateProducer, and Send for a message naming another topic,
	//     fail with a *ConfigError for a topic without one);
	//   - sends none of this project's extensions: no capabilities probe
	//     (Health reports Upstream true), no Authenticate (Auth is a
	//     *ConfigError; use upstream's mTLS server instead), no
	//     idempotence headers (IdempotenceOn is a *ConfigError,
	//     IdempotenceAuto means off);
	//   - dials without ALPN (TLS.ALPN ALPNAuto means ALPNNone, as one
	//     refused handshake stops upstream's accept loop; ALPNRustMQ is a
	//     *ConfigError);
	//   - keeps one request in flight per broker connection (Produce, and
	//     any other over transport.SmallRequestBytes), so each partition
	//     has at most one request sent and unanswered (whatever
	//     MaxInFlight says) and a request's bytes never share a QUIC
	//     packet with another's but a health check's;
	//   - closes batches so that a request fits in one QUIC packet
	//     (transport.OneDatagramBytes); a message too large for that is
	//     sent alone and may be cut by the broker's single read, in which
	//     case the broker applied nothing and the runtime retries it, up
	//     to three cuts (actors.UpstreamMaxCuts), then fails it;
	//   - classifies upstream's error texts (retriable or not, see the
	//     protocol document).
	//
	// MaxRequestBytes defaults to 8192 (upstream's read buffer) and may
	// not be larger. Default false: the broker is expected to serve this
	// project's protocol; a broker found to behave like upstream (it lists
	// no topics and leaves the capabilities probe unanswered) makes
	// messages for topics it does not list fail with ErrUpstreamBroker.
	Upstream bool
	// MaxRequestBytes bounds one request's body; it must hold a batch.
	// 1024 bytes of it are kept for a produce request's framing, so it
	// must be larger; producers' BatchBytes and MaxMessageBytes may use
	// the rest, and default to it when it is smaller than their defaults.
	// Upstream brokers read at most 8 KiB per request; the development
	// broker reads any size. Default transport.DefaultMaxRequestBytes
	// (UpstreamMaxRequestBytes in upstream mode).
	MaxRequestBytes int64
	// Logger receives the runtime's logs and protoactor's, the latter one
	// level lower than protoactor logs them (its INFO lines at DEBUG, its
	// ERROR lines at WARN): they are the actor system's internals. Default:
	// discard everything.
	Logger *slog.Logger
	// TracerProvider creates the spans of each message's path. Default nil:
	// no tracing, at near-zero cost. A sampler deciding on a message's
	// "create <topic>" span sees its name, kind and parent; the messaging
	// attributes are set once the span records, so that unsampled messages
	// do not pay for them. The create span's context is written into the
	// message's traceparent header when the span records, and, with the
	// sampled flag clear, when it does not but the caller's context carries
	// a trace (whose decision should travel on); an unsampled root, of
	// whose trace no backend will ever hold a span, writes nothing and
	// costs no more than the tracer's Start.
	TracerProvider trace.TracerProvider
	// MeterProvider receives the runtime's metrics (the messaging
	// conventions' messaging.client.operation.duration and
	// messaging.client.sent.messages, and the rustmq.producer.* and
	// rustmq.connection.* instruments) and the actor system's own.
	// Default nil: no metrics, only the Metrics snapshot.
	MeterProvider metric.MeterProvider
	// hooks are the tests' fault injection points (export_test.go).
	hooks *testHooks

	// ActorMetrics turns on protoactor's own actor metrics (spawns,
	// restarts, failures, mailbox lengths, per-message receive durations).
	// The pinned protoactor version records them through OpenTelemetry's
	// global MeterProvider (otel.GetMeterProvider), whatever provider it is
	// handed, so they reach MeterProvider only when that is also the
	// global one (otel.SetMeterProvider). They cost an attribute set and a
	// histogram point per actor message. Default false.
	ActorMetrics bool
}

// Acks is the acknowledgement level of produce requests.
type Acks int

const (
	// AcksAll waits until the broker has made the records durable (fsync on a
	// durable development broker). The default.
	AcksAll Acks = iota
	// AcksLeader waits until the partition leader has appended the records.
	AcksLeader
	// AcksNone does not wait for acknowledgement: results carry no offset.
	AcksNone
)

// String returns the name of the Acks value.
func (a Acks) String() string {
	switch a {
	case AcksAll:
		return "all"
	case AcksLeader:
		return "leader"
	case AcksNone:
		return "none"
	}
	return fmt.Sprintf("Acks(%d)", int(a))
}

// Idempotence chooses whether batches carry the idempotence headers.
type Idempotence int

const (
	// IdempotenceAuto is on with AcksAll and AcksLeader, off with AcksNone.
	// The default.
	IdempotenceAuto Idempotence = iota
	// IdempotenceOn requires idempotence; invalid with AcksNone.
	IdempotenceOn
	// IdempotenceOff sends no idempotence headers: retries may duplicate,
	// and with MaxInFlight > 1 may reorder.
	IdempotenceOff
)

// ProducerConfig configures a [Producer]. The zero value of every field
// means its documented default.
type ProducerConfig struct {
	// Acks is the acknowledgement level. Default AcksAll.
	Acks Acks
	// Idempotence. Default IdempotenceAuto (on unless AcksNone).
	Idempotence Idempotence
	// BatchSize closes a batch at this many records. Default 1000.
	BatchSize int
	// BatchBytes bounds the record bytes of one produce request, counted
	// as brokers count them against their max message bytes: each record's
	// encoded size as written (key, value after compression, headers with
	// the codec, trace and, on the first record, idempotence headers,
	// timestamp and length prefixes). A batch closes before the record that
	// would take it past BatchBytes, so a BatchBytes no larger than the
	// broker's max message bytes never has a batch refused as too large. A
	// single message larger than BatchBytes (but within MaxMessageBytes) is
	// sent in a request of its own. Default 1 MiB, or Config.MaxRequestBytes
	// less 1024 when that is smaller (7168 in upstream mode, where batches
	// also close at one QUIC packet whatever BatchBytes says: see
	// Config.Upstream).
	BatchBytes int
	// Linger is how long a partition's open batch waits for more messages
	// while a request slot is free. Negative means do not wait. Default 5ms.
	Linger time.Duration
	// MaxInFlight bounds the batches per partition sent and not yet
	// acknowledged; at most 5 with idempotence. Requests travel on separate
	// QUIC streams, which do not keep their order, so a batch may overtake
	// the one sent before it. More than one batch is therefore in flight
	// only when the producer is idempotent and the partition leader's
	// broker says (in its answer to the capabilities probe) that it holds
	// batches arriving ahead of their predecessors (reorder-window, as the
	// development broker does); otherwise, and against upstream RustMQ, each
	// partition sends one batch at a time and keeps its order. Default 5.
	MaxInFlight int
	// Compression compresses values of at least CompressThreshold bytes and
	// marks them with the rmq-codec header. Default compress.None.
	Compression compress.Codec
	// CompressThreshold is the smallest value compressed. Default 1024.
	CompressThreshold int
	// MaxMessageBytes is the largest message accepted, measured as brokers
	// measure it against their max message bytes: the record as written in
	// a produce request (key, value and headers before compression, the
	// trace headers the producer adds, timestamp and length prefixes) plus
	// the idempotence headers it may carry. A message within it is never
	// refused as too large by a broker with the same limit; larger ones
	// fail with *MessageTooLargeError. Default 1 MiB, or
	// Config.MaxRequestBytes less 1024 when that is smaller (7168 in
	// upstream mode).
	MaxMessageBytes int
	// MaxBufferedBytes bounds what the messages accepted and not yet
	// completed cost the producer. A message counts from its acceptance
	// until its result is final (for SendAsync, until its callback has
	// returned), and costs its encoded size as written (the value after
	// compression, headers, trace headers, framing: what it occupies in a
	// request body) plus 96 bytes of envelope and bookkeeping, plus 208
	// more when it has a compressed value, a create span or a trace
	// context to propagate, or a Send or SendBatch caller waiting for it
	// (a context that can end costs nothing more), plus 1024 for a create
	// span that records (an estimate of the OpenTelemetry SDK's span). The
	// message's own key, value and headers are the caller's: the producer
	// keeps a reference to them until the result and does not count them
	// again. Request bodies of finished batches are kept for reuse and are
	// not counted. Default 64 MiB.
	MaxBufferedBytes int64
	// MaxBufferedRecords bounds the messages accepted and not yet completed
	// (counted as for MaxBufferedBytes). Default 500,000.
	MaxBufferedRecords int64
	// FailWhenFull makes Send, SendAsync and SendBatch fail at once with
	// ErrBufferFull when the buffer is full, instead of blocking until space
	// frees or the context ends. Default false (block).
	FailWhenFull bool
	// DeliveryTimeout bounds the time from acceptance to the result; a
	// message not acknowledged by then fails with ErrDeliveryTimeout.
	// Default 2m; at most MaxDeliveryTimeout.
	DeliveryTimeout time.Duration
	// RequestTimeout bounds one produce request. Default: the runtime's.
	RequestTimeout time.Duration
	// RetryBackoff spaces retries of a failed batch. Default: the runtime's.
	RetryBackoff supervision.Backoff
	// MaxRetries bounds the retries of one batch. Negative means none.
	// Default: unlimited within DeliveryTimeout.
	MaxRetries int
	// Supervision is the restart strategy of the producer's router and
	// batchers, should one of them panic. A restart keeps what the actor
	// owes (the router's waiting messages, a batcher's batches and
	// sequence numbers), so nothing is lost: a batch whose request was in
	// flight is resent with the same idempotence stamp. A batcher the
	// strategy stops for good fails what it held with ErrActorFailed and
	// its partition starts afresh with the next message; a stopped router
	// leaves the producer unable to route, and every later send fails with
	// ErrActorFailed. Default: one-for-one, 10ms doubling up to 1s with
	// jitter, 10 restarts a minute, then stop. Supervision.Logger defaults
	// to the runtime's Logger.
	Supervision supervision.Config
}

// checkAddr says what is wrong with a broker address, "" if nothing: it
// must be host:port with a non-empty host and a port in 1-65535.
func checkAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "must be host:port (" + err.Error() + ")"
	}
	if host == "" {
		return "the host is empty"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %q is not a number in 1-65535", port)
	}
	return ""
}

// minResponseBytes is the smallest MaxResponseBytes accepted.
const minResponseBytes = 64 << 10

func configErr(field string, value any, reason string) error {
	return &ConfigError{Field: field, Value: value, Reason: reason}
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Brokers) == 0 {
		return cfg, configErr("Brokers", cfg.Brokers, "at least one broker address is required")
	}
	for i, b := range cfg.Brokers {
		if reason := checkAddr(b); reason != "" {
			return cfg, configErr(fmt.Sprintf("Brokers[%d]", i), b, reason)
		}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
		neg  bool
	}{
		{"ConnectTimeout", &cfg.ConnectTimeout, DefaultConnectTimeout, false},
		{"RequestTimeout", &cfg.RequestTimeout, DefaultRequestTimeout, false},
		{"HealthInterval", &cfg.HealthInterval, DefaultHealthInterval, true},
		{"MetadataRefresh", &cfg.MetadataRefresh, DefaultMetadataRefresh, true},
	}
	for _, d := range durs {
		switch {
		case *d.v < 0 && !d.neg:
			return cfg, configErr(d.name, *d.v, "must not be negative")
		case *d.v == 0:
			*d.v = d.def
		}
	}
	rb, err := retryBackoff(cfg.RetryBackoff, supervision.Backoff{Initial: DefaultRetryBackoffMin, Max: DefaultRetryBackoffMax, Jitter: true}, "RetryBackoff")
	if err != nil {
		return cfg, err
	}
	cfg.RetryBackoff = rb
	if cfg.Supervision.Logger == nil {
		cfg.Supervision.Logger = cfg.Logger
	}
	if cfg.Supervision.Backoff == (supervision.Backoff{}) {
		cfg.Supervision.Backoff = supervision.Backoff{Initial: DefaultReconnectMin, Max: DefaultReconnectMax, Jitter: true}
	}
	if cfg.Supervision.MaxRestarts == 0 {
		cfg.Supervision.MaxRestarts = -1
	}
	if err := cfg.Supervision.Validate(); err != nil {
		return cfg, &ConfigError{Field: "Supervision", Value: cfg.Supervision.Kind, Reason: err.Error(), Err: err}
	}
	for topic, n := range cfg.StaticPartitions {
		if topic == "" || n <= 0 {
			return cfg, configErr("StaticPartitions["+topic+"]", n, "needs a topic name and a positive partition count")
		}
	}
	if cfg.MaxRequestBytes < 0 {
		return cfg, configErr("MaxRequestBytes", cfg.MaxRequestBytes, "must not be negative")
	}
	if cfg.MaxRequestBytes > 0 && cfg.MaxRequestBytes <= requestFramingRoom {
		return cfg, configErr("MaxRequestBytes", cfg.MaxRequestBytes, fmt.Sprintf("must be more than the %d bytes kept for a request's framing", requestFramingRoom))
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = transport.DefaultMaxRequestBytes
		if cfg.Upstream {
			cfg.MaxRequestBytes = UpstreamMaxRequestBytes
		}
	}
	if cfg.Upstream {
		if err := cfg.checkUpstream(); err != nil {
			return cfg, err
		}
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	switch {
	case cfg.IdleTimeout < 0:
		return cfg, configErr("IdleTimeout", cfg.IdleTimeout, "must not be negative")
	case cfg.IdleTimeout == 0:
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	switch {
	case cfg.MaxResponseBytes < 0:
		return cfg, configErr("MaxResponseBytes", cfg.MaxResponseBytes, "must not be negative")
	case cfg.MaxResponseBytes == 0:
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	case cfg.MaxResponseBytes < minResponseBytes:
		return cfg, configErr("MaxResponseBytes", cfg.MaxResponseBytes, fmt.Sprintf("must be at least %d: a Metadata answer must fit", minResponseBytes))
	}
	if cfg.MaxConsecutiveTimeouts == 0 {
		cfg.MaxConsecutiveTimeouts = DefaultMaxTimeouts
	}
	if cfg.UnknownTopicGrace == 0 {
		cfg.UnknownTopicGrace = DefaultUnknownTopicGrace
	}
	if cfg.UnreachableDials == 0 {
		cfg.UnreachableDials = DefaultUnreachableDials
	}
	switch {
	case cfg.MaxPartitions < 0:
		return cfg, configErr("MaxPartitions", cfg.MaxPartitions, "must not be negative")
	case cfg.MaxPartitions == 0:
		cfg.MaxPartitions = DefaultMaxPartitions
	}
	if cfg.TLS.ALPN < transport.ALPNAuto || cfg.TLS.ALPN > transport.ALPNNone {
		return cfg, configErr("TLS.ALPN", cfg.TLS.ALPN, "unknown ALPN mode")
	}
	if (cfg.TLS.CertFile == "") != (cfg.TLS.KeyFile == "") {
		return cfg, configErr("TLS.CertFile", cfg.TLS.CertFile, "CertFile and KeyFile go together")
	}
	return cfg, nil
}

// requestFramingRoom is the part of MaxRequestBytes kept for a produce
// request's framing (topic, partition, counts, acks, timeout): batches and
// messages may use the rest.
const requestFramingRoom = 1024

// UpstreamMaxRequestBytes is what upstream RustMQ reads of one request (an
// 8 KiB buffer, type byte included): the default and the largest
// MaxRequestBytes in upstream mode.
const UpstreamMaxRequestBytes = 8192

// checkUpstream validates the settings upstream mode cannot honour and
// turns ALPNAuto into ALPNNone.
func (cfg *Config) checkUpstream() error {
	if cfg.Auth != nil {
		return configErr("Auth", fmt.Sprintf("%T", cfg.Auth), "upstream RustMQ serves no Authenticate request (its mTLS server authenticates by client certificate): not possible with Upstream")
	}
	switch cfg.TLS.ALPN {
	case transport.ALPNAuto:
		cfg.TLS.ALPN = transport.ALPNNone
	case transport.ALPNRustMQ:
		return configErr("TLS.ALPN", cfg.TLS.ALPN, "upstream RustMQ's default server configures no ALPN and stops accepting after one refused handshake: use ALPNNone (or ALPNAuto) with Upstream")
	}
	if cfg.MaxRequestBytes > UpstreamMaxRequestBytes {
		return configErr("MaxRequestBytes", cfg.MaxRequestBytes, fmt.Sprintf("upstream RustMQ reads at most %d bytes of a request: at most that with Upstream", UpstreamMaxRequestBytes))
	}
	return nil
}

// retryBackoff fills a zero backoff with def and validates it.
func retryBackoff(b, def supervision.Backoff, field string) (supervision.Backoff, error) {
	if b == (supervision.Backoff{}) {
		b = def
	}
	if err := b.Validate(); err != nil {
		var ce *supervision.ConfigError
		if errors.As(err, &ce) {
			return b, &ConfigError{Field: field + "." + strings.TrimPrefix(ce.Field, "Backoff."), Value: ce.Value, Reason: ce.Reason, Err: err}
		}
		return b, &ConfigError{Field: field, Value: b, Reason: err.Error(), Err: err}
	}
	return b.WithDefaults(), nil
}

// withDefaults validates pc and fills in defaults from pc and the runtime.
func (pc ProducerConfig) withDefaults(rc *Config) (ProducerConfig, error) {
	switch pc.Acks {
	case AcksAll, AcksLeader, AcksNone:
	default:
		return pc, configErr("Acks", pc.Acks, "must be AcksAll, AcksLeader or AcksNone")
	}
	switch pc.Idempotence {
	case IdempotenceAuto, IdempotenceOff:
		if rc.Upstream {
			pc.Idempotence = IdempotenceOff
		}
	case IdempotenceOn:
		if rc.Upstream {
			return pc, configErr("Idempotence", "IdempotenceOn", "upstream RustMQ has no idempotence (it stores the headers as plain ones and a retried batch again): not possible with Upstream")
		}
		if pc.Acks == AcksNone {
			return pc, configErr("Idempotence", "IdempotenceOn", "idempotence needs acknowledgements: not possible with AcksNone")
		}
	default:
		return pc, configErr("Idempotence", pc.Idempotence, "unknown value")
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"BatchSize", &pc.BatchSize, DefaultBatchSize},
		{"BatchBytes", &pc.BatchBytes, DefaultBatchBytes},
		{"MaxInFlight", &pc.MaxInFlight, DefaultMaxInFlight},
		{"CompressThreshold", &pc.CompressThreshold, DefaultCompressThreshold},
		{"MaxMessageBytes", &pc.MaxMessageBytes, DefaultMaxMessageBytes},
	}
	// A smaller MaxRequestBytes (upstream's 8 KiB read, for one) shrinks
	// the defaults to what one request can take, less its framing room.
	if room := rc.MaxRequestBytes - requestFramingRoom; room < DefaultBatchBytes {
		if pc.BatchBytes == 0 {
			pc.BatchBytes = int(room)
		}
		if pc.MaxMessageBytes == 0 {
			pc.MaxMessageBytes = int(room)
		}
	}
	for _, f := range ints {
		if *f.v < 0 {
			return pc, configErr(f.name, *f.v, "must not be negative")
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if pc.idempotent() && pc.MaxInFlight > MaxInFlightIdempotent {
		return pc, configErr("MaxInFlight", pc.MaxInFlight, fmt.Sprintf("at most %d with idempotence", MaxInFlightIdempotent))
	}
	if int64(pc.BatchBytes) > rc.MaxRequestBytes-requestFramingRoom {
		return pc, configErr("BatchBytes", pc.BatchBytes, fmt.Sprintf("must leave room for the request framing within the runtime's MaxRequestBytes (%d)", rc.MaxRequestBytes))
	}
	if int64(pc.MaxMessageBytes) > rc.MaxRequestBytes-requestFramingRoom {
		return pc, configErr("MaxMessageBytes", pc.MaxMessageBytes, fmt.Sprintf("must fit in one request within the runtime's MaxRequestBytes (%d)", rc.MaxRequestBytes))
	}
	switch pc.Compression {
	case compress.None, compress.Gzip, compress.LZ4, compress.Zstd:
	default:
		return pc, configErr("Compression", pc.Compression, "unknown codec")
	}
	if pc.Linger == 0 {
		pc.Linger = DefaultLinger
	} else if pc.Linger < 0 {
		pc.Linger = 0
	}
	for _, f := range []struct {
		name string
		v    *int64
		def  int64
	}{{"MaxBufferedBytes", &pc.MaxBufferedBytes, DefaultMaxBufferedBytes}, {"MaxBufferedRecords", &pc.MaxBufferedRecords, DefaultMaxBufferedRecords}} {
		if *f.v < 0 {
			return pc, configErr(f.name, *f.v, "must not be negative")
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if pc.MaxBufferedBytes < int64(pc.MaxMessageBytes) {
		return pc, configErr("MaxBufferedBytes", pc.MaxBufferedBytes, fmt.Sprintf("must hold at least one message of MaxMessageBytes (%d)", pc.MaxMessageBytes))
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"DeliveryTimeout", &pc.DeliveryTimeout, DefaultDeliveryTimeout}, {"RequestTimeout", &pc.RequestTimeout, rc.RequestTimeout}} {
		if *f.v < 0 {
			return pc, configErr(f.name, *f.v, "must not be negative")
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if pc.DeliveryTimeout > MaxDeliveryTimeout {
		return pc, configErr("DeliveryTimeout", pc.DeliveryTimeout, fmt.Sprintf("must be at most %v (MaxDeliveryTimeout)", MaxDeliveryTimeout))
	}
	rb, err := retryBackoff(pc.RetryBackoff, rc.RetryBackoff, "RetryBackoff")
	if err != nil {
		return pc, err
	}
	pc.RetryBackoff = rb
	if pc.Supervision.Backoff == (supervision.Backoff{}) {
		pc.Supervision.Backoff = supervision.Backoff{Initial: DefaultActorRestartMin, Max: DefaultActorRestartMax, Jitter: true}
	}
	if err := pc.Supervision.Validate(); err != nil {
		return pc, &ConfigError{Field: "Supervision", Value: pc.Supervision.Kind, Reason: err.Error(), Err: err}
	}
	return pc, nil
}

func (pc ProducerConfig) idempotent() bool {
	switch pc.Idempotence {
	case IdempotenceOn:
		return true
	case IdempotenceAuto:
		return pc.Acks != AcksNone
	}
	return false
}
