package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/internal/devcert"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// ALPN is the application protocol the broker requires unless Config.NoALPN.
const ALPN = "rustmq"

// Broker is a running development broker: one node, or several in cluster
// mode. Create it with Start and stop it with Close. Its methods are safe
// for concurrent use.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	tlsConf *tls.Config
	caPEM   []byte
	caPool  *x509.CertPool
	auth    authServer // nil when Config.Auth is nil
	reset   quic.StatelessResetKey

	nodes []*node

	mu     sync.RWMutex
	topics map[string]*topic
	closed bool

	notifyMu sync.Mutex
	faults   faults

	// stop ends Fetch long polls and Produce waits when the broker closes.
	stopCtx context.Context
	stop    context.CancelFunc
}

// Start validates cfg, opens (and in durable mode recovers) the topics'
// logs, and starts listening on every node. ctx bounds the start only; the
// broker then runs until Close.
//
// Errors: a bad Config wraps ErrInvalidConfig; a port that cannot be bound
// or a data directory that cannot be recovered is returned as is.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, topics: map[string]*topic{}}
	b.stopCtx, b.stop = context.WithCancel(context.Background())
	if cfg.StatelessResetKey != nil {
		b.reset = *cfg.StatelessResetKey
	} else if _, err := rand.Read(b.reset[:]); err != nil {
		return nil, fmt.Errorf("broker: stateless reset key: %w", err)
	}
	if err := b.setupTLS(); err != nil {
		return nil, err
	}
	if cfg.Auth != nil {
		if b.auth, err = newAuthServer(cfg.Auth); err != nil {
			return nil, fmt.Errorf("%w: Auth: %w", ErrInvalidConfig, err)
		}
	}
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, _ := strconv.Atoi(portStr)
	for i := 0; i < cfg.Brokers; i++ {
		addr := net.JoinHostPort(host, "0")
		if port != 0 {
			addr = net.JoinHostPort(host, strconv.Itoa(port+i))
		}
		b.nodes = append(b.nodes, &node{b: b, index: i, id: "broker-" + strconv.Itoa(i), listen: addr, conns: map[*connection]struct{}{}, handshakes: map[*handshake]struct{}{}})
	}
	if err := b.openTopics(ctx); err != nil {
		b.closeLogs()
		return nil, err
	}
	for _, n := range b.nodes {
		if err := n.start(); err != nil {
			_ = b.Close()
			return nil, err
		}
	}
	b.log.Info("broker started", "addrs", b.Addrs(), "topics", len(b.topics), "durable", cfg.DataDir != "", "alpn", !cfg.NoALPN)
	return b, nil
}

// openTopics creates the configured topics and, in durable mode, those found
// in the data directory.
func (b *Broker) openTopics(ctx context.Context) error {
	want := map[string]int{}
	if b.cfg.DataDir != "" {
		for name, n := range discoverTopics(b.cfg.DataDir) {
			want[name] = n
		}
	}
	for name, n := range b.cfg.Topics {
		if n < want[name] {
			return fmt.Errorf("%w: Topics[%q] = %d but the data directory holds %d partitions", ErrInvalidConfig, name, n, want[name])
		}
		want[name] = n
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := b.createTopicLocked(name, want[name]); err != nil {
			return err
		}
	}
	return nil
}

