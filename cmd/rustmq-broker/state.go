package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/quic-go/quic-go"
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
