package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rustmq/rustmq-go/broker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rustmq-broker:", err)
		}
		os.Exit(2)
	}
}

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// run parses args, starts the broker, prints how to reach it and serves
// until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rustmq-broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var topics, users repeated
	listen := fs.String("listen", "127.0.0.1:9092", "UDP address of the first node")
	fs.Var(&topics, "topic", "NAME:PARTITIONS of a topic to create (repeatable)")
	dataDir := fs.String("data-dir", "", "directory for durable partition logs (default: memory only)")
	certFile := fs.String("tls-cert", "", "server certificate chain, PEM (default: generate a CA and a leaf)")
	keyFile := fs.String("tls-key", "", "server private key, PEM")
	writeCA := fs.String("write-ca", "", "write the CA certificate to this file for clients; without a TLS directory, its key is kept beside it (FILE-key.pem) and reused at the next start")
	tlsDir := fs.String("tls-dir", "", "keep the generated CA, its key, the server certificate and the stateless reset key in DIR and reuse them at every start (default: DATA_DIR/tls with --data-dir)")
	clientCA := fs.String("client-ca", "", "require client certificates signed by this CA (mTLS; principal = CN)")
	noALPN := fs.Bool("no-alpn", false, "configure no ALPN, like upstream's default QUIC server")
	maxReq := fs.Int64("max-request-bytes", broker.DefaultMaxRequestBytes, "largest request frame accepted")
	brokers := fs.Int("brokers", 1, "number of nodes, on consecutive ports from --listen's")
	autoCreate := fs.Bool("auto-create", false, "create unknown topics on first use")
	fs.Var(&users, "user", "NAME:PASSWORD enabling PLAIN and SCRAM authentication (repeatable)")
	jwtSecret := fs.String("jwt-secret-file", "", "HMAC secret for JWT authentication")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	reorder := fs.Duration("idempotence-reorder-window", broker.DefaultIdempotenceReorderWindow,
		"how long an idempotent batch that arrives ahead of its predecessors waits for them before code 45; negative: answer 45 at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", *logLevel, err)
	}
	cfg := broker.Config{
		Listen:                   *listen,
		Topics:                   map[string]int{},
		AutoCreateTopics:         *autoCreate,
		DataDir:                  *dataDir,
		NoALPN:                   *noALPN,
		MaxRequestBytes:          *maxReq,
		Brokers:                  *brokers,
		IdempotenceReorderWindow: *reorder,
		Logger:                   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	for _, t := range topics {
		name, n, ok := strings.Cut(t, ":")
		parts, err := strconv.Atoi(n)
		if !ok || err != nil {
			return fmt.Errorf("--topic %q: want NAME:PARTITIONS", t)
		}
		cfg.Topics[name] = parts
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if *certFile != "" {
		if *writeCA != "" {
			return errors.New("--write-ca writes a generated CA; it does not apply with --tls-cert")
		}
		if *tlsDir != "" {
			return errors.New("--tls-dir keeps a generated CA; it does not apply with --tls-cert")
		}
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificate = &cert
	}
	dir := *tlsDir
	if dir == "" && *dataDir != "" && *certFile == "" {
		dir = filepath.Join(*dataDir, "tls")
	}
	var tm *tlsMaterial
	switch {
	case dir != "":
		m, err := loadOrCreateTLSDir(dir)
		if err != nil {
			return fmt.Errorf("TLS directory %s: %w", dir, err)
		}
		tm = m
		if *writeCA != "" {
			if err := writeFileAtomic(*writeCA, m.ca.CertPEM, 0o644); err != nil {
				return fmt.Errorf("--write-ca: %w", err)
			}
		}
	case *writeCA != "":
		m, err := loadOrCreateWriteCA(*writeCA)
		if err != nil {
			return fmt.Errorf("--write-ca: %w", err)
		}
		tm = m
	}
	if tm != nil {
		cfg.Certificate = &tm.cert
	}
	if *clientCA != "" {
		pem, err := os.ReadFile(*clientCA)
		if err != nil {
			return fmt.Errorf("--client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--client-ca %s: no PEM certificate found", *clientCA)
		}
		cfg.ClientCAs, cfg.RequireClientCert = pool, true
	}
	if len(users) > 0 || *jwtSecret != "" {
		cfg.Auth = &broker.AuthConfig{Users: map[string]string{}, Required: true}
		for _, u := range users {
			name, pw, ok := strings.Cut(u, ":")
			if !ok || name == "" {
				return fmt.Errorf("--user %q: want NAME:PASSWORD", u)
			}
			cfg.Auth.Users[name] = pw
		}
		if *jwtSecret != "" {
			secret, err := os.ReadFile(*jwtSecret)
			if err != nil {
				return fmt.Errorf("--jwt-secret-file: %w", err)
			}
			cfg.Auth.JWTKey = []byte(strings.TrimSpace(string(secret)))
		}
	}

	// The stateless reset key lives with the data, else with the TLS
	// material; without either a restarted broker cannot reset old
	// connections, so each start makes its own.
	if keyDir := *dataDir; keyDir != "" || *tlsDir != "" {
		if keyDir == "" {
			keyDir = *tlsDir
		}
		key, err := loadOrCreateResetKey(keyDir)
		if err != nil {
			return fmt.Errorf("stateless reset key in %s: %w", keyDir, err)
		}
		cfg.StatelessResetKey = key
	}

	b, err := broker.Start(ctx, cfg)
	if err != nil {
		return err
	}
	printBanner(stdout, b, cfg, tm, dir, *writeCA)
	<-ctx.Done()
	fmt.Fprintln(stdout, "rustmq-broker: shutting down")
	return b.Close()
}

// printBanner says where the broker listens and what clients must trust.
// tm is the kept TLS material (nil when the broker generated its own or
// --tls-cert was given), dir the TLS directory ("" without one).
func printBanner(w io.Writer, b *broker.Broker, cfg broker.Config, tm *tlsMaterial, dir, writeCA string) {
	for i, addr := range b.Addrs() {
		fmt.Fprintf(w, "rustmq-broker: %s listening on %s (QUIC)\n", b.NodeID(i), addr)
	}
	alpn := `ALPN "` + broker.ALPN + `"`
	if cfg.NoALPN {
		alpn = "no ALPN"
	}
	trust := "the CA of --tls-cert"
	if tm != nil {
		how := "generated"
		if tm.reused {
			how = "reused"
		}
		if dir != "" {
			fmt.Fprintf(w, "rustmq-broker: TLS material kept in %s (CA %s)\n", dir, how)
		}
		trust = tm.caFile
		if writeCA != "" {
			fmt.Fprintf(w, "rustmq-broker: CA certificate written to %s (CA %s)\n", writeCA, how)
			trust = writeCA
		}
	} else if cfg.Certificate == nil {
		trust = "the generated CA (pass --write-ca FILE or --tls-dir DIR to keep it)"
	}
	extra := ""
	if cfg.ClientCAs != nil {
		extra += ", with a client certificate signed by --client-ca"
	}
	if cfg.Auth != nil {
		extra += ", then authenticate (PLAIN/SCRAM/JWT)"
	}
	fmt.Fprintf(w, "rustmq-broker: connect: dial %s over QUIC with %s, trusting %s%s\n", b.Addr(), alpn, trust, extra)
}