func (b *Broker) setupTLS() error {
	var cert tls.Certificate
	if b.cfg.Certificate != nil {
		cert = *b.cfg.Certificate
	} else {
		ca, err := devcert.NewCA("rustmq-go development broker CA")
		if err != nil {
			return fmt.Errorf("broker: generate CA: %w", err)
		}
		if cert, err = ca.IssueServer(); err != nil {
			return fmt.Errorf("broker: issue server certificate: %w", err)
		}
		b.caPEM = ca.CertPEM
		b.caPool = ca.Pool()
	}
	b.tlsConf = &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
	}
	if !b.cfg.NoALPN {
		b.tlsConf.NextProtos = []string{ALPN}
	}
	if b.cfg.ClientCAs != nil {
		b.tlsConf.ClientCAs = b.cfg.ClientCAs
		b.tlsConf.ClientAuth = tls.VerifyClientCertIfGiven
		if b.cfg.RequireClientCert {
			b.tlsConf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return nil
}

// Addr returns node 0's address (host:port, UDP).
func (b *Broker) Addr() string { return b.nodes[0].addr() }

// Addrs returns every node's address, in node order.
func (b *Broker) Addrs() []string {
	out := make([]string, len(b.nodes))
	for i, n := range b.nodes {
		out[i] = n.addr()
	}
	return out
}

// NodeID returns the broker id of node i as it appears in Metadata
// ("broker-<i>"), or "" when i is out of range.
func (b *Broker) NodeID(i int) string {
	if i < 0 || i >= len(b.nodes) {
		return ""
	}
	return b.nodes[i].id
}

// CACertPEM returns the PEM certificate of the generated CA that clients
// should trust, or nil when Config.Certificate was given.
func (b *Broker) CACertPEM() []byte { return b.caPEM }

// StatelessResetKey returns the key the broker derives its stateless reset
// tokens from: Config.StatelessResetKey, or the random key made by Start.
// Start a broker on the same address with this key to reset the
// connections of this one.
func (b *Broker) StatelessResetKey() quic.StatelessResetKey { return b.reset }

// CAPool returns a pool holding the generated CA, or nil when
// Config.Certificate was given.
func (b *Broker) CAPool() *x509.CertPool { return b.caPool }

// Close stops every node (closing client connections), ends waiting
// requests, and closes the partition logs. It is safe to call more than
// once; later calls return nil.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.stop()
	var errs []error
	for _, n := range b.nodes {
		if err := n.stopNode(false); err != nil && !errors.Is(err, ErrNodeStopped) {
			errs = append(errs, err)
		}
	}
	if err := b.closeLogs(); err != nil {
		errs = append(errs, err)
	}
	b.log.Info("broker closed")
	return errors.Join(errs...)
}

func (b *Broker) closeLogs() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, t := range b.topics {
		for _, p := range t.partitions {
			if err := p.log.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s/%d: %w", t.name, p.id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// CreateTopic creates a topic with the given partition count, leaders
// spread round robin over the nodes. Creating an existing topic with the
// same count is a no-op; with another count it is an error.
func (b *Broker) CreateTopic(name string, partitions int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	_, err := b.createTopicLocked(name, partitions)
	return err
}

// Topics returns the topics and their partition counts.
func (b *Broker) Topics() map[string]int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make(map[string]int, len(b.topics))
	for name, t := range b.topics {
		out[name] = len(t.partitions)
	}
	return out
}

// Records returns copies of every record of a partition, in offset order,
// for assertions; nil for an unknown topic or partition.
func (b *Broker) Records(topic string, partition uint32) []wire.Record {
	b.mu.RLock()
	t, ok := b.topics[topic]
	b.mu.RUnlock()
	if !ok || int64(partition) >= int64(len(t.partitions)) {
		return nil
	}
	var out []wire.Record
	t.partitions[partition].log.Batches(func(_ uint64, records []wire.Record) bool {
		for _, r := range records {
			out = append(out, copyRecord(r))
		}
		return true
	})
	return out
}

// HighWatermark returns the offset the next record of a partition will get,
// and false for an unknown topic or partition.
func (b *Broker) HighWatermark(topic string, partition uint32) (uint64, bool) {
	b.mu.RLock()
	t, ok := b.topics[topic]
	b.mu.RUnlock()
	if !ok || int64(partition) >= int64(len(t.partitions)) {
		return 0, false
	}
	return t.partitions[partition].log.HighWatermark(), true
}

// copyRecord deep-copies r, so callers may keep it while the log changes.
func copyRecord(r wire.Record) wire.Record {
	c := wire.Record{Timestamp: r.Timestamp}
	if r.Key != nil {
		c.Key = append([]byte{}, r.Key...)
	}
	c.Value = append([]byte{}, r.Value...)
	for _, h := range r.Headers {
		c.Headers = append(c.Headers, wire.Header{Key: h.Key, Value: append([]byte{}, h.Value...)})
	}
	return c
}
