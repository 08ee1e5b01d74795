package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Conn is what a connection actor needs of a broker connection;
// *transport.Conn implements it.
type Conn interface {
	Do(ctx context.Context, reqType byte, body []byte) ([]byte, error)
	Context() context.Context
	Close() error
	Principal() string
	ALPN() string
}

// DialFunc opens one connection to addr, handshake and authentication
// included. It must honour ctx.
type DialFunc func(ctx context.Context, addr string) (Conn, error)

// ConnConfig configures a connection actor.
type ConnConfig struct {
	// Addr is the broker's host:port.
	Addr string
	// Dial opens the connection.
	Dial DialFunc
	// ConnectTimeout bounds one dial.
	ConnectTimeout time.Duration
	// HealthInterval is the period of the health check (a Metadata request
	// whose duration is the RTT); <= 0 disables it.
	HealthInterval time.Duration
	// MaxQueued bounds the requests waiting for the connection; beyond it
	// new requests fail at once with ErrNotConnected. Default 4096.
	MaxQueued int
	// MaxTimeouts closes the connection (the actor crashes and its
	// supervisor dials again) once this many requests on it in a row,
	// health checks included, ended without an answer within their
	// deadline: a broker that still acknowledges QUIC packets but answers
	// nothing is as good as gone. Any answer resets the count. <= 0
	// disables it.
	MaxTimeouts int
	// NoProbe skips the capabilities probe (request type 33) on a new
	// connection: a Metadata request proves it instead and the broker
	// counts as serving no extension (upstream mode, where a request the
	// broker does not know is not sent at all).
	NoProbe bool
	// StableAfter is how long a connection must have been up for its loss
	// to count as a new incident: ResetBackoff is called before the actor
	// crashes, so that the first redial is not paced by the backoff that
	// earlier failures built up. Default 1s.
	StableAfter time.Duration
	// ResetBackoff, when set, is called with the actor's PID on its
	// goroutine when a stable connection is lost (the runtime resets the
	// connections supervisor's backoff for the actor). It must not block.
	ResetBackoff func(self *actor.PID)
	// Health receives the actor's state.
	Health *HealthRegistry
	// Link is the shared handle through which the actor publishes its
	// connection while it is connected; the connections supervisor sets it
	// (one per address, kept across restarts). nil: a private one.
	Link *ConnLink
	// Logger receives connects and losses; nil discards.
	Logger *slog.Logger
}

// ConnLostError is the reason a connection actor panics with when its
// connection ends or its dial fails, so that its supervisor restarts it
// with backoff. Err is the transport's error (a *transport.ConnError for a
// lost connection).
type ConnLostError struct {
	Addr string
	Op   string // "dial" or "connection"
	Err  error
}

// Error implements the error interface.
func (e *ConnLostError) Error() string {
	return fmt.Sprintf("rustmq: %s %s: %v", e.Op, e.Addr, e.Err)
}

// Unwrap returns the transport error.
func (e *ConnLostError) Unwrap() error { return e.Err }

// internal messages of the connection actor.
type (
	dialDone struct {
		gen  uint64
		conn Conn
		err  error
	}
	connLost struct {
		gen   uint64
		cause error
	}
	healthTick struct{ gen uint64 }
	// connUnresponsive says MaxTimeouts requests in a row timed out.
	connUnresponsive struct {
		gen uint64
		n   int
		err error
	}
	healthResult struct {
		gen uint64
		rtt time.Duration
		err error
	}
	probeDone struct {
		gen  uint64
		rtt  time.Duration
		caps transport.Capabilities
		err  error
	}
)

// The actor's messages to itself may race its stop (see Response).
func (*dialDone) IgnoreDeadLetterLogging()         {}
func (*connLost) IgnoreDeadLetterLogging()         {}
func (*healthTick) IgnoreDeadLetterLogging()       {}
func (*healthResult) IgnoreDeadLetterLogging()     {}
func (*probeDone) IgnoreDeadLetterLogging()        {}
func (*connUnresponsive) IgnoreDeadLetterLogging() {}

