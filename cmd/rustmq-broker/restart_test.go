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

// TestBinaryDurableRestart kills the durable broker with SIGKILL and
// starts it again on the same port and data directory, as a chaos test
// does. The client's old connection, whose idle timeout is far beyond the
// test's patience, must end at its next request with a stateless reset
// (the key survived in the data directory), and a new connection trusting
// the first run's CA must succeed (the CA survived in DATA_DIR/tls).
func TestBinaryDurableRestart(t *testing.T) {
	dataDir := t.TempDir()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	p1 := startProcess(t, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--topic", "t:1", "--write-ca", ca)
	key1, err := os.ReadFile(filepath.Join(dataDir, resetKeyFile))
	if err != nil {
		t.Fatalf("reset key not persisted: %v", err)
	}
	firstCA := copyFile(t, ca)
	d := dialer(t, firstCA, transport.Config{IdleTimeout: time.Minute, KeepAlivePeriod: -1})
	c, err := dialAndProbe(t, d, p1.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p1.kill()

	startProcess(t, "--listen", p1.addr, "--data-dir", dataDir, "--topic", "t:1")
	if key2, _ := os.ReadFile(filepath.Join(dataDir, resetKeyFile)); string(key2) != string(key1) {
		t.Fatal("the restart replaced the reset key")
	}
	err = metadataOn(c)
	if _, ok := errors.AsType[*quic.StatelessResetError](err); !ok {
		t.Fatalf("request on the old connection after the restart: %v, want a stateless reset", err)
	}
	c2, err := dialAndProbe(t, d, p1.addr)
	if err != nil {
		t.Fatalf("a client trusting the first run's CA cannot reach the restarted broker: %v", err)
	}
	_ = c2.Close()
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
