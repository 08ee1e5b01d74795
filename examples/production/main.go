package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/supervision"
)

// Order is the JSON payload of one message.
type Order struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"customer_id"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	CreatedAt  time.Time `json:"created_at"`
}

// Item is one line of an order.
type Item struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// flags are the command line settings.
type flags struct {
	brokers, caFile, certFile, keyFile string
	topic                              string
	partitions                         int
	workers                            int
	rate                               float64
	duration                           time.Duration
	messages                           int64
	customers                          int
	report                             time.Duration
	shutdown                           time.Duration
	metricsAddr                        string
	logLevel                           slog.Level
}

func parseFlags() (flags, error) {
	var f flags
	flag.StringVar(&f.brokers, "brokers", "", "comma-separated broker addresses (default: start an in-process development broker)")
	flag.StringVar(&f.caFile, "ca", "", "PEM file of the CA that signs the brokers' certificates")
	flag.StringVar(&f.certFile, "cert", "", "PEM client certificate for mTLS (optional)")
	flag.StringVar(&f.keyFile, "key", "", "PEM client key for mTLS (optional)")
	flag.StringVar(&f.topic, "topic", "orders", "topic to produce to")
	flag.IntVar(&f.partitions, "partitions", 6, "partitions of the topic on the in-process broker")
	flag.IntVar(&f.workers, "workers", 4, "worker goroutines producing orders")
	flag.Float64Var(&f.rate, "rate", 1000, "orders per second across all workers (0: as fast as possible)")
	flag.DurationVar(&f.duration, "duration", 10*time.Second, "stop after this long (0: run until SIGINT/SIGTERM)")
	flag.Int64Var(&f.messages, "messages", 0, "stop after this many orders (0: no limit)")
	flag.IntVar(&f.customers, "customers", 50, "distinct customers (message keys)")
	flag.DurationVar(&f.report, "report", time.Second, "interval of the metrics line")
	flag.DurationVar(&f.shutdown, "shutdown-timeout", 15*time.Second, "deadline for flushing and closing at shutdown")
	flag.StringVar(&f.metricsAddr, "metrics-addr", "", "serve the runtime's metrics for Prometheus on this address (e.g. :9464) at /metrics")
	level := flag.String("log-level", "info", "level of the slog lines on stderr: debug, info, warn or error")
	flag.Parse()
	if err := f.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return f, fmt.Errorf("-log-level: %w", err)
	}
	switch {
	case f.workers < 1:
		return f, fmt.Errorf("-workers: %d must be at least 1", f.workers)
	case f.rate < 0:
		return f, fmt.Errorf("-rate: %v must not be negative", f.rate)
	case f.duration < 0:
		return f, fmt.Errorf("-duration: %v must not be negative", f.duration)
	case f.messages < 0:
		return f, fmt.Errorf("-messages: %d must not be negative", f.messages)
	case f.customers < 1:
		return f, fmt.Errorf("-customers: %d must be at least 1", f.customers)
	case f.report <= 0:
		return f, fmt.Errorf("-report: %v must be positive", f.report)
	case f.shutdown <= 0:
		return f, fmt.Errorf("-shutdown-timeout: %v must be positive", f.shutdown)
	}
	return f, nil
}

