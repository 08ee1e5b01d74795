package transport

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	d, err := NewDialer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := d.Config()
	if cfg.DialTimeout != 10*time.Second || cfg.KeepAlivePeriod != 500*time.Millisecond ||
		cfg.IdleTimeout != 1500*time.Millisecond || cfg.MaxRequestBytes != 16<<20 ||
		cfg.MaxResponseBytes != 64<<20 || cfg.TLS.ReloadInterval != 30*time.Second ||
		cfg.ALPN != ALPNAuto || cfg.Logger == nil {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	if d.quic.MaxIdleTimeout != cfg.IdleTimeout || d.quic.KeepAlivePeriod != cfg.KeepAlivePeriod || d.quic.HandshakeIdleTimeout != cfg.DialTimeout {
		t.Fatalf("quic config %+v does not follow the defaults", d.quic)
	}
	tc := d.tls.config([]string{ALPN})
	if tc.MinVersion != tls.VersionTLS13 || tc.InsecureSkipVerify {
		t.Fatalf("TLS config: MinVersion %x InsecureSkipVerify %v", tc.MinVersion, tc.InsecureSkipVerify)
	}
	// Disabled keep-alives.
	d, err = NewDialer(Config{KeepAlivePeriod: -1})
	if err != nil || d.quic.KeepAlivePeriod != 0 {
		t.Fatalf("negative KeepAlivePeriod: %v, %v", err, d.quic.KeepAlivePeriod)
	}
}

func TestConfigBaseTLSIsClonedAndRaised(t *testing.T) {
	base := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: "a", NextProtos: []string{"h3"}}
	d, err := NewDialer(Config{TLS: TLSConfig{Config: base, ServerName: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	tc := d.tls.config(nil)
	if tc.MinVersion != tls.VersionTLS13 || tc.ServerName != "b" || len(tc.NextProtos) != 0 {
		t.Fatalf("derived config: %x %q %q", tc.MinVersion, tc.ServerName, tc.NextProtos)
	}
	if base.MinVersion != tls.VersionTLS12 || base.ServerName != "a" {
		t.Fatal("the base tls.Config was modified")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{ALPN: ALPNMode(7)}, "ALPN"},
		{Config{DialTimeout: -time.Second}, "DialTimeout"},
		{Config{IdleTimeout: -time.Second}, "IdleTimeout"},
		{Config{MaxRequestBytes: -1}, "MaxRequestBytes"},
		{Config{MaxResponseBytes: -1}, "MaxResponseBytes"},
		{Config{MaxResponseBytes: 1 << 40}, "MaxResponseBytes"},
		{Config{TLS: TLSConfig{CertFile: "c.pem"}}, "TLS.KeyFile"},
		{Config{TLS: TLSConfig{KeyFile: "k.pem"}}, "TLS.CertFile"},
		{Config{TLS: TLSConfig{Config: &tls.Config{MaxVersion: tls.VersionTLS12}}}, "TLS.Config.MaxVersion"},
	} {
		_, err := NewDialer(tc.cfg)
		ce, ok := errors.AsType[*ConfigError](err)
		if !ok || ce.Field != tc.field || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("config %+v: got %v, want a ConfigError for %s", tc.cfg, err, tc.field)
		}
	}
}

func TestParseALPNMode(t *testing.T) {
	for in, want := range map[string]ALPNMode{"": ALPNAuto, "auto": ALPNAuto, "RustMQ": ALPNRustMQ, " none ": ALPNNone} {
		if got, err := ParseALPNMode(in); err != nil || got != want {
			t.Errorf("ParseALPNMode(%q) = %v, %v", in, got, err)
		}
	}
	for _, m := range []ALPNMode{ALPNAuto, ALPNRustMQ, ALPNNone} {
		if got, err := ParseALPNMode(m.String()); err != nil || got != m {
			t.Errorf("ParseALPNMode(%v.String()) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseALPNMode("h3"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseALPNMode(h3): %v", err)
	}
}

func TestConfigValidatesAuthenticator(t *testing.T) {
	_, err := NewDialer(Config{Auth: Plain("", "secret")})
	ce, ok := errors.AsType[*ConfigError](err)
	if !ok || ce.Field != "Auth" || !errors.Is(err, ErrInvalidCredential) || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want a ConfigError for Auth wrapping ErrInvalidCredential", err)
	}
}
