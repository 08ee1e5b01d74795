// Package transport holds the client side of RustMQ's QUIC transport: dialing
// brokers with TLS 1.3 (optionally mutual TLS, with certificate files
// re-read when they rotate), negotiating the ALPN protocol with the no-ALPN
// fallback of docs/protocol.md, running the Authenticate handshake (request
// type 32) through an [Authenticator], framing one request per bidirectional
// stream with [Conn.Do], and reporting failures as typed errors that
// [IsRetriable] sorts for retry policies.
// It may import transport/wire, quic-go, the crypto packages of the standard
// library and the credential libraries of the mechanisms (jwt, scram); never
// the actors, supervision or runtime layers.
//
// # Connections
//
// A [Dialer] is built once from a [Config] and dials any number of brokers;
// it starts no goroutines and needs no Close. [Dialer.Dial] returns a [*Conn]
// after the QUIC handshake and, when [Config.Auth] is set, after the broker
// accepted the credentials. A [*Conn] is safe for concurrent use: every
// [Conn.Do] runs on its own QUIC stream, so slow requests do not hold up
// fast ones. [Conn.Context] is cancelled when the connection is gone, and
// [context.Cause] of it is a [*ConnError] telling why.
//
// [Conn.Capabilities] probes which of this project's extensions a broker
// serves (request type 33). A broker that does not know the probe, as
// upstream RustMQ does not, is reported as Capabilities{Supported: false}
// as soon as it drops the stream, and the connection stays usable.
//
// # Errors
//
// Do and Dial return:
//   - [ErrRequestTooLarge] before anything is sent, [ErrResponseTooLarge]
//     when a response outgrows [Config.MaxResponseBytes] (64 KiB for
//     Produce, Authenticate and Capabilities answers);
//   - [*BrokerError] for a broker's 0xFF error frame, its text cut to
//     wire.MaxErrorTextBytes;
//   - [*ConnError] when the connection could not be made or was lost
//     (it is a [net.Error] and matches [net.ErrClosed]);
//   - [*StreamError] when the broker reset one request's stream while the
//     connection stayed up;
//   - [*AuthError] when the Authenticate handshake failed;
//   - [ErrMalformedResponse] for a response that breaks the framing;
//   - the caller's context error when ctx ended first.
//
// [IsRetriable] tells which of these may succeed when tried again.
package transport
