package runtime

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Runtime is the producer runtime: an actor system holding one connection
// actor per broker under a supervisor, a metadata actor, and the producers
// created from it. It is safe for concurrent use. Close it when done.
type Runtime struct {
	cfg       Config
	sys       *actor.ActorSystem
	top       *actor.PID
	conns     *actor.PID
	metadata  *actor.PID
	producers *actor.PID
	readers   *actor.PID // parent of the readers' groups (reader.go)
	health    *actors.HealthRegistry
	log       *slog.Logger
	tracer    trace.Tracer
	inst      *instruments // nil without a MeterProvider
	// certPrincipal is the common name of the client certificate, which a
	// broker takes as the principal under mTLS without Authenticate.
	certPrincipal string
	// hooks are the tests' (see Config.hooks); nil otherwise.
	hooks *testHooks

	// actorLogOff silences protoactor's logger once the system is shut down.
	actorLogOff *atomic.Bool

	mu        sync.Mutex
	live      map[*Producer]struct{}
	closed    bool
	nextProdN int
}

// BrokerHealth is the health of one broker connection, as reported by
// [Runtime.Health].
type BrokerHealth struct {
	// Addr is the broker's host:port.
	Addr string
	// State is "connecting", "connected", "failed" or "stopped". A
	// connection is "connected" only once the broker has answered a first
	// request on it (a health check right after the dial): a broker that
	// refuses the client after the handshake, such as an mTLS broker
	// given no client certificate, shows "failed" with its reason in
	// LastError.
	State string
	// LastError is the last dial, connection or health-check failure since
	// the last success; nil if none.
	LastError error
	// Restarts counts the supervisor's restarts of the connection actor.
	Restarts int
	// RTT is the duration of the last successful health check.
	RTT time.Duration
	// Since is when the connection entered State.
	Since time.Time
	// Principal is the identity the connection authenticated as.
	Principal string
	// ALPN is the negotiated application protocol ("" without ALPN).
	ALPN string
	// Features are the extensions of this project the broker serves, as
	// it listed them in its answer to the capabilities probe run on each
	// new connection ("idempotence", "reorder-window", "authenticate",
	// "whole-requests").
	Features []string
	// Upstream says the broker did not answer the probe, as upstream
	// RustMQ does not: it serves none of the extensions.
	Upstream bool
	// DialFailures counts the dials in a row that failed since the broker
	// was last connected.
	DialFailures int
}

const tracerName = "github.com/rustmq/rustmq-go/runtime"

