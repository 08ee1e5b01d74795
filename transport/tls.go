package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// tlsSource builds the *tls.Config of each dial from the configured base and
// the current contents of the CA and client certificate files. It is safe
// for concurrent use.
type tlsSource struct {
	base *tls.Config // never handed out; cloned per dial
	ca   *caFile     // nil without TLS.CAFile
	cert *keyPairFile
}

func newTLSSource(c TLSConfig, logger *slog.Logger) (*tlsSource, error) {
	var base *tls.Config
	if c.Config != nil {
		base = c.Config.Clone()
	} else {
		base = &tls.Config{}
	}
	base.MinVersion = tls.VersionTLS13
	if c.ServerName != "" {
		base.ServerName = c.ServerName
	}
	if c.InsecureSkipVerify {
		base.InsecureSkipVerify = true
	}
	if base.InsecureSkipVerify {
		logger.Warn("rustmq transport: TLS certificate verification is disabled (InsecureSkipVerify)")
	}
	s := &tlsSource{base: base}
	now := time.Now()
	if c.CAFile != "" {
		s.ca = &caFile{path: c.CAFile, interval: c.ReloadInterval, logger: logger}
		if err := s.ca.load(now); err != nil {
			return nil, err
		}
	}
	if c.CertFile != "" {
		s.cert = &keyPairFile{certPath: c.CertFile, keyPath: c.KeyFile, interval: c.ReloadInterval, logger: logger}
		if err := s.cert.load(now); err != nil {
			return nil, err
		}
		// The callback replaces any static certificates of the base: the
		// files are the configured source of truth.
		base.Certificates = nil
		base.GetClientCertificate = s.cert.get
	}
	return s, nil
}

// config returns a fresh *tls.Config for one dial, trusting the current CA
// bundle and offering the given ALPN protocols. Setting RootCAs per dial
// (rather than verifying by hand in VerifyConnection) keeps crypto/tls's own
// chain, name and key-usage checks in charge while still honouring a rotated
// CA file on the next connection.
func (s *tlsSource) config(nextProtos []string) *tls.Config {
	c := s.base.Clone()
	if s.ca != nil {
		c.RootCAs = s.ca.current(time.Now())
	}
	c.NextProtos = nextProtos
	return c
}

// fileStamp identifies one version of a file: a change of identity (a new
// file renamed into place, as Kubernetes secret mounts do), size or
// modification time means the file must be read again.
type fileStamp struct{ info os.FileInfo }

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	return fileStamp{fi}, err
}

func (s fileStamp) same(o fileStamp) bool {
	if s.info == nil || o.info == nil {
		return false
	}
	return os.SameFile(s.info, o.info) && s.info.Size() == o.info.Size() && s.info.ModTime().Equal(o.info.ModTime())
}

// caFile is a CA bundle re-read when it changes, checked at most once per
// interval.
type caFile struct {
	path     string
	interval time.Duration // <0: never reload
	logger   *slog.Logger

	mu      sync.Mutex
	checked time.Time
	stamp   fileStamp
	pool    *x509.CertPool
}

// load reads the file unconditionally (used at construction).
func (f *caFile) load(now time.Time) error {
	st, err := stampOf(f.path)
	if err != nil {
		return &TLSFileError{Field: "TLS.CAFile", File: f.path, Err: err}
	}
	pool, err := readCAPool(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.pool, f.stamp, f.checked = pool, st, now
	f.mu.Unlock()
	return nil
}

func readCAPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &TLSFileError{Field: "TLS.CAFile", File: path, Err: err}
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &TLSFileError{Field: "TLS.CAFile", File: path, Err: fmt.Errorf("certificate %d: %w", n+1, err)}
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, &TLSFileError{Field: "TLS.CAFile", File: path, Err: ErrNoCertificates}
	}
	return pool, nil
}

