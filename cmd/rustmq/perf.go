package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	rmq "github.com/rustmq/rustmq-go/runtime"
)

func runPerf(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("perf", "TOPIC", "Producer performance test, in the manner of kafka-producer-perf-test: workers send -size byte records through SendAsync,\noptionally capped at -rate, for -messages records or -duration; a line per -report interval, a table at the end.", e.stderr)
	var cf connFlags
	var pf produceFlags
	cf.register(fs)
	pf.register(fs)
	size := fs.Int("size", 100, "record value size in bytes")
	messages := fs.Int64("messages", 0, "records to send (0: until -duration)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send when -messages is 0")
	rate := fs.Float64("rate", 0, "throughput cap in records per second across all workers (0: none)")
	workers := fs.Int("workers", 4, "goroutines calling SendAsync")
	keys := fs.Int("keys", 0, "distinct keys cycled through (0: keyless, sticky partitioning)")
	report := fs.Duration("report", time.Second, "interval of the live line (0: none)")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics on this address (e.g. :9464) at /metrics while the test runs")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want exactly one TOPIC, got %d arguments", len(pos))
	}
	switch {
	case *size < 0:
		return usageErr("-size %d: must not be negative", *size)
	case *messages < 0:
		return usageErr("-messages %d: must not be negative", *messages)
	case *messages == 0 && *duration <= 0:
		return usageErr("-duration %v: must be positive when -messages is 0", *duration)
	case *rate < 0 || math.IsNaN(*rate) || math.IsInf(*rate, 0):
		return usageErr("-rate %v: must be a positive number or 0", *rate)
	case *workers < 1:
		return usageErr("-workers %d: must be at least 1", *workers)
	case *keys < 0:
		return usageErr("-keys %d: must not be negative", *keys)
	case *report < 0:
		return usageErr("-report %v: must not be negative", *report)
	}
	pc, err := pf.config()
	if err != nil {
		return err
	}
	cfg, err := cf.config(e)
	if err != nil {
		return err
	}
	var ms *metricsServer
	if *metricsAddr != "" {
		if ms, err = startMetrics(*metricsAddr, e.stderr); err != nil {
			return err
		}
		defer ms.stop()
		cfg.MeterProvider = ms.Provider
	}
	rt, err := rmq.New(cfg)
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer(pos[0], pc)
	if err != nil {
		return err
	}

	value := make([]byte, *size)
	_, _ = rand.Read(value)
	keyList := make([][]byte, *keys)
	for i := range keyList {
		keyList[i] = []byte("key-" + strconv.Itoa(i))
	}
	run := &perfRun{hist: newReservoir(1 << 20), size: *size}
	// The first interrupt (or -duration) stops the workers; what they sent
	// lives on the abort context and is still delivered and measured,
	// until a second interrupt.
	abort := e.abortCtx()
	sendCtx := ctx
	run.start = time.Now()
	var end time.Time // the end of -duration, zero with -messages
	if *messages == 0 {
		end = run.start.Add(*duration)
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithDeadline(ctx, end)
		defer cancel()
	}
	var reporter sync.WaitGroup
	stopReport := make(chan struct{})
	if *report > 0 {
		reporter.Go(func() { run.live(e.stdout, *report, stopReport) })
	}
	var wg sync.WaitGroup
	var callbacks sync.WaitGroup // of the records accepted
	var issued atomic.Int64
	for range *workers {
		wg.Go(func() {
			for {
				n := issued.Add(1)
				// With -rate, -duration ends the run by the records' due
				// times (a record due before the end is sent even when its
				// worker wakes a little late), so it sends rate x duration.
				stopped := sendCtx
				if *rate > 0 {
					stopped = ctx
				}
				if (*messages > 0 && n > *messages) || stopped.Err() != nil {
					return
				}
				if *rate > 0 {
					due := run.start.Add(time.Duration(float64(n-1) / *rate * float64(time.Second)))
					if !end.IsZero() && !due.Before(end) {
						return // due after the end of -duration: -rate records a second, not one more
					}
					if d := time.Until(due); d > 0 {
						t := time.NewTimer(d)
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
							return
						}
					}
				}
				m := &rmq.Message{Payload: value}
				if len(keyList) > 0 {
					m.Key = keyList[int(n)%len(keyList)]
				}
				sent := time.Now()
				callbacks.Add(1)
				err := p.SendAsync(abort, m, func(_ *rmq.Result, err error) {
					defer callbacks.Done()
					run.done(sent, *size, err)
				})
				if err != nil {
					callbacks.Done()
					run.done(sent, *size, err)
					if errors.Is(err, rmq.ErrClosed) || abort.Err() != nil {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "rustmq perf: interrupted: waiting for the records sent (interrupt again to give up on them)")
	}
	closeCtx, cancel := context.WithTimeout(abort, pc.DeliveryTimeout+10*time.Second)
	defer cancel()
	if err := p.Close(closeCtx); err != nil && abort.Err() == nil {
		fmt.Fprintf(e.stderr, "rustmq perf: close: %v\n", err)
	}
	waitCallbacks(&callbacks, 5*time.Second) // Close does not wait past its context

	elapsed := time.Since(run.start)
	close(stopReport)
	reporter.Wait()
	run.table(e.stdout, elapsed, *size)
	if first := run.firstErr.Load(); first != nil {
		fmt.Fprintf(e.stderr, "rustmq perf: %d records failed; first: %v\n", run.failed.Load(), *first)
		if errors.Is(*first, rmq.ErrUpstreamBroker) {
			fmt.Fprintln(e.stderr, upstreamHint("perf"))
		}
		return errFailed
	}
	return nil
}

// perfRun collects the outcomes of a perf test. done runs in the
// producer's result callbacks.
type perfRun struct {
	start        time.Time
	size         int // record value bytes
	acked        atomic.Int64
	failed       atomic.Int64
	firstErr     atomic.Pointer[error]
	mu           sync.Mutex
	hist         *reservoir
	window       windowStats
	totalLatency time.Duration
	maxLatency   time.Duration
}

type windowStats struct {
	n        int64
	sum, max time.Duration
}

func (r *perfRun) done(sent time.Time, size int, err error) {
	if err != nil {
		r.failed.Add(1)
		r.firstErr.CompareAndSwap(nil, &err)
		return
	}
	lat := time.Since(sent)
	r.acked.Add(1)
	r.mu.Lock()
	r.hist.add(lat)
	r.totalLatency += lat
	r.maxLatency = max(r.maxLatency, lat)
	r.window.n++
	r.window.sum += lat
	r.window.max = max(r.window.max, lat)
	r.mu.Unlock()
}

// live prints one line per interval, as kafka-producer-perf-test does.
func (r *perfRun) live(w io.Writer, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := r.start
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			r.mu.Lock()
			ws := r.window
			r.window = windowStats{}
			r.mu.Unlock()
			secs := now.Sub(last).Seconds()
			last = now
			avg := 0.0
			if ws.n > 0 {
				avg = ms(ws.sum) / float64(ws.n)
			}
			fmt.Fprintf(w, "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency, %d failed\n",
				ws.n, float64(ws.n)/secs, float64(ws.n)*float64(r.size)/secs/1e6, avg, ms(ws.max), r.failed.Load())
		}
	}
}

