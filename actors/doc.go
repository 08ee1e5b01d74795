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
// Every [Record] carries the span context of the message's "create" span
// (Record.Span) and every produce [Request] the recording "send" span of
// its attempt (Request.Span, nil when not sampled). Trace context travels in these fields, not
// in protoactor envelope headers (actor.WithSenderMiddleware and
// actor.WithReceiverMiddleware with actor.MessageEnvelope). Middleware
// would wrap every message in an envelope and allocate a header map per
// message on every hop, traced or not; and an envelope has one set of
// headers while a [Records] message or a batch holds many messages, each
// with its own trace context, that outlive the hop that brought them
// (queued, retried). A field costs nothing when tracing is off (an invalid
// span context) and stays with the record wherever it goes.
//
// The stages show up as span events, not child spans. A message passes the
// router and the batcher in microseconds; a child span per stage and
// message would triple the spans of a trace, each with its own export cost,
// while what a reader wants to know is when the message was routed (and to
// which partition), queued, put into a closed batch (its size and why it
// closed), and retried (attempt, reason, backoff). Those are events on the
// message's create span ([EventRouted], [EventQueued], [EventBatchClosed],
// [EventRetry], [EventWaitMetadata]), added through the record owner's
// [SpanHolder] and only when the record is sampled. The batcher starts one
// "send <topic>" span (kind CLIENT) per attempt of a batch, linked to the
// create span of each record; each sampled create span gets a link back to
// every send span that carried it, with the attempt number. The
// connection actor adds [EventConnQueued], [EventConnWritten] and
// [EventConnResponse] to the send span it finds in Request.Span; a send
// span is one per request, so those events cost nothing per message.
//
// Sampling: the create span follows the provider's sampler under the
// caller's span, and an unsampled create span gets no events. A send span
// is not started at all when its records carry span contexts and none is
// sampled; otherwise the sampler decides with the links in its parameters
// (a parent-based sampler sees a root span). With no tracer provider the
// tracer is nil, records carry invalid span contexts, and each stage pays a
// flag test.
package actors
