package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/internal/devcert"
)

// resetKeyFile is the name of the stateless reset key's file in the data
// (or TLS) directory: the key as 64 hex digits and a newline.
const resetKeyFile = "stateless-reset.key"

// loadOrCreateResetKey returns the stateless reset key kept in dir,
// creating it (mode 0600) on first use. A broker restarted with the same
// directory on the same address then resets the connections of its
// previous run at their next packet, instead of leaving clients to their
// idle timeout.
func loadOrCreateResetKey(dir string) (*quic.StatelessResetKey, error) {
	removeStaleTemps(dir, resetKeyFile)
	path := filepath.Join(dir, resetKeyFile)
	var key quic.StatelessResetKey
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		raw, derr := hex.DecodeString(strings.TrimSpace(string(data)))
		if derr != nil || len(raw) != len(key) {
			return nil, fmt.Errorf("%s: want %d hex digits (delete the file to make a new key)", path, 2*len(key))
		}
		copy(key[:], raw)
		return &key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(key[:])+"\n"), 0o600); err != nil {
		return nil, err
	}
	return &key, nil
}

// removeStaleTemps deletes the temporary files writeFileAtomic leaves
// behind when the process is killed between creating one and renaming it.
func removeStaleTemps(dir string, names ...string) {
	for _, name := range names {
		stale, _ := filepath.Glob(filepath.Join(dir, "."+name+".tmp-*"))
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, synced and renamed into place, then syncs the directory: a
// crash leaves either the old file or the whole new one, never a torn one.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // a no-op once renamed
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Files of a TLS directory (--tls-dir, or DATA_DIR/tls).
const (
	caCertFile     = "ca.pem"         // the CA clients trust
	caKeyFile      = "ca-key.pem"     // its private key (0600)
	serverCertFile = "server.pem"     // the leaf the broker presents, then the CA
	serverKeyFile  = "server-key.pem" // the leaf's private key (0600)
)

// leafMargin is how long a kept server certificate must stay valid for it
// to be reused; a leaf closer to its end is issued anew from the same CA,
// which clients keep trusting.
const leafMargin = 7 * 24 * time.Hour

// tlsMaterial is what the broker presents and what its clients trust.
type tlsMaterial struct {
	cert   tls.Certificate
	ca     *devcert.CA
	caFile string // where the CA certificate lives on disk
	reused bool   // the CA was found on disk, not generated
}

// loadOrCreateTLSDir returns the CA and server certificate kept in dir,
// creating what is missing: a CA (kept for ten years) and a leaf signed by
// it for localhost, 127.0.0.1 and ::1 (reissued when it nears its end or
// no longer matches the CA). Restarting the broker with the same directory
// therefore keeps every client that trusts dir/ca.pem working. A CA
// certificate without its key (or the reverse) is an error rather than a
// reason to make a new CA that clients would not trust.
func loadOrCreateTLSDir(dir string) (*tlsMaterial, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	removeStaleTemps(dir, caCertFile, caKeyFile, serverCertFile, serverKeyFile)
	caPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	ca, reused, err := loadOrCreateCA(caPath, keyPath, true)
	if err != nil {
		return nil, err
	}
	m := &tlsMaterial{ca: ca, caFile: caPath, reused: reused}
	leafPath, leafKeyPath := filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile)
	if cert, err := tls.LoadX509KeyPair(leafPath, leafKeyPath); err == nil &&
		ca.VerifyServer(cert, "localhost", time.Now().Add(leafMargin)) == nil &&
		ca.VerifyServer(cert, "127.0.0.1", time.Now().Add(leafMargin)) == nil {
		m.cert = cert
		return m, nil
	}
	if m.cert, err = ca.IssueServer(); err != nil {
		return nil, fmt.Errorf("issue server certificate: %w", err)
	}
	certPEM, keyPEM, err := devcert.EncodePEM(m.cert)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(leafKeyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(leafPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

// caKeyBeside names the key file kept beside a --write-ca file: ca.pem
// gets ca-key.pem, any other name gets "-key.pem" appended.
func caKeyBeside(caFile string) string {
	return strings.TrimSuffix(caFile, ".pem") + "-key.pem"
}

// loadOrCreateWriteCA serves --write-ca FILE without a TLS directory: the
// CA in FILE is reused when its key lies beside it (see caKeyBeside), and
// a new server certificate is issued from it at every start; otherwise a
// new CA is made and written to FILE, its key beside it (0600), so the
// next start reuses it.
func loadOrCreateWriteCA(caFile string) (*tlsMaterial, error) {
	ca, reused, err := loadOrCreateCA(caFile, caKeyBeside(caFile), false)
	if err != nil {
		return nil, err
	}
	cert, err := ca.IssueServer()
	if err != nil {
		return nil, fmt.Errorf("issue server certificate: %w", err)
	}
	return &tlsMaterial{cert: cert, ca: ca, caFile: caFile, reused: reused}, nil
}

// loadOrCreateCA reads the CA at certPath and keyPath, or, when they are
// absent, generates one and writes both (the key first, so a crash never
// leaves a certificate whose key is lost). With strict, a certificate
// without its key (or the reverse) is an error; without, a lone
// certificate is replaced (older versions wrote no key beside --write-ca).
func loadOrCreateCA(certPath, keyPath string, strict bool) (*devcert.CA, bool, error) {
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	switch {
	case cerr == nil && kerr == nil:
		ca, err := devcert.ParseCA(certPEM, keyPEM)
		if err != nil {
			return nil, false, fmt.Errorf("%s, %s: %w", certPath, keyPath, err)
		}
		return ca, true, nil
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return nil, false, cerr
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return nil, false, kerr
	case strict && (cerr == nil) != (kerr == nil):
		have, missing := certPath, keyPath
		if cerr != nil {
			have, missing = keyPath, certPath
		}
		return nil, false, fmt.Errorf("%s exists but %s does not: restore it, or remove %s to make a new CA (clients must then trust the new one)", have, missing, have)
	}
	ca, err := devcert.NewCA("rustmq-go development broker CA")
	if err != nil {
		return nil, false, fmt.Errorf("generate CA: %w", err)
	}
	keyPEM, err = ca.KeyPEM()
	if err != nil {
		return nil, false, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, false, err
	}
	if err := writeFileAtomic(certPath, ca.CertPEM, 0o644); err != nil {
		return nil, false, err
	}
	return ca, false, nil
}
