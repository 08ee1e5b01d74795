package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/internal/proctest"

	"github.com/rustmq/rustmq-go/internal/devcert"
	"github.com/rustmq/rustmq-go/transport"
)

// copyFile copies src to a new file in a temporary directory, so that a
// client keeps trusting exactly what it first read whatever the broker
// writes later.
func copyFile(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// banner is what p printed on stdout up to the end of its banner.
func banner(p *proctest.Proc) string { return strings.Join(p.Banner, "\n") }

// TestBinaryTLSDirSurvivesRestart starts the binary with --tls-dir, stops
// and restarts it, and checks that a client holding the first run's CA
// still connects, to the same address and to the restarted process.
func TestBinaryTLSDirSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	p1 := startProcess(t, "--listen", "127.0.0.1:0", "--tls-dir", dir)
	if !strings.Contains(banner(p1), "TLS material kept in "+dir+" (CA generated)") {
		t.Fatalf("banner:\n%s", banner(p1))
	}
	for name, perm := range map[string]os.FileMode{caCertFile: 0o644, caKeyFile: 0o600, serverCertFile: 0o644, serverKeyFile: 0o600, resetKeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != perm {
			t.Fatalf("%s: %v (mode %v, want %v)", name, err, st.Mode().Perm(), perm)
		}
	}
	firstCA := copyFile(t, filepath.Join(dir, caCertFile))
	d := dialer(t, firstCA, transport.Config{})
	c, err := dialAndProbe(t, d, p1.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if !p1.Stop() {
		t.Fatal("broker did not stop on SIGTERM")
	}

	p2 := startProcess(t, "--listen", p1.Addr, "--tls-dir", dir)
	if !strings.Contains(banner(p2), "(CA reused)") || !strings.Contains(banner(p2), "trusting "+filepath.Join(dir, caCertFile)) {
		t.Fatalf("banner of the restart:\n%s", banner(p2))
	}
	c, err = dialAndProbe(t, d, p2.Addr)
	if err != nil {
		t.Fatalf("a client trusting the first CA cannot reach the restarted broker: %v", err)
	}
	_ = c.Close()
}

// TestBinaryWriteCAReusesCA: --write-ca FILE keeps the CA's key beside
// FILE and, restarted with the same FILE, serves a certificate from the
// same CA.
func TestBinaryWriteCAReusesCA(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	p1 := startProcess(t, "--listen", "127.0.0.1:0", "--write-ca", ca)
	if !strings.Contains(banner(p1), "CA certificate written to "+ca+" (CA generated)") {
		t.Fatalf("banner:\n%s", banner(p1))
	}
	if st, err := os.Stat(filepath.Join(filepath.Dir(ca), "ca-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key beside %s: %v", ca, err)
	}
	d := dialer(t, copyFile(t, ca), transport.Config{})
	c, err := dialAndProbe(t, d, p1.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	p1.Kill()

	p2 := startProcess(t, "--listen", p1.Addr, "--write-ca", ca)
	if !strings.Contains(banner(p2), "(CA reused)") {
		t.Fatalf("banner of the restart:\n%s", banner(p2))
	}
	c, err = dialAndProbe(t, d, p2.Addr)
	if err != nil {
		t.Fatalf("a client trusting the first CA cannot reach the restarted broker: %v", err)
	}
	_ = c.Close()
}

func TestTLSDirRepairsAndRefuses(t *testing.T) {
	dir := t.TempDir()
	m1, err := loadOrCreateTLSDir(dir)
	if err != nil || m1.reused {
		t.Fatalf("first load: %v (reused %v)", err, m1 != nil && m1.reused)
	}
	// A temporary file left by a kill mid-write is swept at the next start.
	stale := filepath.Join(dir, "."+caKeyFile+".tmp-123")
	if err := os.WriteFile(stale, []byte("half a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	m2, err := loadOrCreateTLSDir(dir)
	if _, serr := os.Stat(stale); serr == nil {
		t.Fatal("stale temporary file kept")
	}
	if err != nil || !m2.reused || !m2.ca.Cert.Equal(m1.ca.Cert) || string(m2.cert.Certificate[0]) != string(m1.cert.Certificate[0]) {
		t.Fatalf("second load did not reuse CA and leaf: %v", err)
	}

	// A leaf from another CA (or a damaged one) is reissued from the kept CA.
	other, _ := devcert.NewCA("other")
	foreign, _ := other.IssueServer()
	if err := devcert.WriteKeyPair(foreign, filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile)); err != nil {
		t.Fatal(err)
	}
	m3, err := loadOrCreateTLSDir(dir)
	if err != nil || !m3.ca.Cert.Equal(m1.ca.Cert) {
		t.Fatalf("load with a foreign leaf: %v", err)
	}
	if err := m1.ca.VerifyServer(m3.cert, "localhost", time.Now()); err != nil {
		t.Fatalf("leaf not reissued from the kept CA: %v", err)
	}
	kept, err := tls.LoadX509KeyPair(filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile))
	if err != nil || m1.ca.VerifyServer(kept, "127.0.0.1", time.Now()) != nil {
		t.Fatalf("reissued leaf not written back: %v", err)
	}

	// A CA certificate whose key is gone is not silently replaced.
	if err := os.Remove(filepath.Join(dir, caKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateTLSDir(dir); err == nil || !strings.Contains(err.Error(), "does not") {
		t.Fatalf("CA without its key: %v", err)
	}
	// Nor is a CA paired with a key that is not its own.
	otherKey, _ := other.KeyPEM()
	if err := os.WriteFile(filepath.Join(dir, caKeyFile), otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateTLSDir(dir); err == nil {
		t.Fatal("a CA with a foreign key was accepted")
	}

	// --write-ca without a key beside it (as older versions left it) makes
	// a new CA and keeps its key this time.
	lone := filepath.Join(t.TempDir(), "trust")
	if err := os.WriteFile(lone, m1.ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	w1, err := loadOrCreateWriteCA(lone)
	if err != nil || w1.reused || w1.ca.Cert.Equal(m1.ca.Cert) {
		t.Fatalf("--write-ca over a lone certificate: %v", err)
	}
	w2, err := loadOrCreateWriteCA(lone)
	if err != nil || !w2.reused || !w2.ca.Cert.Equal(w1.ca.Cert) {
		t.Fatalf("--write-ca second start: %v", err)
	}
	if _, err := os.Stat(lone + "-key.pem"); err != nil {
		t.Fatal(err)
	}
}
