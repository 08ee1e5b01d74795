package devcert

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"
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

func TestCARoundTripsThroughPEM(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseCA(ca.CertPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Cert.Equal(ca.Cert) || string(back.CertPEM) != string(ca.CertPEM) {
		t.Fatal("parsed CA differs")
	}
	// A leaf issued by the parsed CA verifies against the original.
	leaf, err := back.IssueServer()
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyServer(leaf, "localhost", time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyServer(leaf, "example.com", time.Now()); err == nil {
		t.Fatal("a leaf for localhost verified for example.com")
	}
	if err := ca.VerifyServer(leaf, "localhost", time.Now().Add(2*365*24*time.Hour)); err == nil {
		t.Fatal("a leaf valid for one year passed a two-year check")
	}
	if err := ca.VerifyServer(tls.Certificate{}, "localhost", time.Now()); err == nil {
		t.Fatal("an empty chain verified")
	}
	other, _ := NewCA("other")
	if err := other.VerifyServer(leaf, "localhost", time.Now()); err == nil {
		t.Fatal("a leaf verified against a CA that did not sign it")
	}

	// Mismatched or non-CA material is refused.
	otherKey, _ := other.KeyPEM()
	if _, err := ParseCA(ca.CertPEM, otherKey); err == nil {
		t.Fatal("a CA with another CA's key was accepted")
	}
	leafPEM, leafKey, _ := EncodePEM(leaf)
	if _, err := ParseCA(leafPEM, leafKey); err == nil {
		t.Fatal("a leaf was accepted as a CA")
	}
}
