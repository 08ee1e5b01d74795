// Command upstreamcheck produces keyed messages through the runtime to a
// broker that behaves like upstream RustMQ (interop/upstream-server), then
// reads the server's record dump and checks what a user relies on: every
// message acknowledged, stored exactly once at the partition and offset its
// result reported, keys on Kafka's murmur2 partitions, and per-key order
// kept in the log.
//
//	upstreamcheck -addr 127.0.0.1:PORT -ca cert.pem -dump log.jsonl -server-pid PID \
//	    [-upstream] [-messages 10000] [-partitions 4] [-large-fraction 0.05] [-max-in-flight 1] [-alpn none]
//
// With -upstream the runtime runs in its upstream mode (Config.Upstream)
// and keeps its own defaults for MaxRequestBytes, BatchBytes and
// MaxMessageBytes unless -max-request-bytes or -batch-bytes are given;
// without it the checker configures by hand what a user would write for an
// upstream broker without the mode.
//
// After producing and closing the runtime it stops the server with SIGTERM
// (when -server-pid is given; the server writes its dump on SIGTERM) and
// waits for the dump file. It prints the counts and every kind of
// violation, and exits 1 if there is any, 2 if the check could not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstreamcheck: %v\n", err)
		os.Exit(2)
	}
	os.Exit(run(o))
}

