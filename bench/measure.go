package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// benchTopic is the topic every measurement produces to.
const benchTopic = "bench"

// setup is the knobs shared by every runtime measurement.
type setup struct {
	size        int      // value bytes per message
	partitions  int      // partitions of benchTopic
	acks        rmq.Acks // throughput runs' acknowledgement level
	compression compress.Codec
	threshold   int           // CompressThreshold; 0 = runtime default
	linger      time.Duration // throughput runs' Linger; 0 = runtime default
	batchSize   int           // throughput runs' BatchSize; 0 = runtime default
	logger      *slog.Logger  // the runtime's logger; nil = silent
	maxBuffered int64         // MaxBufferedRecords; 0 = runtime default
	// Where the broker runs: in this process (the default), in a process
	// of its own (brokerProcess), or elsewhere (brokers, trusting caPool).
	brokerProcess bool
	brokers       []string
	caPool        *x509.CertPool
}

// brokerWhere describes where s's broker runs, for the report.
func (s setup) brokerWhere() string {
	switch {
	case len(s.brokers) > 0:
		return "external broker at " + strings.Join(s.brokers, ",")
	case s.brokerProcess:
		return "development broker in its own process on 127.0.0.1 (same cores)"
	}
	return "in-process development broker on 127.0.0.1 (same process, same cores)"
}

// session is one fresh broker (unless external) and a runtime connected
// to it.
type session struct {
	closeBroker func() error
	rt          *rmq.Runtime
	addrs       []string
	pool        *x509.CertPool
}

// open starts a broker holding benchTopic (unless s names external ones)
// and a runtime whose connection is verified against the broker's CA. tp
// may be nil (no tracing).
func open(ctx context.Context, s setup, tp trace.TracerProvider) (*session, error) {
	sess := &session{closeBroker: func() error { return nil }}
	addrs, pool := s.brokers, s.caPool
	switch {
	case len(addrs) > 0:
	case s.brokerProcess:
		bp, err := startBrokerProcess(ctx, s.partitions)
		if err != nil {
			return nil, err
		}
		sess.closeBroker = bp.close
		addrs, pool = []string{bp.info.Addr}, bp.pool
	default:
		b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{benchTopic: s.partitions}})
		if err != nil {
			return nil, fmt.Errorf("start broker: %w", err)
		}
		sess.closeBroker = b.Close
		addrs, pool = []string{b.Addr()}, b.CAPool()
	}
	cfg := rmq.Config{
		Brokers:        addrs,
		ClientID:       "rustmq-bench",
		TLS:            rmq.TLSConfig{Config: &tls.Config{RootCAs: pool}},
		HealthInterval: -1,
		Logger:         s.logger,
	}
	if tp != nil {
		cfg.TracerProvider = tp
	}
	rt, err := rmq.New(cfg)
	if err != nil {
		_ = sess.closeBroker()
		return nil, fmt.Errorf("start runtime: %w", err)
	}
	sess.rt, sess.addrs, sess.pool = rt, addrs, pool
	return sess, nil
}

func (s *session) close(ctx context.Context) error {
	err := s.rt.Close(ctx)
	return errors.Join(err, s.closeBroker())
}

// warmUp sends one message and waits for it: the connection is up and the
// topic's metadata known before the clock starts.
func warmUp(ctx context.Context, p *rmq.Producer, payload []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := p.Send(wctx, &rmq.Message{Payload: payload}); err != nil {
		return fmt.Errorf("warm-up send: %w", err)
	}
	return nil
}

// payloadOf returns a value of n bytes: printable, mildly repetitive text,
// so that compression has something to do but not everything.
func payloadOf(n int) []byte {
	const alphabet = "order customer amount currency EUR USD item sku 0123456789 "
	p := make([]byte, n)
	x := uint32(2463534242)
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if i%16 < 12 {
			p[i] = alphabet[i%len(alphabet)]
		} else {
			p[i] = 'a' + byte(x%26)
		}
	}
	return p
}

// throughput is the outcome of one SendAsync run.
type throughput struct {
	workers   int
	delivered int64
	failed    int64
	firstErr  error
	elapsed   time.Duration
	metrics   rmq.Metrics
	cpu       time.Duration // CPU time of this process during the run
	mallocs   uint64        // heap allocations of this process during the run
}

// cpuPerMsg is this process's CPU time per acknowledged message.
func (t throughput) cpuPerMsg() time.Duration {
	if t.delivered == 0 {
		return 0
	}
	return t.cpu / time.Duration(t.delivered)
}

// allocsPerMsg is this process's allocations per acknowledged message.
func (t throughput) allocsPerMsg() float64 {
	if t.delivered == 0 {
		return 0
	}
	return float64(t.mallocs) / float64(t.delivered)
}

func (t throughput) msgsPerSec() float64 { return float64(t.delivered) / t.elapsed.Seconds() }

func (t throughput) mbPerSec(size int) float64 {
	return float64(t.delivered) * float64(size) / 1e6 / t.elapsed.Seconds()
}

