// Command rustmq-broker runs the development broker of package broker as a
// program: a RustMQ-compatible QUIC server for examples, tests and
// benchmarks, never for production data. It imports package broker and the
// standard library.
//
// Usage:
//
//	rustmq-broker [--listen 127.0.0.1:9092] [--topic NAME:PARTITIONS]...
//	    [--data-dir DIR] [--tls-cert FILE --tls-key FILE] [--write-ca FILE]
//	    [--client-ca FILE] [--no-alpn] [--max-request-bytes N] [--brokers N]
//	    [--auto-create] [--user NAME:PASSWORD]... [--jwt-secret-file FILE]
//	    [--log-level debug|info|warn|error]
//
// It prints where it listens and how to connect on stdout, logs to stderr,
// and stops cleanly on SIGINT or SIGTERM. With --user or --jwt-secret-file,
// authentication is required before Produce, Fetch and Metadata.
//
// With --data-dir the broker is durable and keeps its stateless reset key
// in DIR/stateless-reset.key: restarted on the same port after a crash, it
// resets the connections of its previous run at once, so clients reconnect
// without waiting for their idle timeout.
package main