// connActor owns one broker connection. It is rebuilt from scratch on every
// restart: all it keeps across a restart is its PID (named by address).
//
// A new connection is not "connected" until a first request on it has
// succeeded: right after the dial the actor runs the capabilities probe
// (and, when the broker does not know it, a Metadata request) and holds
// queued requests back until it answers. With
// TLS 1.3 the client's handshake completes before the broker has checked
// the client certificate, so a broker that refuses the client (no or an
// untrusted certificate under mTLS) is only found out by using the
// connection; the probe makes that a failed dial, with the broker's
// reason, instead of a "connected" state that fails on first use.
type connActor struct {
	cfg     ConnConfig
	sys     *actor.ActorSystem
	self    *actor.PID
	gen     uint64             // identifies this incarnation's goroutines and timers
	conn    Conn               // the dialled connection, probed or not
	ready   bool               // conn answered its first request
	readyAt time.Time          // when it did
	live    *LiveConn          // what this incarnation published on its link
	cancel  context.CancelFunc // cancels the dial
	queue   []*Request
	timer   *time.Timer
	stopped bool
	quit    chan struct{} // closed when this incarnation shuts down
	// final is closed when the actor stops for good (not at a restart):
	// answers of requests still running are then dropped, for their
	// requesters are stopping too (or, when the supervisor gave up, fail
	// those requests themselves when they see the actor end).
	final chan struct{}
}

var genCounter = newAtomicCounter()

// NewConnProps returns the props of a connection actor.
// opts are added to the props (the runtime's test hooks use it).
func NewConnProps(cfg ConnConfig, opts ...actor.PropsOption) *actor.Props {
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 4096
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = time.Second
	}
	if cfg.Health == nil {
		cfg.Health = NewHealthRegistry()
	}
	if cfg.Link == nil {
		cfg.Link = &ConnLink{Addr: cfg.Addr}
	}
	cfg.Logger = orDiscard(cfg.Logger)
	return actor.PropsFromProducer(func() actor.Actor {
		return &connActor{cfg: cfg}
	}, opts...)
}

// ConnLink is the shared handle of one broker address's connection actor.
// While the actor's connection is up, [ConnLink.Live] returns it, and a
// requester may run a request on it from its own goroutine instead of
// sending the connection actor a [Request]: the outcome is the same (the
// transport fails requests on a lost connection with a retriable error) and
// the request saves a mailbox hop each way. While the actor is dialling,
// Live returns nil and requests go to the actor, which queues them. A
// ConnLink is safe for concurrent use.
type ConnLink struct {
	// Addr is the broker's host:port.
	Addr string
	live atomic.Pointer[LiveConn]
}

// LiveConn is a connection that has answered its first request.
type LiveConn struct {
	Conn Conn
	// Principal is the identity the connection authenticated as.
	Principal string
	// Capabilities is the broker's answer to the capabilities probe run
	// right after the dial: which of this project's extensions it serves
	// (none, Supported false, for an upstream broker).
	Capabilities transport.Capabilities

	// timeouts counts the requests in a row that timed out; at limit
	// (when > 0) unresponsive is called once.
	timeouts     atomic.Int32
	limit        int32
	unresponsive func(n int, err error)
}

// observe records the outcome of one request run on l: whoever ran it
// calls it, from any goroutine. A success resets the count of timeouts in
// a row; the timeout that reaches the limit reports the connection
// unresponsive. Other failures are answers of a kind and change nothing.
func (l *LiveConn) observe(err error) {
	if l == nil || l.limit <= 0 {
		return
	}
	if err == nil {
		if l.timeouts.Load() != 0 {
			l.timeouts.Store(0)
		}
		return
	}
	if !errors.Is(err, ErrRequestTimeout) || errors.Is(err, transport.ErrQueuedTooLong) {
		// A request that timed out waiting for its turn was never sent.
		return
	}
	if n := l.timeouts.Add(1); n == l.limit {
		l.unresponsive(int(n), err)
	}
}

// Has reports whether the broker listed feature (a wire.Feature* name).
func (l *LiveConn) Has(feature string) bool { return l != nil && l.Capabilities.Has(feature) }

// Live returns the connection while it is up, nil otherwise.
func (l *ConnLink) Live() *LiveConn {
	if l == nil {
		return nil
	}
	return l.live.Load()
}