// New validates cfg, starts the actor system and the connection actors of
// the bootstrap brokers, and returns the runtime. It does not wait for any
// connection: use [Runtime.Health] to see their state. Invalid settings
// yield a *ConfigError naming the field.
func New(cfg Config) (*Runtime, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer, err := transport.NewDialer(transport.Config{
		TLS: transport.TLSConfig{
			CAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
			ServerName: cfg.TLS.ServerName, InsecureSkipVerify: cfg.TLS.InsecureSkipVerify, Config: cfg.TLS.Config,
		},
		ALPN:             cfg.TLS.ALPN,
		DialTimeout:      cfg.ConnectTimeout,
		KeepAlivePeriod:  cfg.KeepAlive,
		IdleTimeout:      cfg.IdleTimeout,
		MaxRequestBytes:  cfg.MaxRequestBytes,
		MaxResponseBytes: cfg.MaxResponseBytes,
		SerialRequests:   cfg.Upstream,
		Auth:             cfg.Auth,
		Logger:           log,
	})
	if err != nil {
		return nil, &ConfigError{Field: "TLS", Value: cfg.TLS.CAFile, Reason: err.Error(), Err: err}
	}
	logOff := new(atomic.Bool)
	opts := []actor.ConfigOption{
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(demoteHandler{log.Handler(), logOff}).With("lib", "protoactor")
		}),
		actor.WithDeadLetterThrottleInterval(100 * time.Millisecond),
	}
	if cfg.ActorMetrics {
		mp := cfg.MeterProvider
		if mp == nil {
			mp = otel.GetMeterProvider()
		}
		opts = append(opts, actor.WithMetricProviders(mp))
	}
	r := &Runtime{
		hooks:       cfg.hooks,
		actorLogOff: logOff,
		cfg:         cfg,
		sys:         actor.NewActorSystem(opts...),
		health:      actors.NewHealthRegistry(),
		log:         log,
		live:        make(map[*Producer]struct{}),
	}
	for _, addr := range cfg.Brokers {
		r.health.Register(addr)
	}
	if cfg.Auth == nil && cfg.TLS.CertFile != "" {
		r.certPrincipal = certCommonName(cfg.TLS.CertFile)
	}
	if cfg.TracerProvider != nil {
		r.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	if cfg.MeterProvider != nil {
		if r.inst, err = newInstruments(cfg.MeterProvider, cfg.ClientID, r.health); err != nil {
			r.sys.Shutdown()
			return nil, err
		}
	}
	dial := func(ctx context.Context, addr string) (actors.Conn, error) {
		c, err := dialer.Dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	// Every actor is below the top-level supervisor, which has a guardian
	// of our own, so that this package's strategies, not protoactor's
	// default, decide about all of them. The supervisors (top,
	// connections, producers, and each producer's actor) hold nothing a
	// failed message could leave half changed, and restarting one would
	// stop all its children first: they are resumed. The metadata actor
	// is restarted, its state kept (see actors.NewMetadataProps).
	resume := supervision.NewStrategy(supervision.Config{Decider: supervision.ResumeDecider, MaxRestarts: -1, Logger: log})
	restart := supervision.NewStrategy(supervision.Config{MaxRestarts: -1, Logger: log,
		Backoff: supervision.Backoff{Initial: 10 * time.Millisecond, Max: time.Second, Jitter: true}})
	topProps := actors.NewParentProps(supervision.PerChild(func(child *actor.PID) actor.SupervisorStrategy {
		if strings.HasSuffix(child.Id, "/metadata") {
			return restart
		}
		return resume
	}), append([]actor.PropsOption{actor.WithGuardian(resume)}, r.propsOptions()...)...)
	top, err := r.sys.Root.SpawnNamed(topProps, "rustmq")
	if err != nil {
		r.sys.Shutdown()
		return nil, fmt.Errorf("rustmq: start actor system: %w", err)
	}
	r.top = top
	connStrategy, err := supervision.New(r.connSupervision())
	if err != nil {
		r.sys.Shutdown()
		return nil, &ConfigError{Field: "Supervision", Value: cfg.Supervision.Kind, Reason: err.Error(), Err: err}
	}
	connConfig := func(addr string) actors.ConnConfig {
		return actors.ConnConfig{
			Addr: addr, Dial: dial, ConnectTimeout: cfg.ConnectTimeout,
			HealthInterval: cfg.HealthInterval, MaxTimeouts: cfg.MaxConsecutiveTimeouts, NoProbe: cfg.Upstream,
			ResetBackoff: connStrategy.Reset, Health: r.health, Logger: log,
		}
	}
	steps := []struct {
		name  string
		props *actor.Props
		pid   **actor.PID
	}{
		{"connections", actors.NewConnSupervisorProps(connStrategy, connConfig, r.propsOptions()...), &r.conns},
		{"producers", actors.NewParentProps(resume, r.propsOptions()...), &r.producers},
		{"readers", actors.NewParentProps(resume, r.propsOptions()...), &r.readers},
	}
	for _, s := range steps {
		if *s.pid, err = r.spawn(top, s.props, s.name); err != nil {
			r.shutdown()
			return nil, err
		}
	}
	refresh := cfg.MetadataRefresh
	if refresh < 0 {
		refresh = 0
	}
	r.metadata, err = r.spawn(top, actors.NewMetadataProps(actors.MetadataConfig{
		Bootstrap: cfg.Brokers, StaticPartitions: cfg.StaticPartitions, Upstream: cfg.Upstream, RefreshInterval: refresh,
		RequestTimeout: cfg.RequestTimeout, RetryBackoff: cfg.RetryBackoff, ConnSupervisor: r.conns,
		UnknownTopicGrace: max(cfg.UnknownTopicGrace, 0), UnreachableAfter: max(cfg.UnreachableDials, 0),
		MaxPartitions: cfg.MaxPartitions, Health: r.health, Logger: log,
	}, r.propsOptions()...), "metadata")
	if err != nil {
		r.shutdown()
		return nil, err
	}
	return r, nil
}

// spawn asks parent to spawn a child and waits for its PID.
func (r *Runtime) spawn(parent *actor.PID, props *actor.Props, name string) (*actor.PID, error) {
	reply := make(chan actors.SpawnResult, 1)
	r.sys.Root.Send(parent, &actors.SpawnChild{Props: props, Name: name, Reply: reply})
	select {
	case res := <-reply:
		if res.Err != nil {
			return nil, fmt.Errorf("rustmq: spawn %s: %w", name, res.Err)
		}
		return res.PID, nil
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("rustmq: spawn %s: no answer from the actor system", name)
	}
}

// Health reports the state of every broker connection, sorted by address.
// Every bootstrap broker is listed from the start ("connecting" until its
// first dial ends), and so is every other broker the runtime dialled.
func (r *Runtime) Health() []BrokerHealth {
	snap := r.health.Snapshot()
	out := make([]BrokerHealth, len(snap))
	for i, b := range snap {
		out[i] = BrokerHealth{Addr: b.Addr, State: b.State.String(), LastError: b.LastError, Restarts: b.Restarts,
			RTT: b.RTT, Since: b.Since, Principal: b.Principal, ALPN: b.ALPN, Features: b.Features, Upstream: b.Upstream,
			DialFailures: b.DialFailures}
	}
	return out
}

// CreateProducer returns a producer whose messages go to topic unless a
// message names its own (topic may be "" if every message does). Invalid
// settings yield a *ConfigError naming the field ("topic" for a name that
// wire.ValidateTopic refuses: empty is allowed here, invalid UTF-8 or more
// than wire.MaxTopicNameBytes bytes is not); after Close, ErrClosed.
func (r *Runtime) CreateProducer(topic string, cfg ProducerConfig) (*Producer, error) {
	if topic != "" {
		if err := wire.ValidateTopic(topic); err != nil {
			// The error's copy of the name is cut to a sane length.
			value, reason := "", err.Error()
			if ne, ok := errors.AsType[*wire.NameError](err); ok {
				value, reason = strconv.Quote(ne.Name), ne.Reason
			}
			return nil, &ConfigError{Field: "topic", Value: value, Reason: "invalid topic name: " + reason, Err: err}
		}
	}
	if err := r.checkStatic(topic); err != nil {
		return nil, err
	}
	pc, err := cfg.withDefaults(&r.cfg)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.nextProdN++
	n := r.nextProdN
	r.mu.Unlock()
	p := newProducer(r, topic, pc)
	name := fmt.Sprintf("producer-%d", n)
	if r.inst != nil {
		if p.metricsReg, err = r.inst.registerProducer(p, name); err != nil {
			p.delivery.close()
			return nil, err
		}
	}
	ready := make(chan *actor.PID, 1)
	pid, err := r.spawn(r.producers, p.actorProps(ready), name)
	if err != nil {
		p.unregisterMetrics()
		p.delivery.close()
		return nil, err
	}
	p.pid = pid
	select {
	case p.router = <-ready:
	case <-time.After(10 * time.Second):
		r.sys.Root.Stop(pid)
		p.unregisterMetrics()
		p.delivery.close()
		return nil, fmt.Errorf("rustmq: spawn %s: its router never started", name)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.sys.Root.Stop(pid)
		p.unregisterMetrics()
		p.delivery.close()
		return nil, ErrClosed
	}
	r.live[p] = struct{}{}
	r.mu.Unlock()
	return p, nil
}

// checkStatic refuses, in upstream mode, a topic whose partition count
// StaticPartitions does not give: upstream's Metadata lists no topics.
func (r *Runtime) checkStatic(topic string) error {
	if !r.cfg.Upstream || topic == "" || r.cfg.StaticPartitions[topic] > 0 {
		return nil
	}
	return configErr("StaticPartitions["+topic+"]", 0, "upstream RustMQ's metadata lists no topics: with Upstream every topic produced to needs its partition count here")
}

func (r *Runtime) forget(p *Producer) {
	r.mu.Lock()
	delete(r.live, p)
	r.mu.Unlock()
}

// Close closes every producer (each flushes, then fails what is left when
// ctx ends, see [Producer.Close]), stops the actors, closes the broker
// connections and shuts the actor system down. It returns ctx's error if ctx
// ended before the producers were flushed; later calls return nil.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	live := make([]*Producer, 0, len(r.live))
	for p := range r.live {
		live = append(live, p)
	}
	r.mu.Unlock()
	var first error
	for _, p := range live {
		if err := p.Close(ctx); err != nil && first == nil {
			first = err
		}
	}
	r.shutdown()
	return first
}

