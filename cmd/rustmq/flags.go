package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/compress"
)

// connFlags are the flags every subcommand shares: they map one to one
// onto the runtime's Config.
type connFlags struct {
	brokers, ca, cert, key, serverName, alpn string
	insecure, upstream                       bool
	sasl, user, password, jwtTokenFile       string
	clientID, static, logLevel               string
	connectTimeout, requestTimeout           time.Duration
}

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.brokers, "brokers", "127.0.0.1:9092", "comma-separated broker addresses (host:port)")
	fs.StringVar(&f.ca, "ca", "", "PEM file of the CA that signs the brokers' certificates (default: the system roots)")
	fs.StringVar(&f.cert, "cert", "", "PEM client certificate for mTLS")
	fs.StringVar(&f.key, "key", "", "PEM private key of -cert")
	fs.StringVar(&f.serverName, "server-name", "", "name to verify in the brokers' certificates (default: the host dialled)")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the brokers' certificates (throwaway setups only)")
	fs.StringVar(&f.alpn, "alpn", "auto", `ALPN: "auto" (offer rustmq, retry without), "rustmq" or "none"`)
	fs.StringVar(&f.sasl, "sasl", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512 (with -user and -password)")
	fs.StringVar(&f.user, "user", "", "SASL user name")
	fs.StringVar(&f.password, "password", "", "SASL password (default: $RUSTMQ_PASSWORD)")
	fs.StringVar(&f.jwtTokenFile, "jwt-token-file", "", "file holding a JWT bearer token, read at every connection")
	fs.StringVar(&f.clientID, "client-id", "rustmq-cli", "client id on spans and metrics")
	fs.StringVar(&f.static, "static-partitions", "", "TOPIC=N,... partition counts for brokers whose metadata lists no topics (upstream RustMQ; required for every topic with -upstream)")
	fs.BoolVar(&f.upstream, "upstream", false, "the brokers are upstream RustMQ's: no extensions (probe, authentication, idempotence), no ALPN, one request at a time per connection, each of one QUIC packet; needs -static-partitions")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 10*time.Second, "bound on one dial (QUIC, TLS and authentication)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", 30*time.Second, "bound on one request")
	fs.StringVar(&f.logLevel, "log-level", "error", "level of the runtime's logs on stderr: debug, info, warn or error")
}

