package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
)

// requestLimit is what upstream reads of one request: an 8 KiB buffer,
// type byte included.
const requestLimit = 8192

// runtimeConfig is the one place the checker configures the runtime for an
// upstream broker. With -upstream it switches on the runtime's upstream
// mode (Config.Upstream) and leaves the request and batch limits to the
// runtime's defaults for that mode unless they were given on the command
// line; without it, it is the configuration a user would write by hand
// from the runtime's documentation.
func runtimeConfig(o *options) (rmq.Config, rmq.ProducerConfig, error) {
	alpn, err := transport.ParseALPNMode(o.alpn)
	if err != nil {
		return rmq.Config{}, rmq.ProducerConfig{}, err
	}
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg := rmq.Config{
		Brokers: []string{o.addr},
		TLS: rmq.TLSConfig{
			CAFile:     o.ca,
			ServerName: o.serverName,
			ALPN:       alpn,
		},
		ConnectTimeout:   5 * time.Second,
		RequestTimeout:   10 * time.Second,
		StaticPartitions: map[string]int{o.topic: o.partitions},
		Upstream:         o.upstream,
		Logger:           logger,
	}
	if !o.upstream || o.explicit["max-request-bytes"] {
		cfg.MaxRequestBytes = int64(o.maxRequestBytes)
	}
	acks := rmq.AcksAll
	if o.acks == "leader" {
		acks = rmq.AcksLeader
	}
	// Upstream stores idempotence headers as plain ones and a retried
	// batch again: only off, or auto (which upstream mode turns off).
	idem := rmq.IdempotenceOff
	if o.idempotence == "auto" {
		idem = rmq.IdempotenceAuto
	}
	pc := rmq.ProducerConfig{
		Acks:            acks,
		Idempotence:     idem,
		MaxInFlight:     o.maxInFlight,
		Linger:          o.linger,
		DeliveryTimeout: o.deliveryTimeout,
	}
	// The runtime keeps 1024 bytes of MaxRequestBytes for the request's
	// framing; batches and messages may use the rest (-batch-bytes). In
	// upstream mode the runtime's own default is that already.
	if !o.upstream || o.explicit["batch-bytes"] {
		pc.BatchBytes = o.batchBytes
		pc.MaxMessageBytes = o.batchBytes
	}
	return cfg, pc, nil
}

// effectiveRequestBytes is the MaxRequestBytes the runtime uses for cfg:
// the runtime does not report its filled-in Config, so this repeats its
// documented defaults.
func effectiveRequestBytes(cfg rmq.Config) int64 {
	switch {
	case cfg.MaxRequestBytes != 0:
		return cfg.MaxRequestBytes
	case cfg.Upstream:
		return rmq.UpstreamMaxRequestBytes
	default:
		return transport.DefaultMaxRequestBytes
	}
}

// effectiveALPN is the ALPN mode the runtime dials with for cfg (upstream
// mode turns auto into none).
func effectiveALPN(cfg rmq.Config) transport.ALPNMode {
	if cfg.Upstream && cfg.TLS.ALPN == transport.ALPNAuto {
		return transport.ALPNNone
	}
	return cfg.TLS.ALPN
}

// idempotenceName names an Idempotence setting as the -idempotence flag does.
func idempotenceName(i rmq.Idempotence) string {
	switch i {
	case rmq.IdempotenceOff:
		return "off"
	case rmq.IdempotenceAuto:
		return "auto"
	case rmq.IdempotenceOn:
		return "on"
	}
	return fmt.Sprint(int(i))
}

// outcome is what the producer reported.
type outcome struct {
	results []result
	elapsed time.Duration
	metrics rmq.Metrics
}

// result is one message's acknowledgement.
type result struct {
	done      bool
	err       error
	partition int32
	offset    int64
}

func (o *outcome) failed() int {
	n := 0
	for _, r := range o.results {
		if !r.done || r.err != nil {
			n++
		}
	}
	return n
}