func main() {
	f, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "production:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: f.logLevel}))
	failed, err := run(f, log)
	if err != nil {
		log.Error("run failed", slog.Any("error", err))
		os.Exit(1)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// run produces until a signal, -duration or -messages, shuts down, prints
// the summary and returns the number of failed orders.
func run(f flags, log *slog.Logger) (int64, error) {
	// stop ends intake: a signal, the duration, or the message budget.
	sig, cancelSig := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancelSig()
	stop, endIntake := context.WithCancelCause(sig)
	defer endIntake(nil)
	if f.duration > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithTimeoutCause(stop, f.duration, errDuration)
		defer cancel()
	}

	cfg := rmq.Config{
		ClientID:       "orders-service",
		Logger:         log,
		ConnectTimeout: 5 * time.Second,
		RequestTimeout: 10 * time.Second,
		HealthInterval: f.report,
		// Connection actors restart after a capped exponential backoff; after
		// 20 restarts within a minute the supervisor gives up on a broker.
		Supervision: supervision.Config{
			Backoff:     supervision.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: true},
			MaxRestarts: 20, Window: time.Minute,
		},
	}
	if f.brokers == "" {
		bctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b, err := broker.Start(bctx, broker.Config{Topics: map[string]int{f.topic: f.partitions}})
		cancel()
		if err != nil {
			return 0, fmt.Errorf("start development broker: %w", err)
		}
		defer b.Close()
		// Trust the broker's generated CA directly; with real brokers the
		// same setting comes from a CA file (-ca).
		cfg.Brokers, cfg.TLS.Config = []string{b.Addr()}, &tls.Config{RootCAs: b.CAPool()}
		fmt.Printf("started a development broker on %s (topic %q, %d partitions)\n", b.Addr(), f.topic, f.partitions)
	} else {
		cfg.Brokers = strings.Split(f.brokers, ",")
		cfg.TLS = rmq.TLSConfig{CAFile: f.caFile, CertFile: f.certFile, KeyFile: f.keyFile}
	}

	if f.metricsAddr != "" {
		ms, err := startMetrics(f.metricsAddr, log)
		if err != nil {
			return 0, err
		}
		defer ms.stop()
		cfg.MeterProvider = ms.provider
	}

	rt, err := rmq.New(cfg)
	if err != nil {
		return 0, err
	}
	p, err := rt.CreateProducer(f.topic, rmq.ProducerConfig{
		Acks:        rmq.AcksAll,
		Idempotence: rmq.IdempotenceOn,
		Linger:      10 * time.Millisecond,
		// Retry a failed batch up to 10 times, 100ms doubling to 3s with
		// jitter, and give every order at most 30s to be acknowledged.
		MaxRetries:         10,
		RetryBackoff:       supervision.Backoff{Initial: 100 * time.Millisecond, Max: 3 * time.Second, Multiplier: 2, Jitter: true},
		DeliveryTimeout:    30 * time.Second,
		MaxBufferedRecords: 100_000,
	})
	if err != nil {
		_ = rt.Close(context.Background())
		return 0, err
	}
	log.Info("producing", slog.String("topic", f.topic), slog.Int("workers", f.workers),
		slog.Float64("rate", f.rate), slog.Duration("duration", f.duration), slog.Int64("messages", f.messages))

	// deliver bounds the life of accepted orders: it outlives stop so that
	// orders already accepted are still delivered during shutdown, and ends
	// at the shutdown deadline.
	deliver, cancelDeliver := context.WithCancel(context.Background())
	defer cancelDeliver()

	c := &counters{}
	var wg sync.WaitGroup
	for w := range f.workers {
		wg.Go(func() { worker(stop, deliver, p, f, w, c, log, endIntake) })
	}
	reportDone := make(chan struct{})
	go func() {
		defer close(reportDone)
		report(stop, f.report, p, rt)
	}()
	<-stop.Done()
	why := context.Cause(stop)
	if sig.Err() != nil {
		why = errSignal
	}
	log.Info("shutting down", slog.String("reason", why.Error()))

	// Graceful shutdown: stop the workers, flush, close, all within the
	// deadline; what is still pending at the deadline fails with ErrClosed.
	wg.Wait()
	<-reportDone
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdown)
	defer cancel()
	stopDeliverAtDeadline := context.AfterFunc(sctx, cancelDeliver)
	defer stopDeliverAtDeadline()
	var shutdownErr error
	if err := p.Flush(sctx); err != nil {
		shutdownErr = errors.Join(shutdownErr, fmt.Errorf("flush: %w", err))
	}
	if err := p.Close(sctx); err != nil {
		shutdownErr = errors.Join(shutdownErr, fmt.Errorf("close producer: %w", err))
	}
	m := p.Metrics()
	if err := rt.Close(sctx); err != nil {
		shutdownErr = errors.Join(shutdownErr, fmt.Errorf("close runtime: %w", err))
	}

	fmt.Printf("summary: produced=%d sent=%d failed=%d requests=%d retries=%d\n",
		c.produced.Load(), c.sent.Load(), c.failed.Load(), m.BatchesSent, m.Retries)
	if first := c.firstErr.Load(); first != nil {
		log.Error("first failed order", slog.Any("error", *first))
	}
	if shutdownErr != nil {
		return c.failed.Load(), shutdownErr
	}
	return c.failed.Load(), nil
}