// config builds the runtime's Config from the flags.
func (f *connFlags) config(e env) (rmq.Config, error) {
	cfg := rmq.Config{
		ClientID:       f.clientID,
		ConnectTimeout: f.connectTimeout,
		RequestTimeout: f.requestTimeout,
		Upstream:       f.upstream,
		TLS: rmq.TLSConfig{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key, ServerName: f.serverName,
			InsecureSkipVerify: f.insecure},
	}
	for _, b := range strings.Split(f.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	if len(cfg.Brokers) == 0 {
		return cfg, usageErr("-brokers: no broker address")
	}
	mode, err := transport.ParseALPNMode(f.alpn)
	if err != nil {
		return cfg, usageErr("-alpn %q: want auto, rustmq or none", f.alpn)
	}
	cfg.TLS.ALPN = mode
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return cfg, usageErr("-log-level %q: %v", f.logLevel, err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if f.static != "" {
		cfg.StaticPartitions = map[string]int{}
		for _, kv := range strings.Split(f.static, ",") {
			name, n, ok := strings.Cut(kv, "=")
			count, err := strconv.Atoi(n)
			if !ok || err != nil || count <= 0 || name == "" {
				return cfg, usageErr("-static-partitions %q: want TOPIC=N,...", f.static)
			}
			cfg.StaticPartitions[name] = count
		}
	}
	password := f.password
	if password == "" && e.getenv != nil {
		password = e.getenv("RUSTMQ_PASSWORD")
	}
	switch strings.ToLower(f.sasl) {
	case "":
		if f.user != "" {
			return cfg, usageErr("-user needs -sasl plain, scram-sha-256 or scram-sha-512")
		}
	case "plain":
		cfg.Auth = rmq.SASLPlain(f.user, password)
	case "scram-sha-256":
		cfg.Auth = rmq.ScramSHA256(f.user, password)
	case "scram-sha-512":
		cfg.Auth = rmq.ScramSHA512(f.user, password)
	default:
		return cfg, usageErr("-sasl %q: want plain, scram-sha-256 or scram-sha-512", f.sasl)
	}
	if cfg.Auth != nil && f.user == "" {
		return cfg, usageErr("-sasl %s needs -user", f.sasl)
	}
	if f.jwtTokenFile != "" {
		if cfg.Auth != nil {
			return cfg, usageErr("-jwt-token-file and -sasl exclude each other")
		}
		file := f.jwtTokenFile
		if _, err := os.Stat(file); err != nil {
			return cfg, usageErr("-jwt-token-file: %v", err)
		}
		cfg.Auth = rmq.JWT(func(context.Context) (string, error) {
			b, err := os.ReadFile(file)
			if err != nil {
				return "", err
			}
			return strings.TrimSpace(string(b)), nil
		})
	}
	return cfg, nil
}

// open starts a runtime from the flags.
func (f *connFlags) open(e env) (*rmq.Runtime, error) {
	cfg, err := f.config(e)
	if err != nil {
		return nil, err
	}
	return rmq.New(cfg)
}

// withBrokerState adds to err, which says that no broker answered in
// time, the state of each broker connection: whether it is still
// connecting and the last failure it met.
func withBrokerState(rt *rmq.Runtime, err error) error {
	var states []string
	for _, h := range rt.Health() {
		s := h.Addr + " " + h.State
		switch {
		case h.LastError != nil:
			s += ": " + h.LastError.Error()
		case h.State == "connecting":
			s += ", no answer yet"
		}
		states = append(states, s)
	}
	return fmt.Errorf("%w (broker %s)", err, strings.Join(states, "; broker "))
}

// produceFlags are the producer settings produce and perf share.
type produceFlags struct {
	acks, compression, idempotence string
	linger, deliveryTimeout        time.Duration
	batchSize                      int
}

func (f *produceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.acks, "acks", "all", "acknowledgement level: all, leader or none")
	fs.StringVar(&f.compression, "compression", "none", "value compression: none, gzip, lz4 or zstd")
	fs.StringVar(&f.idempotence, "idempotence", "auto", "idempotent batches: auto (on unless -acks none), on or off")
	fs.DurationVar(&f.linger, "linger", 5*time.Millisecond, "how long a batch waits for more messages (negative: not at all)")
	fs.IntVar(&f.batchSize, "batch-size", rmq.DefaultBatchSize, "records per batch at most")
	fs.DurationVar(&f.deliveryTimeout, "delivery-timeout", rmq.DefaultDeliveryTimeout, "bound on the time from sending a message to its acknowledgement")
}

func (f *produceFlags) config() (rmq.ProducerConfig, error) {
	if f.deliveryTimeout <= 0 {
		return rmq.ProducerConfig{}, usageErr("-delivery-timeout %v: must be positive", f.deliveryTimeout)
	}
	pc := rmq.ProducerConfig{Linger: f.linger, BatchSize: f.batchSize, DeliveryTimeout: f.deliveryTimeout}
	switch strings.ToLower(f.acks) {
	case "all", "-1":
		pc.Acks = rmq.AcksAll
	case "leader", "1":
		pc.Acks = rmq.AcksLeader
	case "none", "0":
		pc.Acks = rmq.AcksNone
	default:
		return pc, usageErr("-acks %q: want all, leader or none", f.acks)
	}
	codec, err := compress.ParseCodec(f.compression)
	if err != nil {
		return pc, usageErr("-compression %q: want none, gzip, lz4 or zstd", f.compression)
	}
	pc.Compression = codec
	switch strings.ToLower(f.idempotence) {
	case "auto":
	case "on":
		pc.Idempotence = rmq.IdempotenceOn
	case "off":
		pc.Idempotence = rmq.IdempotenceOff
	default:
		return pc, usageErr("-idempotence %q: want auto, on or off", f.idempotence)
	}
	if f.linger == 0 {
		pc.Linger = -1
	}
	return pc, nil
}

// newFlagSet returns a flag set for command name whose usage lists its
// arguments and flags on w.
func newFlagSet(name, args, summary string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rustmq "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: rustmq %s [flags] %s\n\n%s\n\nflags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }
