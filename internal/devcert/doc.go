// Package devcert makes throwaway certificate authorities and certificates for
// the development broker, tests and examples. It is not for production keys.
//
// A generated server certificate is a leaf signed by a generated CA, never a
// self-signed CA used as an end-entity certificate: rustls (upstream RustMQ's
// TLS stack) rejects the latter. Clients trust the CA.
//
// It imports the standard library only.
package devcert