func (a *connActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.sys = c.ActorSystem()
		a.self = c.Self()
		a.gen = genCounter.next()
		a.quit = make(chan struct{})
		a.final = make(chan struct{})
		a.startDial()
	case *Request:
		a.onRequest(m)
	case *dialDone:
		a.onDialDone(m)
	case *probeDone:
		a.onProbeDone(m)
	case *connLost:
		if m.gen != a.gen || !a.ready {
			return
		}
		up := time.Since(a.readyAt)
		a.lost(m.cause, "rustmq: connection lost", slog.Duration("up", up.Round(time.Millisecond)))
		if up >= a.cfg.StableAfter && a.cfg.ResetBackoff != nil {
			a.cfg.ResetBackoff(a.self)
		}
		// Crash on purpose: the supervisor restarts this actor with backoff.
		panic(&ConnLostError{Addr: a.cfg.Addr, Op: "connection", Err: m.cause})
	case *connUnresponsive:
		if m.gen != a.gen || !a.ready {
			return
		}
		cause := fmt.Errorf("closed after %d requests in a row got no answer in time: %w", m.n, m.err)
		a.lost(cause, "rustmq: closing an unresponsive connection")
		panic(&ConnLostError{Addr: a.cfg.Addr, Op: "connection", Err: cause})
	case *healthTick:
		a.onHealthTick(m)
	case *healthResult:
		if m.gen != a.gen {
			return
		}
		if m.err == nil {
			a.cfg.Health.update(a.cfg.Addr, func(b *BrokerHealth) { b.RTT = m.rtt })
		} else {
			a.cfg.Health.update(a.cfg.Addr, func(b *BrokerHealth) { b.LastError = m.err })
			a.cfg.Logger.Warn("rustmq: health check failed", slog.String("broker", a.cfg.Addr), slog.Any("error", m.err))
		}
		a.live.observe(m.err)
		a.armHealth()
	case *actor.Restarting:
		a.shutdown(StateFailed)
	case *actor.Stopping:
		close(a.final)
		a.shutdown(StateStopped)
	}
}

// dialFailed records a failed dial and logs it: at Warn the first of a
// series, at Debug the ones after it (a broker that stays away would
// otherwise write a warning per redial).
func (a *connActor) dialFailed(err error, msg string) {
	n := a.cfg.Health.dialFailed(a.cfg.Addr, err)
	level := slog.LevelWarn
	if n > 1 {
		level = slog.LevelDebug
	}
	a.cfg.Logger.Log(context.Background(), level, msg, slog.String("broker", a.cfg.Addr), slog.Int("failed_dials", n), slog.Any("error", err))
}

// lost withdraws the live connection and records its loss; the caller
// crashes the actor next.
func (a *connActor) lost(cause error, msg string, attrs ...any) {
	if a.live != nil {
		a.cfg.Link.live.CompareAndSwap(a.live, nil)
		a.live = nil
	}
	a.cfg.Health.setState(a.cfg.Addr, StateFailed, cause)
	a.cfg.Logger.Warn(msg, append([]any{slog.String("broker", a.cfg.Addr), slog.Any("error", cause)}, attrs...)...)
}

// tell returns a function that sends a message to this incarnation from
// another goroutine or a timer, unless the incarnation has shut down: mail
// to a stopped actor would only reach the dead letters. It reports whether
// it sent.
func (a *connActor) tell() func(msg any) bool {
	sys, self, quit := a.sys, a.self, a.quit
	return func(msg any) bool {
		select {
		case <-quit:
			return false
		default:
			sys.Root.Send(self, msg)
			return true
		}
	}
}

func (a *connActor) startDial() {
	a.cfg.Health.setState(a.cfg.Addr, StateConnecting, nil)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ConnectTimeout)
	a.cancel = cancel
	gen, tell, dial, addr := a.gen, a.tell(), a.cfg.Dial, a.cfg.Addr
	go func() {
		conn, err := dial(ctx, addr)
		cancel()
		if !tell(&dialDone{gen: gen, conn: conn, err: err}) && conn != nil {
			_ = conn.Close()
		}
	}()
}

func (a *connActor) onDialDone(m *dialDone) {
	if m.gen != a.gen || a.stopped {
		if m.conn != nil {
			_ = m.conn.Close()
		}
		return
	}
	a.cancel = nil
	if m.err != nil {
		a.dialFailed(m.err, "rustmq: dial failed")
		a.failQueue(m.err)
		panic(&ConnLostError{Addr: a.cfg.Addr, Op: "dial", Err: m.err})
	}
	a.conn = m.conn
	// Probe the connection before declaring it connected. A loss while the
	// probe runs fails the probe, so the loss watcher starts only after.
	conn, tell, gen, timeout, noProbe := a.conn, a.tell(), a.gen, a.cfg.ConnectTimeout, a.cfg.NoProbe
	go func() {
		var caps transport.Capabilities
		var rtt time.Duration
		var err error
		if noProbe {
			rtt, err = healthCheck(conn, timeout)
		} else {
			caps, rtt, err = probe(conn, timeout)
		}
		tell(&probeDone{gen: gen, rtt: rtt, caps: caps, err: err})
	}()
}

