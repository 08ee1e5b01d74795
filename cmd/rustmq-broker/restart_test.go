package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/transport"
)

// TestBinaryDurableRestart kills the durable broker with SIGKILL three
// times and starts it again on the same port and data directory, as a
// chaos test does. Each time the client's old connection, whose idle
// timeout is far beyond the test's patience, must end at its next request
// with a stateless reset (the key survived in the data directory); a new
// connection trusting the first run's CA must succeed (the CA survived in
// DATA_DIR/tls); and every acknowledged record must still be there. It
// logs how long each restart took from the kill to the first
// acknowledgement on a new connection.
func TestBinaryDurableRestart(t *testing.T) {
	dataDir := t.TempDir()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	args := []string{"--data-dir", dataDir, "--topic", "t:1"}
	p := startProcess(t, append([]string{"--listen", "127.0.0.1:0", "--write-ca", ca}, args...)...)
	addr := p.Addr
	key1, err := os.ReadFile(filepath.Join(dataDir, resetKeyFile))
	if err != nil {
		t.Fatalf("reset key not persisted: %v", err)
	}
	d := dialer(t, copyFile(t, ca), transport.Config{IdleTimeout: time.Minute, KeepAlivePeriod: -1})
	c, err := dialAndProbe(t, d, addr)
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		if off, err := produceOne(c); err != nil || off != int64(round-1) {
			t.Fatalf("round %d: produce before the kill: offset %d, %v", round, off, err)
		}
		killed := time.Now()
		p.Kill()
		p = startProcess(t, append([]string{"--listen", addr}, args...)...)
		started := time.Since(killed)
		if key, _ := os.ReadFile(filepath.Join(dataDir, resetKeyFile)); string(key) != string(key1) {
			t.Fatalf("round %d: the restart replaced the reset key", round)
		}
		err = metadataOn(c)
		_ = c.Close()
		if _, ok := errors.AsType[*quic.StatelessResetError](err); !ok {
			t.Fatalf("round %d: request on the old connection after the restart: %v, want a stateless reset", round, err)
		}
		if c, err = dialAndProbe(t, d, addr); err != nil {
			t.Fatalf("round %d: a client trusting the first run's CA cannot reach the restarted broker: %v", round, err)
		}
		hw, err := highWatermark(c)
		if err != nil || hw != uint64(round) {
			t.Fatalf("round %d: high watermark %d after the restart, want %d: %v", round, hw, round, err)
		}
		t.Logf("round %d: restarted in %v, old connection reset and a new one answering %v after the kill",
			round, started.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	}
	_ = c.Close()
}

func TestResetKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	k1, err := loadOrCreateResetKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadOrCreateResetKey(dir)
	if err != nil || *k1 != *k2 {
		t.Fatalf("reloaded key differs: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, resetKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, resetKeyFile), []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateResetKey(dir); err == nil {
		t.Fatal("a corrupt key file was accepted")
	}
}