// produce sends msgs in order with SendAsync and waits for every result.
func produce(ctx context.Context, o *options, msgs []message) (*outcome, error) {
	cfg, pc, err := runtimeConfig(o)
	if err != nil {
		return nil, err
	}
	rt, err := rmq.New(cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(cctx)
	}()
	p, err := rt.CreateProducer(o.topic, pc)
	if err != nil {
		return nil, err
	}
	eff := p.Config()
	inFlight := fmt.Sprint(eff.MaxInFlight)
	if cfg.Upstream {
		inFlight += " (upstream mode: one request in flight per connection)"
	}
	logf("runtime: upstream mode %v, ALPN %s (asked %s), MaxRequestBytes %d, BatchBytes %d, MaxMessageBytes %d, MaxInFlight %s, Linger %s, acks %s, idempotence %s, StaticPartitions %v",
		cfg.Upstream, effectiveALPN(cfg), cfg.TLS.ALPN, effectiveRequestBytes(cfg), eff.BatchBytes, eff.MaxMessageBytes,
		inFlight, eff.Linger, eff.Acks, idempotenceName(eff.Idempotence), cfg.StaticPartitions)
	out := &outcome{results: make([]result, len(msgs))}
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := time.Now()
	for i := range msgs {
		m := &rmq.Message{Key: msgs[i].key, Payload: msgs[i].value}
		wg.Add(1)
		err := p.SendAsync(ctx, m, func(r *rmq.Result, err error) {
			mu.Lock()
			res := result{done: true, err: err, partition: -1, offset: -1}
			if r != nil {
				res.partition, res.offset = r.Partition, r.Offset
			}
			out.results[i] = res
			mu.Unlock()
			wg.Done()
		})
		if err != nil {
			wg.Done()
			mu.Lock()
			out.results[i] = result{done: true, err: fmt.Errorf("not accepted: %w", err), partition: -1, offset: -1}
			mu.Unlock()
		}
	}
	if err := p.Flush(ctx); err != nil {
		logf("flush: %v", err)
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		logf("gave up waiting for results: %v", context.Cause(ctx))
	}
	out.elapsed = time.Since(start)
	out.metrics = p.Metrics()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		logf("producer close: %v", err)
	}
	<-waited // Close gives every outstanding message its result
	mu.Lock()
	defer mu.Unlock()
	res := make([]result, len(out.results))
	copy(res, out.results)
	out.results = res
	return out, nil
}

// print reports the acknowledgements: delivered, failed with their causes,
// and the producer's request counters.
func (out *outcome) print(o *options) {
	delivered, largeSent, largeDelivered := 0, 0, 0
	causes := map[string]int{}
	msgs := workload(o) // deterministic: the same messages again, for their sizes
	for i, r := range out.results {
		if msgs[i].large {
			largeSent++
		}
		if r.done && r.err == nil {
			delivered++
			if msgs[i].large {
				largeDelivered++
			}
			continue
		}
		if !r.done {
			causes["no result"]++
		} else {
			causes[r.err.Error()]++
		}
	}
	m := out.metrics
	secs := out.elapsed.Seconds()
	logf("produced %d messages in %.2f s: delivered %d, failed %d; %d produce requests (%.0f msgs/s, %.0f requests/s), %d batch retries, %d records written (retries included)",
		len(out.results), secs, delivered, len(out.results)-delivered, m.BatchesSent,
		float64(delivered)/secs, float64(m.BatchesSent)/secs, m.Retries, m.RecordsSent)
	if largeSent > 0 {
		// The runtime's Result carries no attempt count, so retries are
		// the producer's batch retries over all values; in upstream mode a
		// value too large for one QUIC packet travels in a batch of its
		// own, and a cut request is what upstream's single read causes.
		logf("large values: %d sent, %d delivered, %d failed; retried: %d batch retries in all (the runtime counts retries per batch, not per value)",
			largeSent, largeDelivered, largeSent-largeDelivered, m.Retries)
	}
	type cause struct {
		text string
		n    int
	}
	var cs []cause
	for t, n := range causes {
		cs = append(cs, cause{t, n})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].n > cs[j].n || cs[i].n == cs[j].n && cs[i].text < cs[j].text })
	for i, c := range cs {
		if i == 5 {
			logf("  ... %d more causes", len(cs)-5)
			break
		}
		logf("  %d failed with: %s", c.n, c.text)
	}
}

// stopServer sends SIGTERM to -server-pid, if given, so that it writes its
// dump and exits.
func stopServer(o *options) {
	if o.serverPID <= 0 {
		return
	}
	if err := syscall.Kill(o.serverPID, syscall.SIGTERM); err != nil {
		logf("SIGTERM to server pid %d: %v", o.serverPID, err)
	}
}