// Reasons for ending intake, logged at shutdown.
var (
	errDuration = errors.New("duration elapsed")
	errBudget   = errors.New("message budget spent")
	errSignal   = errors.New("signal received")
)

// counters are the outcome counts of the run.
type counters struct {
	produced, sent, failed atomic.Int64
	firstErr               atomic.Pointer[error]
}

// worker produces orders until stop ends or the message budget is spent,
// pacing itself to its share of -rate. Accepted orders live on deliver.
func worker(stop, deliver context.Context, p *rmq.Producer, f flags, id int, c *counters, log *slog.Logger, endIntake context.CancelCauseFunc) {
	rnd := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	var tick <-chan time.Time
	if f.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) * float64(f.workers) / f.rate))
		defer t.Stop()
		tick = t.C
	}
	for n := 0; ; n++ {
		if tick != nil {
			select {
			case <-stop.Done():
				return
			case <-tick:
			}
		} else if stop.Err() != nil {
			return
		}
		if f.messages > 0 && c.produced.Add(1) > f.messages {
			c.produced.Add(-1)
			endIntake(errBudget)
			return
		} else if f.messages == 0 {
			c.produced.Add(1)
		}
		order := newOrder(rnd, id, n, f.customers)
		msg, err := rmq.NewMessage().
			KeyString(order.CustomerID).
			PayloadJSON(order).
			Header("content-type", []byte("application/json")).
			Timestamp(order.CreatedAt).
			Build()
		if err != nil {
			c.fail(err)
			continue
		}
		err = p.SendAsync(deliver, msg, func(res *rmq.Result, err error) {
			if err != nil {
				c.fail(err)
				log.Warn("order failed", slog.String("order", order.ID), slog.String("customer", order.CustomerID), slog.Any("error", err))
				return
			}
			c.sent.Add(1)
			log.Debug("order sent", slog.String("order", order.ID), slog.Int("partition", int(res.Partition)), slog.Int64("offset", res.Offset))
		})
		if err != nil {
			c.fail(err)
			log.Warn("order not accepted", slog.String("order", order.ID), slog.Any("error", err))
			if errors.Is(err, rmq.ErrClosed) {
				return
			}
		}
	}
}

func (c *counters) fail(err error) {
	c.failed.Add(1)
	c.firstErr.CompareAndSwap(nil, &err)
}

// newOrder makes a plausible order of one of customers customers.
func newOrder(rnd *rand.Rand, worker, n, customers int) Order {
	o := Order{
		ID:         fmt.Sprintf("w%d-%06d", worker, n),
		CustomerID: fmt.Sprintf("customer-%03d", rnd.IntN(customers)),
		Currency:   "EUR",
		CreatedAt:  time.Now().UTC(),
	}
	for range 1 + rnd.IntN(3) {
		it := Item{SKU: fmt.Sprintf("SKU-%04d", rnd.IntN(5000)), Quantity: 1 + rnd.IntN(4), PriceCents: int64(199 + rnd.IntN(9800))}
		o.Items = append(o.Items, it)
		o.TotalCents += int64(it.Quantity) * it.PriceCents
	}
	return o
}

// report prints one metrics line per interval until stop ends: the
// producer's counters and each broker connection's health.
func report(stop context.Context, every time.Duration, p *rmq.Producer, rt *rmq.Runtime) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-stop.Done():
			return
		case <-t.C:
		}
		m := p.Metrics()
		rate := float64(m.Delivered-last) / every.Seconds()
		last = m.Delivered
		var b strings.Builder
		fmt.Fprintf(&b, "metrics: accepted=%d delivered=%d failed=%d rate=%.0f/s buffered=%d (%d B) in_flight=%d requests=%d retries=%d",
			m.Accepted, m.Delivered, m.Failed, rate, m.BufferedRecords, m.BufferedBytes, m.InFlight, m.BatchesSent, m.Retries)
		for _, h := range rt.Health() {
			rtt := "-"
			if h.RTT > 0 {
				rtt = h.RTT.Round(time.Microsecond).String()
			}
			fmt.Fprintf(&b, " | broker %s %s rtt=%s restarts=%d", h.Addr, h.State, rtt, h.Restarts)
			if h.LastError != nil {
				fmt.Fprintf(&b, " last_error=%q", h.LastError.Error())
			}
		}
		fmt.Println(b.String())
	}
}
