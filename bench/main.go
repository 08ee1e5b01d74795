package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/compress"
)

// Targets the figures are compared with (the runtime's performance goals),
// printed beside the measured values and same-run ratios.
const (
	targetMsgsPerSec   = 2_000_000 // SendAsync, 100 B, 8 workers, acks leader
	targetLatencyX     = 1.25      // p50 Send over p50 raw round trip
	targetNeverSample  = 0.85      // NeverSample over no provider
	targetAlwaysSample = 0.4       // AlwaysSample over no provider
	targetAllocs       = 2.0       // allocations per SendAsync
	targetHeapBytes    = 200.0     // heap bytes per buffered 100-byte message
)

// options are the runner's flags.
type options struct {
	duration    time.Duration
	size        int
	workers     []int
	acks        rmq.Acks
	compression compress.Codec
	threshold   int
	linger      time.Duration
	batchSize   int
	partitions  int
	rttN        int
	bulkMB      int
	latencyN    int
	tracing     bool
	traceWork   int
	traceRounds int
	cpuProfile  string
	memProfile  string
	logLevel    string
	maxBuffered int64
	brokerProc  bool
	brokers     []string
	caFile      string
	heapN       int
	rss         bool
}

func main() {
	if len(os.Args) >= 3 {
		switch os.Args[1] {
		case childFlag:
			n, _ := strconv.Atoi(os.Args[2])
			os.Exit(runBrokerChild(n))
		case rssChildFlag:
			os.Exit(runRSSChild(os.Args[2]))
		}
	}
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if err == flag.ErrHelp {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, errOut io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of each SendAsync throughput run")
	fs.IntVar(&o.size, "size", 100, "value bytes per message")
	workers := fs.String("workers", "1,8,64", "comma-separated worker (goroutine) counts for the throughput runs")
	acks := fs.String("acks", "leader", "acks of the throughput runs: all, leader or none")
	codec := fs.String("compression", "none", "compression of the throughput runs: none, gzip, lz4 or zstd")
	fs.IntVar(&o.threshold, "compress-threshold", 0, "smallest value compressed (0: the runtime's default, 1024)")
	fs.DurationVar(&o.linger, "linger", 0, "linger of the throughput runs (0: the runtime's default, 5ms; negative: none)")
	fs.IntVar(&o.batchSize, "batch-size", 0, "records per batch of the throughput runs (0: the runtime's default, 1000)")
	fs.Int64Var(&o.maxBuffered, "max-buffered", 0, "MaxBufferedRecords of the throughput runs (0: the runtime's default, 500,000)")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions of the benchmark topic")
	fs.IntVar(&o.rttN, "rtt-n", 2000, "raw quic-go round trips measured")
	fs.IntVar(&o.bulkMB, "bulk-mb", 256, "megabytes written on one raw stream")
	fs.IntVar(&o.latencyN, "latency-n", 2000, "sequential Sends measured")
	fs.BoolVar(&o.tracing, "tracing", true, "measure the tracing overhead")
	fs.IntVar(&o.traceRounds, "trace-rounds", 3, "rounds of the tracing runs: the three providers take turns, each judged by its median")
	fs.IntVar(&o.traceWork, "trace-workers", 0, "workers of the tracing runs (0: the largest of -workers)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the SendAsync throughput runs to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of the SendAsync throughput runs to this file")
	fs.StringVar(&o.logLevel, "log", "", "write the runtime's logs to stderr at this level (debug, info, warn, error); default none")
	fs.BoolVar(&o.brokerProc, "broker-process", false, "run the development broker in a process of its own (the CPU and allocation figures are then the producer's alone)")
	brokers := fs.String("brokers", "", "comma-separated host:port of an external broker to bench against instead (it must hold topic \"bench\" with -partitions partitions)")
	fs.StringVar(&o.caFile, "ca", "", "PEM file of the CA that signs the -brokers certificates (default: the system roots)")
	fs.IntVar(&o.heapN, "heap-n", 100_000, "messages kept buffered to measure heap bytes per message (0 skips)")
	fs.BoolVar(&o.rss, "rss", true, "measure the base RSS of a connected runtime beside a bare quic-go client (child processes)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	if len(o.brokers) > 0 && o.brokerProc {
		return o, fmt.Errorf("-brokers and -broker-process exclude each other")
	}
	if o.heapN < 0 {
		return o, fmt.Errorf("-heap-n: %d must not be negative", o.heapN)
	}
	for _, w := range strings.Split(*workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("-workers: %q is not a positive count", w)
		}
		o.workers = append(o.workers, n)
	}
	switch strings.ToLower(*acks) {
	case "all":
		o.acks = rmq.AcksAll
	case "leader":
		o.acks = rmq.AcksLeader
	case "none":
		o.acks = rmq.AcksNone
	default:
		return o, fmt.Errorf("-acks: %q is not all, leader or none", *acks)
	}
	c, err := compress.ParseCodec(*codec)
	if err != nil {
		return o, fmt.Errorf("-compression: %w", err)
	}
	o.compression = c
	switch {
	case o.duration <= 0:
		return o, fmt.Errorf("-duration: %v must be positive", o.duration)
	case o.size <= 0:
		return o, fmt.Errorf("-size: %d must be positive", o.size)
	case o.partitions <= 0:
		return o, fmt.Errorf("-partitions: %d must be positive", o.partitions)
	case o.rttN <= 0 || o.latencyN <= 0:
		return o, fmt.Errorf("-rtt-n and -latency-n must be positive")
	case o.bulkMB <= 0:
		return o, fmt.Errorf("-bulk-mb: %d must be positive", o.bulkMB)
	case o.maxBuffered < 0:
		return o, fmt.Errorf("-max-buffered: %d must not be negative", o.maxBuffered)
	case o.traceWork < 0:
		return o, fmt.Errorf("-trace-workers: %d must not be negative", o.traceWork)
	case o.traceRounds <= 0:
		return o, fmt.Errorf("-trace-rounds: %d must be positive", o.traceRounds)
	}
	if o.logLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(o.logLevel)); err != nil {
			return o, fmt.Errorf("-log: %w", err)
		}
	}
	if o.traceWork == 0 {
		o.traceWork = slices.Max(o.workers)
	}
	return o, nil
}

