// Command rustmq-broker runs the development broker of package broker as a
// program: a RustMQ-compatible QUIC server for examples, tests and
// benchmarks, never for production data. It imports package broker,
// internal/devcert, quic-go (for the stateless reset key type) and the
// standard library.
//
// Usage:
//
//	rustmq-broker [--listen 127.0.0.1:9092] [--topic NAME:PARTITIONS]...
//	    [--data-dir DIR] [--tls-dir DIR] [--write-ca FILE]
//	    [--tls-cert FILE --tls-key FILE] [--client-ca FILE] [--no-alpn]
//	    [--max-request-bytes N] [--brokers N] [--auto-create]
//	    [--user NAME:PASSWORD]... [--jwt-secret-file FILE]
//	    [--idempotence-reorder-window D] [--log-level debug|info|warn|error]
//
// It prints where it listens and how to connect on stdout, logs to stderr,
// and stops cleanly on SIGINT or SIGTERM. With --user or --jwt-secret-file,
// authentication is required before Produce, Fetch and Metadata.
//
// # What survives a restart
//
// Without --tls-cert the broker serves a certificate from a development
// CA, which clients must trust. Where that CA comes from decides whether a
// restarted broker keeps its clients:
//
//   - --tls-dir DIR keeps the CA (DIR/ca.pem, its key DIR/ca-key.pem), the
//     server certificate (DIR/server.pem, DIR/server-key.pem) and the
//     stateless reset key in DIR, creating them on first use and reusing
//     them at every start; a server certificate near its end is reissued
//     from the same CA. Clients trust DIR/ca.pem.
//   - --data-dir DIR (durable mode) implies --tls-dir DIR/tls unless one
//     is given, and keeps the stateless reset key in DIR.
//   - --write-ca FILE alone writes the CA to FILE and its key beside it
//     (ca.pem gets ca-key.pem, other names get "-key.pem" appended), and
//     reuses that CA at the next start when both are there. With a TLS
//     directory FILE is a copy of its CA.
//   - With none of them each start makes a new CA, as upstream RustMQ's
//     default server makes a new self-signed certificate.
//
// The stateless reset key lets a broker restarted on the same port end the
// connections of its previous run at their next packet (a stateless reset),
// so clients reconnect at once instead of waiting for their idle timeout.
// Every file is written atomically (a temporary file synced and renamed),
// so a SIGKILL at any point leaves either the old file or the new one, and
// temporary files a kill left behind are removed at the next start.
//
// For a crash test, start the broker once with --data-dir (and --listen
// 127.0.0.1:0 if any port will do), read the address from the "listening
// on" line, and restart it after each SIGKILL with the same --data-dir and
// --listen set to that address: it comes back within milliseconds with the
// same CA, server certificate, reset key and acknowledged records. With
// --brokers N, node i listens on port+i, so give an explicit port.
package main