// table prints the final summary.
func (r *perfRun) table(w io.Writer, elapsed time.Duration, size int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.acked.Load()
	secs := elapsed.Seconds()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "records\tfailed\tseconds\tmsgs/s\tMB/s\tavg ms\tp50 ms\tp95 ms\tp99 ms\tp99.9 ms\tmax ms")
	avg := 0.0
	if n > 0 {
		avg = ms(r.totalLatency) / float64(n)
	}
	fmt.Fprintf(tw, "%d\t%d\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", n, r.failed.Load(), secs,
		float64(n)/secs, float64(n)*float64(size)/secs/1e6, avg,
		ms(r.hist.quantile(0.50)), ms(r.hist.quantile(0.95)), ms(r.hist.quantile(0.99)), ms(r.hist.quantile(0.999)), ms(r.maxLatency))
	_ = tw.Flush()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reservoir keeps a uniform sample of at most limit latencies (algorithm R),
// from which quantiles are read.
type reservoir struct {
	limit   int
	samples []time.Duration
	seen    int64
	rnd     *mrand.Rand
	sorted  bool
}

func newReservoir(n int) *reservoir {
	return &reservoir{limit: n, samples: make([]time.Duration, 0, min(n, 1<<16)), rnd: mrand.New(mrand.NewPCG(1, 2))}
}

func (h *reservoir) add(d time.Duration) {
	h.seen++
	h.sorted = false
	if len(h.samples) < h.limit {
		h.samples = append(h.samples, d)
		return
	}
	if i := h.rnd.Int64N(h.seen); i < int64(len(h.samples)) {
		h.samples[i] = d
	}
}

// quantile returns the q-quantile (0 < q <= 1) of the sample, 0 when empty.
func (h *reservoir) quantile(q float64) time.Duration {
	if len(h.samples) == 0 {
		return 0
	}
	if !h.sorted {
		slices.Sort(h.samples)
		h.sorted = true
	}
	i := int(math.Ceil(q*float64(len(h.samples)))) - 1
	return h.samples[max(0, min(i, len(h.samples)-1))]
}
