// Package actors holds the behaviours of the producer runtime's actor tree:
// the connection actor (one per broker), the connections supervisor, the
// metadata actor, the per-producer router and the per-partition batcher,
// together with the messages they exchange and the record envelope that
// carries one message from the caller to its result. It may import
// transport, transport/wire, transport/compress, supervision, protoactor-go
// and OpenTelemetry, never runtime or broker.
//
// # Rules every behaviour follows
//
// An actor never blocks its mailbox on I/O. Dials and requests run in
// goroutines that report back to an actor with a message; timers are
// time.AfterFunc callbacks that send a message to the actor instead of
// sleeping. Replies travel with explicit reply-to PIDs (never
// RequestFuture, which is heavy and racy in the pinned protoactor version).
//
// State that must survive a crash lives with the batchers: a connection
// actor may panic on connection loss (its supervisor restarts it with
// backoff) and loses nothing but its queue of waiting requests, which it
// fails with a retriable error before it goes.
//
// # Trace context
//
// Every [Record] carries the span context of the message's "create" span and
// every [Request] the span context of the "send" span of its batch, so the
// stages a message passes through can be attached to the trace without
// changing the message shapes. The batcher starts the "send <topic>" span
// (kind CLIENT) with a link to the creation context of each record of the
// batch; with no tracer provider the tracer is OpenTelemetry's no-op one and
// the records carry invalid span contexts, so the cost is a few branches.
package actors