// shutdown stops the actor tree and waits (briefly) for it to be gone. The
// subtrees stop one after the other, each waited for, in the order that
// leaves nobody talking to an actor already gone: the readers and
// producers, then the metadata actor (which asks for connections), then
// the connections. Stopping them all at once would let the metadata actor
// ask a stopping supervisor for connections, and let answers reach actors
// already gone (dead letters).
func (r *Runtime) shutdown() {
	if r.top != nil {
		deadline := time.NewTimer(shutdownGrace)
		defer deadline.Stop()
		for _, pid := range []*actor.PID{r.readers, r.producers, r.metadata, r.conns} {
			if pid == nil {
				continue
			}
			done := make(chan struct{})
			r.sys.Root.Send(r.top, &actors.StopChild{PID: pid, Done: done})
			select {
			case <-done:
				continue
			case <-deadline.C:
			}
			r.log.Warn("rustmq: the actors did not stop in time; shutting the actor system down", "grace", shutdownGrace)
			break
		}
		_ = r.sys.Root.StopFuture(r.top).Wait()
	}
	r.sys.Shutdown()
	r.actorLogOff.Store(true)
	if r.inst != nil {
		_ = r.inst.runtimeReg.Unregister()
	}
}

// shutdownGrace bounds the wait for the actor tree to stop.
const shutdownGrace = 5 * time.Second

// certCommonName returns the subject common name of the first certificate
// in a PEM file, "" when it cannot be read.
func certCommonName(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return ""
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return ""
	}
	return cert.Subject.CommonName
}
