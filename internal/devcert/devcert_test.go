package devcert

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
)

func TestServerLeafVerifiesAgainstCA(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueServer()
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Leaf.IsCA {
		t.Fatal("server leaf must not be a CA (rustls rejects CA end-entity certificates)")
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Leaf.Verify(opts); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
}

func TestClientCertRoundTripsThroughFiles(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.IssueClient("alice")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := WriteKeyPair(c, cf, kf); err != nil {
		t.Fatal(err)
	}
	loaded, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Leaf.Subject.CommonName != "alice" {
		t.Fatalf("CN = %q", loaded.Leaf.Subject.CommonName)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := loaded.Leaf.Verify(opts); err != nil {
		t.Fatal(err)
	}
}