// onProbeDone completes the connection: on success it becomes connected
// and releases the queued requests; on failure the dial counts as failed
// with the probe's error.
func (a *connActor) onProbeDone(m *probeDone) {
	if m.gen != a.gen || a.stopped || a.conn == nil {
		return
	}
	if m.err != nil {
		err := m.err
		if a.conn.Context().Err() != nil {
			// The broker closed the connection: its reason says more than
			// the request's.
			if cause := context.Cause(a.conn.Context()); cause != nil {
				err = cause
			}
		}
		_ = a.conn.Close()
		a.conn = nil
		a.dialFailed(err, "rustmq: first request on a new connection failed")
		a.failQueue(err)
		panic(&ConnLostError{Addr: a.cfg.Addr, Op: "dial", Err: err})
	}
	a.ready, a.readyAt = true, time.Now()
	a.live = &LiveConn{Conn: a.conn, Principal: a.conn.Principal(), Capabilities: m.caps, limit: int32(max(a.cfg.MaxTimeouts, 0))}
	if a.live.limit > 0 {
		tell, gen := a.tell(), a.gen
		a.live.unresponsive = func(n int, err error) { tell(&connUnresponsive{gen: gen, n: n, err: err}) }
	}
	a.cfg.Link.live.Store(a.live)
	failed := 0
	if h, ok := a.cfg.Health.get(a.cfg.Addr); ok {
		failed = h.DialFailures
	}
	a.cfg.Health.setState(a.cfg.Addr, StateConnected, nil)
	a.cfg.Health.update(a.cfg.Addr, func(b *BrokerHealth) {
		b.Principal = a.conn.Principal()
		b.ALPN = a.conn.ALPN()
		b.RTT = m.rtt
		b.Features = m.caps.Features
		b.Upstream = !m.caps.Supported
	})
	if n := a.cfg.Health.restarts(a.cfg.Addr); n > 0 {
		a.cfg.Logger.Info("rustmq: reconnected", slog.String("broker", a.cfg.Addr), slog.Int("restarts", n), slog.Int("failed_dials", failed))
	} else {
		a.cfg.Logger.Info("rustmq: connected", slog.String("broker", a.cfg.Addr), slog.Int("failed_dials", failed))
	}
	gen, tell, conn := a.gen, a.tell(), a.conn
	go func() {
		// shutdown closes quit before it closes the connection, so a loss
		// it causes itself is not reported to a stopped actor.
		ctx := conn.Context()
		<-ctx.Done()
		tell(&connLost{gen: gen, cause: context.Cause(ctx)})
	}()
	q := a.queue
	a.queue = nil
	for _, r := range q {
		a.run(r)
	}
	a.armHealth()
}

func (a *connActor) onRequest(r *Request) {
	if a.ready {
		a.run(r)
		return
	}
	if len(a.queue) >= a.cfg.MaxQueued {
		a.reply(r, nil, fmt.Errorf("%w: %s: %d requests already waiting", ErrNotConnected, a.cfg.Addr, len(a.queue)), 0)
		return
	}
	if s := r.Span; s != nil {
		s.AddEvent(EventConnQueued, trace.WithAttributes(attribute.String(AttrServerAddress, a.cfg.Addr), attribute.Int("rustmq.connection.queue", len(a.queue))))
	}
	a.queue = append(a.queue, r)
}

// run executes one request in its own goroutine; the outcome goes straight
// to the requester.
func (a *connActor) run(r *Request) {
	conn, sys, addr, live, final := a.conn, a.sys, a.cfg.Addr, a.live, a.final
	if r.cancelled() {
		return
	}
	go func() {
		ctx := context.Background()
		var cancel context.CancelFunc
		if !r.Deadline.IsZero() {
			ctx, cancel = context.WithDeadline(ctx, r.Deadline)
		}
		if r.Cancel != nil {
			var withdraw context.CancelFunc
			ctx, withdraw = context.WithCancel(ctx)
			defer withdraw()
			go func() {
				select {
				case <-r.Cancel:
					withdraw()
				case <-ctx.Done():
				}
			}()
		}
		span := r.Span
		if span != nil {
			span.AddEvent(EventConnWritten, trace.WithAttributes(attribute.Int("rustmq.request.bytes", len(r.Body))))
		}
		start := time.Now()
		body, err := conn.Do(ctx, r.ReqType, r.Body)
		rtt := time.Since(start)
		if span != nil {
			traceResponse(span, body, err, rtt)
		}
		if cancel != nil {
			if err != nil && errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w after %v: %w", ErrRequestTimeout, rtt.Round(time.Millisecond), err)
			}
			cancel()
		}
		live.observe(err)
		select {
		case <-final:
			return
		default:
		}
		if r.ReplyTo != nil && !r.cancelled() {
			sys.Root.Send(r.ReplyTo, &Response{ID: r.ID, Addr: addr, Principal: conn.Principal(), Body: body, Err: err, RTT: rtt})
		}
	}()
}