// current returns the CA pool, re-reading the file first when the interval
// has passed and the file changed. A file that fails to load is logged and
// the previous pool kept; it is tried again after the next interval.
func (f *caFile) current(now time.Time) *x509.CertPool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.interval < 0 || now.Sub(f.checked) < f.interval {
		return f.pool
	}
	f.checked = now
	st, err := stampOf(f.path)
	if err != nil {
		f.logger.Warn("rustmq transport: cannot stat CA file; keeping the previous bundle", "file", f.path, "error", err)
		return f.pool
	}
	if st.same(f.stamp) {
		return f.pool
	}
	pool, err := readCAPool(f.path)
	if err != nil {
		f.logger.Warn("rustmq transport: cannot reload CA file; keeping the previous bundle", "file", f.path, "error", err)
		return f.pool
	}
	f.pool, f.stamp = pool, st
	f.logger.Info("rustmq transport: reloaded CA file", "file", f.path)
	return f.pool
}

// keyPairFile is a client certificate and key re-read when either file
// changes, checked at most once per interval, lazily when a broker asks for
// a client certificate.
type keyPairFile struct {
	certPath, keyPath string
	interval          time.Duration
	logger            *slog.Logger

	mu                  sync.Mutex
	checked             time.Time
	certStamp, keyStamp fileStamp
	cert                *tls.Certificate
}

func (f *keyPairFile) load(now time.Time) error {
	cs, ks, cert, err := f.read()
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.certStamp, f.keyStamp, f.cert, f.checked = cs, ks, cert, now
	f.mu.Unlock()
	return nil
}

func (f *keyPairFile) read() (cs, ks fileStamp, cert *tls.Certificate, err error) {
	if cs, err = stampOf(f.certPath); err != nil {
		return cs, ks, nil, &TLSFileError{Field: "TLS.CertFile", File: f.certPath, Err: err}
	}
	if ks, err = stampOf(f.keyPath); err != nil {
		return cs, ks, nil, &TLSFileError{Field: "TLS.KeyFile", File: f.keyPath, Err: err}
	}
	certPEM, err := os.ReadFile(f.certPath)
	if err != nil {
		return cs, ks, nil, &TLSFileError{Field: "TLS.CertFile", File: f.certPath, Err: err}
	}
	keyPEM, err := os.ReadFile(f.keyPath)
	if err != nil {
		return cs, ks, nil, &TLSFileError{Field: "TLS.KeyFile", File: f.keyPath, Err: err}
	}
	if !containsPEM(certPEM, "CERTIFICATE") {
		return cs, ks, nil, &TLSFileError{Field: "TLS.CertFile", File: f.certPath, Err: ErrNoCertificates}
	}
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Blame the key file: the certificate PEM was found above, so what
		// fails is the key (missing, malformed, or not matching the cert).
		return cs, ks, nil, &TLSFileError{Field: "TLS.KeyFile", File: f.keyPath, Err: err}
	}
	return cs, ks, &kp, nil
}

func containsPEM(data []byte, typ string) bool {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return false
		}
		if block.Type == typ {
			return true
		}
	}
}

// get is the GetClientCertificate callback.
func (f *keyPairFile) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return f.current(time.Now()), nil
}

func (f *keyPairFile) current(now time.Time) *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.interval < 0 || now.Sub(f.checked) < f.interval {
		return f.cert
	}
	f.checked = now
	cs, err1 := stampOf(f.certPath)
	ks, err2 := stampOf(f.keyPath)
	if err1 == nil && err2 == nil && cs.same(f.certStamp) && ks.same(f.keyStamp) {
		return f.cert
	}
	cs, ks, cert, err := f.read()
	if err != nil {
		// A rotation writes two files; between the two writes the pair does
		// not match. Keep serving the old pair and look again next interval.
		f.logger.Warn("rustmq transport: cannot reload client certificate; keeping the previous one", "cert_file", f.certPath, "key_file", f.keyPath, "error", err)
		return f.cert
	}
	f.certStamp, f.keyStamp, f.cert = cs, ks, cert
	f.logger.Info("rustmq transport: reloaded client certificate", "cert_file", f.certPath)
	return f.cert
}