// run is the whole check; it returns the exit status.
func run(o *options) int {
	logf("workload: %d messages over %d keys to %s (%d partitions), values %d..%d B, %.1f%% at %d..%d B, seed %d",
		o.messages, o.keys, o.topic, o.partitions, o.minValue, o.maxValue, 100*o.largeFraction, o.largeMin, o.largeMax, o.seed)
	msgs := workload(o)

	if o.dump != "" {
		if err := os.Remove(o.dump); err != nil && !errors.Is(err, os.ErrNotExist) {
			logf("cannot remove the stale dump %s: %v", o.dump, err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	out, err := produce(ctx, o, msgs)
	if err != nil {
		logf("produce: %v", err)
		stopServer(o)
		return 2
	}
	out.print(o)

	if o.dump == "" {
		logf("no -dump given: acknowledgements only")
		if out.failed() > 0 {
			logf("FAIL: %d messages not acknowledged", out.failed())
			return 1
		}
		logf("PASS")
		return 0
	}
	stopServer(o)
	log, err := readDumpWhenReady(o.dump, o.dumpWait)
	if err != nil {
		logf("dump: %v", err)
		return 2
	}
	rep := verify(o.topic, int32(o.partitions), msgs, out.results, log, o.allowLargeFailures)
	rep.print()
	if rep.violations() > 0 {
		logf("FAIL: %d violations", rep.violations())
		return 1
	}
	logf("PASS: %d messages acknowledged, stored once at their acknowledged place, on murmur2 partitions, in per-key order", len(msgs))
	return 0
}

func logf(format string, args ...any) {
	fmt.Printf("upstreamcheck: "+format+"\n", args...)
}

// options are the command line.
type options struct {
	addr, ca, serverName, topic, alpn, acks, idempotence, dump string
	serverPID                                                  int
	messages, keys, partitions                                 int
	minValue, maxValue, largeMin, largeMax                     int
	largeFraction                                              float64
	maxInFlight, maxRequestBytes, batchBytes                   int
	upstream, allowLargeFailures                               bool
	linger, deliveryTimeout, timeout, dumpWait                 time.Duration
	seed                                                       uint64
	verbose                                                    bool
	// explicit holds the flags given on the command line: in upstream mode
	// the request and batch limits stay at the runtime's defaults unless
	// given.
	explicit map[string]bool
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("upstreamcheck", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "", "broker address host:port (required)")
	fs.StringVar(&o.ca, "ca", "", "PEM certificate to trust (the server's -write-cert file; required)")
	fs.StringVar(&o.serverName, "server-name", "localhost", "TLS server name (upstream's certificate names only localhost)")
	fs.StringVar(&o.topic, "topic", "events", "topic (the server must have it: --topic NAME:PARTITIONS)")
	fs.IntVar(&o.partitions, "partitions", 4, "the topic's partition count (StaticPartitions)")
	fs.IntVar(&o.messages, "messages", 10000, "messages to produce")
	fs.IntVar(&o.keys, "keys", 200, "distinct keys")
	fs.IntVar(&o.minValue, "min-value", 10, "smallest value in bytes (at least 10)")
	fs.IntVar(&o.maxValue, "max-value", 1024, "largest ordinary value in bytes")
	fs.Float64Var(&o.largeFraction, "large-fraction", 0, "fraction of values drawn from -large-min..-large-max instead")
	fs.IntVar(&o.largeMin, "large-min", 2048, "smallest large value")
	fs.IntVar(&o.largeMax, "large-max", 6144, "largest large value")
	fs.IntVar(&o.maxInFlight, "max-in-flight", 1, "ProducerConfig.MaxInFlight (batches per partition)")
	fs.IntVar(&o.maxRequestBytes, "max-request-bytes", requestLimit, "Config.MaxRequestBytes (with -upstream, the runtime's default unless given)")
	fs.IntVar(&o.batchBytes, "batch-bytes", 0, "ProducerConfig.BatchBytes and MaxMessageBytes (default: -max-request-bytes less the runtime's 1024 bytes of framing room; with -upstream, the runtime's defaults unless given)")
	fs.BoolVar(&o.upstream, "upstream", false, "switch on the runtime's upstream mode (Config.Upstream)")
	fs.BoolVar(&o.allowLargeFailures, "allow-large-failures", false, "report failed large values without counting them as violations (nothing may be stored twice or out of order all the same)")
	fs.StringVar(&o.alpn, "alpn", "none", "TLS.ALPN: none, auto or rustmq")
	fs.StringVar(&o.acks, "acks", "all", "acks: all or leader")
	fs.StringVar(&o.idempotence, "idempotence", "off", "idempotence headers: off or auto (upstream ignores them)")
	fs.DurationVar(&o.linger, "linger", 5*time.Millisecond, "ProducerConfig.Linger")
	fs.DurationVar(&o.deliveryTimeout, "delivery-timeout", 60*time.Second, "ProducerConfig.DeliveryTimeout")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "bound of the whole produce phase")
	fs.StringVar(&o.dump, "dump", "", "the server's dump file (its --dump); empty: check acknowledgements only")
	fs.IntVar(&o.serverPID, "server-pid", 0, "send SIGTERM to this process after producing, so that it writes the dump")
	fs.DurationVar(&o.dumpWait, "dump-wait", 20*time.Second, "how long to wait for the dump file")
	fs.Uint64Var(&o.seed, "seed", 1, "workload seed")
	fs.BoolVar(&o.verbose, "v", false, "log the runtime's warnings to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.explicit = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.explicit[f.Name] = true })
	switch {
	case o.addr == "" || o.ca == "":
		return nil, errors.New("-addr and -ca are required")
	case o.messages <= 0 || o.keys <= 0 || o.partitions <= 0:
		return nil, errors.New("-messages, -keys and -partitions must be positive")
	case o.minValue < minValue || o.maxValue < o.minValue:
		return nil, fmt.Errorf("values need %d <= -min-value <= -max-value", minValue)
	case o.largeFraction < 0 || o.largeFraction > 1:
		return nil, errors.New("-large-fraction must be within 0..1")
	case o.largeFraction > 0 && (o.largeMin < minValue || o.largeMax < o.largeMin):
		return nil, fmt.Errorf("large values need %d <= -large-min <= -large-max", minValue)
	case o.maxRequestBytes <= 1024 || o.batchBytes < 0:
		return nil, errors.New("-max-request-bytes must exceed 1024 and -batch-bytes must not be negative")
	case o.acks != "all" && o.acks != "leader":
		return nil, errors.New("-acks must be all or leader")
	case o.idempotence != "off" && o.idempotence != "auto":
		return nil, errors.New("-idempotence must be off or auto")
	}
	if o.batchBytes == 0 && !o.upstream {
		o.batchBytes = o.maxRequestBytes - 1024
	}
	return o, nil
}