func (a *connActor) reply(r *Request, body []byte, err error, rtt time.Duration) {
	if r.ReplyTo != nil && !r.cancelled() {
		a.sys.Root.Send(r.ReplyTo, &Response{ID: r.ID, Addr: a.cfg.Addr, Body: body, Err: err, RTT: rtt})
	}
}

func (a *connActor) failQueue(cause error) {
	q := a.queue
	a.queue = nil
	err := cause
	if !isPermanent(cause) {
		err = fmt.Errorf("%w: %s: %w", ErrNotConnected, a.cfg.Addr, cause)
	}
	for _, r := range q {
		a.reply(r, nil, err, 0)
	}
}

func (a *connActor) armHealth() {
	if a.cfg.HealthInterval <= 0 || a.stopped {
		return
	}
	gen, tell := a.gen, a.tell()
	a.timer = time.AfterFunc(a.cfg.HealthInterval, func() { tell(&healthTick{gen: gen}) })
}

func (a *connActor) onHealthTick(m *healthTick) {
	if m.gen != a.gen || !a.ready {
		return
	}
	conn, tell, gen := a.conn, a.tell(), a.gen
	timeout := a.cfg.ConnectTimeout
	go func() {
		rtt, err := healthCheck(conn, timeout)
		if err != nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: health check after %v: %w", ErrRequestTimeout, rtt.Round(time.Millisecond), err)
		}
		tell(&healthResult{gen: gen, rtt: rtt, err: err})
	}()
}

// capabilitiesProber is implemented by connections that can ask the broker
// which extensions it serves (*transport.Conn does).
type capabilitiesProber interface {
	Capabilities(ctx context.Context) (transport.Capabilities, error)
}

// probe runs the first request on a new connection: the capabilities probe
// (request type 33), whose answer proves the broker accepted the
// connection and says which extensions it serves. A broker that does not
// know the request (upstream RustMQ drops the stream unanswered) serves
// none; for it, and for a connection that cannot probe, a Metadata
// request proves the connection instead. It runs in its own goroutine.
func probe(conn Conn, timeout time.Duration) (transport.Capabilities, time.Duration, error) {
	if p, ok := conn.(capabilitiesProber); ok {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		caps, err := p.Capabilities(ctx)
		rtt := time.Since(start)
		cancel()
		if err != nil {
			return caps, rtt, err
		}
		if caps.Supported {
			return caps, rtt, nil
		}
		rtt, err = healthCheck(conn, timeout)
		return caps, rtt, err
	}
	rtt, err := healthCheck(conn, timeout)
	return transport.Capabilities{}, rtt, err
}

// healthCheck runs one Metadata request for no topic on conn and returns
// its duration. It runs in its own goroutine, never in Receive.
func healthCheck(conn Conn, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req := wire.MetadataRequest{}
	start := time.Now()
	body, err := conn.Do(ctx, wire.TypeMetadata, req.Append(nil))
	rtt := time.Since(start)
	if err == nil {
		var resp wire.MetadataResponse
		err = resp.Unmarshal(body)
	}
	return rtt, err
}

// shutdown releases the incarnation's resources: queued requests fail with
// a retriable error, the dial is cancelled, the connection closed.
func (a *connActor) shutdown(state ConnState) {
	a.stopped = true
	if a.quit != nil {
		select {
		case <-a.quit:
		default:
			close(a.quit)
		}
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.failQueue(errRestarting)
	if a.live != nil {
		a.cfg.Link.live.CompareAndSwap(a.live, nil)
		a.live = nil
	}
	if a.conn != nil {
		_ = a.conn.Close()
		a.conn = nil
	}
	if state == StateStopped {
		a.cfg.Health.setState(a.cfg.Addr, StateStopped, nil)
	}
}

var errRestarting = errors.New("connection actor restarting")

// isPermanent reports whether a dial failure will not go away by itself:
// rejected credentials, TLS verification failures, bad certificate files.
// Requests waiting for such a dial fail with the dial's error as is, which
// the batcher does not retry.
func isPermanent(err error) bool {
	if err == nil || errors.Is(err, errRestarting) {
		return false
	}
	return !transport.IsRetriable(err)
}