// runThroughput has workers goroutines call SendAsync for d, then flushes.
// The elapsed time runs from the first send to the end of the flush, so the
// rate counts only acknowledged messages.
func runThroughput(ctx context.Context, s setup, workers int, d time.Duration, tp trace.TracerProvider) (throughput, error) {
	res := throughput{workers: workers}
	sess, err := open(ctx, s, tp)
	if err != nil {
		return res, err
	}
	defer func() { _ = sess.close(context.Background()) }()
	p, err := sess.rt.CreateProducer(benchTopic, rmq.ProducerConfig{
		Acks: s.acks, Compression: s.compression, CompressThreshold: s.threshold,
		Linger: s.linger, BatchSize: s.batchSize, MaxBufferedRecords: s.maxBuffered,
	})
	if err != nil {
		return res, err
	}
	payload := payloadOf(s.size)
	if err := warmUp(ctx, p, payload); err != nil {
		return res, err
	}
	var delivered, failed atomic.Int64
	var errOnce sync.Once
	cb := func(_ *rmq.Result, err error) {
		if err != nil {
			failed.Add(1)
			errOnce.Do(func() { res.firstErr = err })
			return
		}
		delivered.Add(1)
	}
	var stop atomic.Bool
	// Start from a collected heap: the previous run's broker held every
	// record it was sent, and its garbage should not be this run's cost.
	goruntime.GC()
	var ms0 goruntime.MemStats
	goruntime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	var wg sync.WaitGroup
	var sendErr atomic.Pointer[error]
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				if err := p.SendAsync(ctx, &rmq.Message{Payload: payload}, cb); err != nil {
					// A copy, so that err itself stays on the stack: taking
					// its address in the loop costs an allocation per send.
					keep := err
					sendErr.CompareAndSwap(nil, &keep)
					return
				}
			}
		})
	}
	wg.Wait()
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		return res, err
	}
	res.elapsed = time.Since(start)
	res.cpu = cpuTime() - cpu0
	var ms1 goruntime.MemStats
	goruntime.ReadMemStats(&ms1)
	res.mallocs = ms1.Mallocs - ms0.Mallocs
	res.delivered, res.failed = delivered.Load(), failed.Load()
	res.metrics = p.Metrics()
	if e := sendErr.Load(); e != nil {
		return res, fmt.Errorf("SendAsync: %w", *e)
	}
	return res, p.Close(fctx)
}

// runLatency sends n messages one after the other with acks Leader and no
// linger and returns each Send's duration (after warm-up messages), and,
// as a baseline doing the same broker work, the round trips of the same
// produce request (one record, acks Leader) on a bare transport connection
// to the same broker, and raw's round trips (a quic-go exchange with a
// server that does no work), each taken in turn with the Sends.
func runLatency(ctx context.Context, s setup, n int, raw func() (time.Duration, error)) (send, produce, rawLat latencies, err error) {
	sess, err := open(ctx, s, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() { _ = sess.close(context.Background()) }()
	p, err := sess.rt.CreateProducer(benchTopic, rmq.ProducerConfig{Acks: rmq.AcksLeader, Linger: -1})
	if err != nil {
		return nil, nil, nil, err
	}
	payload := payloadOf(s.size)
	for range 200 {
		if err := warmUp(ctx, p, payload); err != nil {
			return nil, nil, nil, err
		}
	}
	d, err := transport.NewDialer(transport.Config{TLS: transport.TLSConfig{Config: &tls.Config{RootCAs: sess.pool}}})
	if err != nil {
		return nil, nil, nil, err
	}
	conn, err := d.Dial(ctx, sess.addrs[0])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dial for the produce baseline: %w", err)
	}
	defer func() { _ = conn.Close() }()
	req := wire.ProduceRequest{Topic: benchTopic, Records: []wire.Record{{Value: payload, Timestamp: time.Now().UnixMilli()}}, Acks: wire.Acks{Level: wire.AckLeader}, TimeoutMs: 30_000}
	body := req.Append(nil)
	do := func() (time.Duration, error) {
		t0 := time.Now()
		_, err := conn.Do(ctx, wire.TypeProduce, body)
		return time.Since(t0), err
	}
	for range 200 {
		if _, err := do(); err != nil {
			return nil, nil, nil, fmt.Errorf("produce baseline: %w", err)
		}
	}
	for range 200 {
		if _, err := raw(); err != nil {
			return nil, nil, nil, fmt.Errorf("raw round trip: %w", err)
		}
	}
	send, produce, rawLat = make(latencies, 0, n), make(latencies, 0, n), make(latencies, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := p.Send(ctx, &rmq.Message{Payload: payload}); err != nil {
			return nil, nil, nil, fmt.Errorf("send: %w", err)
		}
		send = append(send, time.Since(t0))
		rt, err := do()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("produce baseline: %w", err)
		}
		produce = append(produce, rt)
		rt, err = raw()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("raw round trip: %w", err)
		}
		rawLat = append(rawLat, rt)
	}
	return send, produce, rawLat, p.Close(ctx)
}
