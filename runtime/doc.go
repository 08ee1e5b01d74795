// Package runtime is the RustMQ producer runtime that services embed: a
// [Runtime] holding the connections to the brokers, and [Producer]s that
// send [Message]s and report one [Result] per message. It may import every
// layer below it (actors, supervision, transport, transport/wire,
// transport/compress), never examples, bench, cmd, or the development
// broker outside tests.
//
// The package name collides with the standard library's; import it under
// one alias everywhere:
//
//	import rmq "github.com/rustmq/rustmq-go/runtime"
//
//	rt, err := rmq.New(rmq.Config{Brokers: []string{"127.0.0.1:9092"}})
//	...
//	p, err := rt.CreateProducer("orders", rmq.ProducerConfig{})
//	msg, err := rmq.NewMessage().KeyString("customer-7").PayloadString("hello").Build()
//	res, err := p.Send(ctx, msg)
//
// # Inside
//
// New starts a protoactor actor system whose logs go to Config.Logger
// (discarded by default) and spawns one top-level supervisor under the
// root guardian, so that this project's strategies govern everything
// below: a connections supervisor (strategy from Config.Supervision:
// capped exponential backoff within a restart budget) with one connection
// actor per broker address, a metadata actor, and a producers supervisor.
// Each producer is a producer actor (supervised by ProducerConfig.
// Supervision) with a router and one batcher per partition below it,
// spawned on first use. A connection actor crashes on purpose when its
// connection is lost; what must survive — the batches, their sequence
// numbers and their callers — lives in the batchers, which retry in order.
// Any actor of the tree may panic: a restarted router or batcher keeps
// what it owes, the supervisors answer the requests their children
// panicked on, and every accepted message still gets exactly one result.
//
// # Delivery guarantees
//
// Every message accepted by Send, SendAsync, SendBatch or Stream gets
// exactly one result. With AcksLeader or AcksAll and idempotence (the
// default) retries never duplicate on a broker that honours the idempotence
// headers, and each partition keeps the order of acceptance. When a batch
// has to be abandoned while its outcome is unknown (delivery timeout, retry
// budget) the partition switches to a fresh random producer id whose
// sequence starts at 0, so that later batches are not rejected as out of
// order; the abandoned batch's records may or may not have been written.
//
// # Memory
//
// A producer holds at most MaxBufferedBytes and MaxBufferedRecords of
// messages accepted and not yet completed, each counted with what it
// really costs (see ProducerConfig.MaxBufferedBytes). Space is reserved in
// the caller's goroutine before the message reaches the actors and given
// back when its result is final: for SendAsync, once its callback has
// returned, so that slow callbacks slow the senders down instead of
// growing a queue. When the buffer is full the caller blocks until space
// frees or its context ends, or gets ErrBufferFull with
// ProducerConfig.FailWhenFull; a callback never blocks (see
// Producer.SendAsync).
//
// # Errors
//
// Bad input fails before anything is queued: ErrNilMessage, ErrEmptyTopic,
// *MessageTooLargeError (ErrMessageTooLarge), *PayloadError
// (ErrInvalidPayload), ErrInvalidMessage, ErrInvalidPartition; bad
// configuration fails New or CreateProducer with *ConfigError
// (ErrInvalidConfig). Delivery failures are ErrDeliveryTimeout, ErrClosed,
// *AuthorizationError (the broker's code 29) or a *ProduceError wrapping the
// broker's or transport's error; errors.Is matches the wire package's
// error-code values (wire.ErrNotLeader, ...) through them.
//
// Setup mistakes are answered in about a second, not at the delivery
// timeout: a topic the brokers do not list fails its messages with
// ErrUnknownTopic once Config.UnknownTopicGrace has passed; a runtime that
// never reached a broker fails them with an *UnreachableError (the dial
// failures: connection refused, no such host, a TLS failure) once every
// bootstrap broker has failed Config.UnreachableDials dials; broker
// metadata that cannot be believed is a *MetadataError for its topic.
// Once the runtime has been connected, an outage is ridden out until the
// delivery timeout, whose error wraps the last failure. [Runtime.Ping]
// says whether the bootstrap brokers answer, with the same errors, and
// [Runtime.Health] shows every broker's state from the start.
//
// # Connections
//
// QUIC keep-alives (Config.KeepAlive) and the idle timeout
// (Config.IdleTimeout) notice a dead broker within about 2 s; a broker
// restarted with the same stateless reset key ends the old connections at
// once; a connection whose requests time out Config.MaxConsecutiveTimeouts
// times in a row is replaced. A lost connection is dialled again within
// 50 ms, and while the broker stays away at most a second apart
// (Config.Supervision), so the first acknowledgement after a broker comes
// back follows within about a second.
//
// # Upstream RustMQ
//
// Upstream RustMQ's broker reads each request with one read of at most
// 8 KiB, lists no topics in Metadata, answers failures as text, ignores the
// idempotence headers and lets two requests for one partition overwrite
// each other's records. Config.Upstream adapts the runtime to it: partition
// counts from Config.StaticPartitions, no extension requests, no ALPN, one
// request at a time per connection, each closed so that it fits
// one QUIC packet. Without it, a broker that behaves like upstream makes
// messages fail with ErrUpstreamBroker. docs/protocol.md in the repository
// describes both brokers byte by byte.
//
// # Tracing
//
// With Config.TracerProvider set, each message gets a "create <topic>" span
// (kind PRODUCER) parented by the caller's span, whose context is written
// into the message's traceparent/tracestate headers unless a traceparent is
// already there; each produce request gets a "send <topic>" span (kind
// CLIENT) linked to the create span of every message it carries. The create
// span ends when the message's result is known. Without a provider no span
// is created at all.
package runtime