func (o options) setup() (setup, error) {
	var logger *slog.Logger
	if o.logLevel != "" {
		var l slog.Level
		_ = l.UnmarshalText([]byte(o.logLevel))
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	s := setup{logger: logger, size: o.size, partitions: o.partitions, acks: o.acks, compression: o.compression,
		threshold: o.threshold, linger: o.linger, batchSize: o.batchSize, maxBuffered: o.maxBuffered,
		brokerProcess: o.brokerProc, brokers: o.brokers}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return s, fmt.Errorf("-ca: %w", err)
		}
		s.caPool = x509.NewCertPool()
		if !s.caPool.AppendCertsFromPEM(pem) {
			return s, fmt.Errorf("-ca: no certificate in %s", o.caFile)
		}
	}
	return s, nil
}

// run measures every section and prints the tables to out.
func run(ctx context.Context, o options, out io.Writer) error {
	s, err := o.setup()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rustmq-go bench  %s %s/%s  GOMAXPROCS=%d  CPUs=%d\n", goruntime.Version(), goruntime.GOOS, goruntime.GOARCH,
		goruntime.GOMAXPROCS(0), goruntime.NumCPU())
	fmt.Fprintln(out, s.brokerWhere())
	buffered := "default"
	if o.maxBuffered > 0 {
		buffered = strconv.FormatInt(o.maxBuffered, 10)
	}
	fmt.Fprintf(out, "settings: duration=%v size=%dB acks=%s compression=%s partitions=%d linger=%s max-buffered=%s\n\n",
		o.duration, o.size, o.acks, o.compression, o.partitions, lingerString(o.linger), buffered)

	// Baseline: raw quic-go with the same TLS.
	raw, err := startRawQUIC()
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	reqSize := o.size + 100 // about one record's produce request
	rtt, err := raw.latency(ctx, o.rttN, reqSize)
	if err != nil {
		raw.Close()
		return fmt.Errorf("baseline round trip: %w", err)
	}
	bulk, err := raw.bulk(ctx, o.bulkMB<<20)
	if err != nil {
		raw.Close()
		return fmt.Errorf("baseline bulk: %w", err)
	}
	// Kept open: the latency section takes raw round trips between its
	// Sends, so that its ratio compares the same moments of a noisy machine.
	defer raw.Close()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(out, "baseline: raw quic-go, TLS 1.3, ALPN rustmq, loopback")
	fmt.Fprintln(tw, "measure\tp50\tp99\tMB/s\tn\t")
	fmt.Fprintf(tw, "round trip (%d B request, 14 B response)\t%s\t%s\t\t%d\t\n", reqSize, us(rtt.percentile(50)), us(rtt.percentile(99)), len(rtt))
	fmt.Fprintf(tw, "bulk, one stream (%d MiB)\t\t\t%.1f\t1\t\n", o.bulkMB, bulk)
	tw.Flush()
	fmt.Fprintln(out)

	// SendAsync throughput.
	if o.memProfile != "" {
		// Sample every 4 KiB allocated from here on, so the profile of the
		// throughput runs names the small per-message allocations.
		goruntime.MemProfileRate = 4096
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	var runs []throughput
	for _, w := range o.workers {
		t, err := runThroughput(ctx, s, w, o.duration, nil)
		if err != nil {
			if o.cpuProfile != "" {
				pprof.StopCPUProfile()
			}
			return fmt.Errorf("throughput with %d workers: %w", w, err)
		}
		runs = append(runs, t)
	}
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if o.memProfile != "" {
		if err := writeAllocProfile(o.memProfile); err != nil {
			return err
		}
	}
	whose := "producer process"
	if !s.brokerProcess && len(s.brokers) == 0 {
		whose = "process, broker included"
	}
	fmt.Fprintf(out, "runtime: SendAsync throughput, %d B values, acks %s, %s (CPU and allocations: %s)\n", o.size, o.acks, o.compression, whose)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workers\tmsgs/s\tMB/s\tCPU/msg\tallocs/msg\tdelivered\tfailed\trequests\trecs/request\tretries\t")
	var at8 throughput
	for _, t := range runs {
		perReq := 0.0
		if t.metrics.BatchesSent > 0 {
			perReq = float64(t.metrics.RecordsSent) / float64(t.metrics.BatchesSent)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.1f\t%s\t%.2f\t%d\t%d\t%d\t%.0f\t%d\t\n", t.workers, thousands(t.msgsPerSec()), t.mbPerSec(o.size),
			ns(t.cpuPerMsg()), t.allocsPerMsg(), t.delivered, t.failed, t.metrics.BatchesSent, perReq, t.metrics.Retries)
		// The target is for 8 workers; without such a run, the best.
		if at8.workers == 0 || t.workers == 8 || (at8.workers != 8 && t.msgsPerSec() > at8.msgsPerSec()) {
			at8 = t
		}
	}
	tw.Flush()
	for _, t := range runs {
		if t.firstErr != nil {
			fmt.Fprintf(out, "  first failure with %d workers: %v\n", t.workers, t.firstErr)
		}
	}
	fmt.Fprintln(out)

	// Send latency.
	lat, produce, rawLat, err := runLatency(ctx, s, o.latencyN, func() (time.Duration, error) { return raw.timedRoundTrip(ctx, reqSize) })
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Fprintf(out, "runtime: Send latency, sequential, %d B values, acks leader, no linger; beside it, taken in turn with each Send, the same produce request on a bare transport connection to the same broker and a raw quic-go round trip (%d B request, 14 B response)\n", o.size, reqSize)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tp50\tp90\tp99\tmax\tn\t")
	for _, row := range []struct {
		name string
		l    latencies
	}{{"Send", lat}, {"transport Do", produce}, {"raw quic-go", rawLat}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t\n", row.name, us(row.l.percentile(50)), us(row.l.percentile(90)), us(row.l.percentile(99)), us(row.l.percentile(100)), len(row.l))
	}
	tw.Flush()
	fmt.Fprintln(out)

	// Memory.
	var heap heapResult
	if o.heapN > 0 {
		if heap, err = measureHeap(ctx, s, o.heapN); err != nil {
			return fmt.Errorf("heap: %w", err)
		}
		fmt.Fprintf(out, "memory: %d buffered %d B messages (one shared *Message; in-process broker holding every answer)\n", heap.n, o.size)
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "heap B/msg\tallocs/SendAsync\tcounted B/msg\t")
		fmt.Fprintf(tw, "%.0f\t%.2f\t%.0f\t\n", heap.bytesPerMsg, heap.allocsPerMsg, heap.bufferedPerMsg)
		tw.Flush()
		fmt.Fprintln(out)
	}
	if o.rss {
		rtRSS, quicRSS, err := measureRSS(ctx, o.partitions)
		if err != nil {
			return fmt.Errorf("rss: %w", err)
		}
		fmt.Fprintln(out, "base RSS, each in a fresh process against a broker process")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "runtime + 1 producer\tbare quic-go client\tratio\t")
		fmt.Fprintf(tw, "%.1f MiB\t%.1f MiB\t%.2fx\t\n", float64(rtRSS)/(1<<20), float64(quicRSS)/(1<<20), float64(rtRSS)/float64(max(quicRSS, 1)))
		tw.Flush()
		fmt.Fprintln(out)
	}

	var never, always float64
	if o.tracing {
		fmt.Fprintf(out, "tracing overhead: SendAsync throughput, %d workers, median of %d rounds taken in turn\n", o.traceWork, o.traceRounds)
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		// CPU per message beside the rate: what tracing adds to each
		// message, which moves less with the machine's noise than msgs/s.
		fmt.Fprintln(tw, "TracerProvider\tmsgs/s\tvs none\tCPU/msg\tadded CPU/msg\tspans exported\t")
		// The cases take turns, round after round, and each is judged by
		// the median of its rounds: a machine that slows down for a while
		// then costs every case alike instead of whichever ran then.
		rates := make([][]float64, len(tracingCases))
		cpus := make([][]float64, len(tracingCases))
		spans := make([]int64, len(tracingCases))
		for range o.traceRounds {
			for i, tc := range tracingCases {
				tp, exp, shutdown := tc.provider()
				t, err := runThroughput(ctx, s, o.traceWork, o.duration, tp)
				sdErr := shutdown(context.Background())
				if err != nil {
					return fmt.Errorf("tracing %s: %w", tc.name, err)
				}
				if sdErr != nil {
					return fmt.Errorf("tracing %s: provider shutdown: %w", tc.name, sdErr)
				}
				rates[i] = append(rates[i], t.msgsPerSec())
				cpus[i] = append(cpus[i], float64(t.cpuPerMsg()))
				if exp == nil {
					spans[i] = -1
				} else {
					spans[i] += exp.spans.Load()
				}
			}
		}
		none := median(rates[0])
		never, always = median(rates[1])/none, median(rates[2])/none
		for i, tc := range tracingCases {
			exported := "-"
			if spans[i] >= 0 {
				exported = strconv.FormatInt(spans[i], 10)
			}
			cpu, added := median(cpus[i]), "-"
			if i > 0 {
				added = fmt.Sprintf("%+.0fns", cpu-median(cpus[0]))
			}
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.0fns\t%s\t%s\t\n", tc.name, thousands(median(rates[i])), median(rates[i])/none, cpu, added, exported)
		}
		tw.Flush()
		fmt.Fprintln(out)
	}

	// The figures against their targets, ratios from this run.
	latX := float64(lat.percentile(50)) / float64(rawLat.percentile(50))
	fmt.Fprintln(out, "targets")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  SendAsync msgs/s, %d workers\t%s\t(target >= %s)\t%s\n", at8.workers, thousands(at8.msgsPerSec()), thousands(targetMsgsPerSec), verdict(at8.msgsPerSec() >= targetMsgsPerSec))
	fmt.Fprintf(tw, "  p50 Send / p50 raw round trip, taken in turn\t%.2fx\t(target <= %.2fx)\t%s\n", latX, targetLatencyX, verdict(latX <= targetLatencyX))
	fmt.Fprintf(tw, "  p50 Send / p50 transport Do, same broker\t%.2fx\t\t\n", float64(lat.percentile(50))/float64(produce.percentile(50)))
	if o.tracing {
		fmt.Fprintf(tw, "  NeverSample / no provider\t%.3fx\t(target >= %.2fx)\t%s\n", never, targetNeverSample, verdict(never >= targetNeverSample))
		fmt.Fprintf(tw, "  AlwaysSample / no provider\t%.3fx\t(target >= %.2fx)\t%s\n", always, targetAlwaysSample, verdict(always >= targetAlwaysSample))
	}
	if o.heapN > 0 {
		fmt.Fprintf(tw, "  allocations per SendAsync\t%.2f\t(target <= %.0f)\t%s\n", heap.allocsPerMsg, targetAllocs, verdict(heap.allocsPerMsg <= targetAllocs))
		fmt.Fprintf(tw, "  heap bytes per buffered message\t%.0f\t(target <= %.0f)\t%s\n", heap.bytesPerMsg, targetHeapBytes, verdict(heap.bytesPerMsg <= targetHeapBytes))
	}
	tw.Flush()
	return nil
}

func lingerString(d time.Duration) string {
	switch {
	case d == 0:
		return "default"
	case d < 0:
		return "none"
	}
	return d.String()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// ns formats a duration in nanoseconds.
func ns(d time.Duration) string { return fmt.Sprintf("%dns", d.Nanoseconds()) }

// us formats a duration in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }

// thousands formats v rounded, with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeAllocProfile writes the allocations sampled so far to path.
func writeAllocProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	goruntime.GC() // the profile is as of the last collection
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// median returns the middle value of xs (the mean of the two middle ones
// for an even count); xs is reordered.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
