package main

import (
	"testing"

	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
)

func TestRuntimeConfigUpstreamKeepsRuntimeDefaults(t *testing.T) {
	o, err := parseFlags([]string{"-addr", "127.0.0.1:1", "-ca", "ca.pem", "-upstream", "-alpn", "auto", "-idempotence", "auto"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, pc, err := runtimeConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Upstream || cfg.MaxRequestBytes != 0 || pc.BatchBytes != 0 || pc.MaxMessageBytes != 0 {
		t.Fatalf("upstream without limit flags: Upstream %v, MaxRequestBytes %d, BatchBytes %d, MaxMessageBytes %d; want true and zeros (the runtime's defaults)",
			cfg.Upstream, cfg.MaxRequestBytes, pc.BatchBytes, pc.MaxMessageBytes)
	}
	if pc.Idempotence != rmq.IdempotenceAuto {
		t.Fatalf("Idempotence %d, want auto", pc.Idempotence)
	}
	if got := effectiveRequestBytes(cfg); got != rmq.UpstreamMaxRequestBytes {
		t.Fatalf("effective MaxRequestBytes %d, want %d", got, rmq.UpstreamMaxRequestBytes)
	}
	if got := effectiveALPN(cfg); got != transport.ALPNNone {
		t.Fatalf("effective ALPN %s, want none", got)
	}
}

func TestRuntimeConfigUpstreamTakesExplicitLimits(t *testing.T) {
	o, err := parseFlags([]string{"-addr", "127.0.0.1:1", "-ca", "ca.pem", "-upstream", "-max-request-bytes", "4096", "-batch-bytes", "2000"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, pc, err := runtimeConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxRequestBytes != 4096 || pc.BatchBytes != 2000 || pc.MaxMessageBytes != 2000 {
		t.Fatalf("MaxRequestBytes %d, BatchBytes %d, MaxMessageBytes %d; want 4096, 2000, 2000", cfg.MaxRequestBytes, pc.BatchBytes, pc.MaxMessageBytes)
	}
	if pc.Idempotence != rmq.IdempotenceOff {
		t.Fatalf("Idempotence %d, want off (the flag's default)", pc.Idempotence)
	}
}

func TestRuntimeConfigWithoutUpstreamDerivesBatchBytes(t *testing.T) {
	o, err := parseFlags([]string{"-addr", "127.0.0.1:1", "-ca", "ca.pem", "-max-request-bytes", "2200"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, pc, err := runtimeConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Upstream || cfg.MaxRequestBytes != 2200 || pc.BatchBytes != 2200-1024 || pc.MaxMessageBytes != 2200-1024 {
		t.Fatalf("Upstream %v, MaxRequestBytes %d, BatchBytes %d, MaxMessageBytes %d; want false, 2200, 1176, 1176",
			cfg.Upstream, cfg.MaxRequestBytes, pc.BatchBytes, pc.MaxMessageBytes)
	}
}
