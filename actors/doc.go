// Package actors holds the behaviours of the producer runtime's actor tree:
// the connection actor (one per broker) and its supervisor, the metadata
// actor, and per producer a producer actor with a router and one batcher
// per partition, together with the messages they exchange and the [Source]
// seam through which the runtime hands them its messages. It may import
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
// # Connections and metadata
//
// A connection actor counts as connected only once the broker answered a
// first request; it crashes on purpose when its dial fails or its
// connection ends (idle timeout, stateless reset, or MaxTimeouts requests
// in a row without an answer), and its supervisor dials again after a
// backoff that starts afresh once a stable connection is lost. Dial
// failures and losses are recorded in the [HealthRegistry].
//
// The metadata actor believes an answer only after checking it: partition
// ids 0..n-1 with n at most MaxPartitions, leaders that are listed brokers
// with a usable address. A topic that fails the checks keeps the metadata
// it had, or fails with a [MetadataError] if it had none. A topic the
// answers do not list is asked about again for UnknownTopicGrace, then
// fails with [ErrUnknownTopic]; before any connection was ever up, topics
// fail with an [UnreachableError] once every bootstrap broker has failed
// UnreachableAfter dials. A failed topic is forgotten (the router forgets
// it too, and a later record asks afresh), and subscribers that no longer
// exist are dropped at each refresh. Only the bootstrap brokers and the
// leaders of partitions someone uses are dialled.
//
// # What survives a panic
//
// protoactor does not redeliver the message an actor panicked on, and a
// restart rebuilds the actor from its props. So what an actor owes others
// lives outside the actor instance, in state its props share across
// incarnations, and a restart re-derives only the transient part (timers,
// the fetch or dial in progress):
//
//   - the router's state (topics, partitions, the records waiting for
//     metadata, the records of the drain it was routing) lives with its
//     producer actor; a restarted router fails only the one record it was
//     routing when it panicked (it may be the cause) and routes the rest;
//   - a batcher's batches, stamps and sequence numbers live in its
//     partition; a restarted batcher resends the attempts whose outcome it
//     did not see, with the same stamp, which an idempotent broker
//     recognises;
//   - the metadata actor keeps its subscribers and waiting leader requests;
//   - requests whose receiver panicked on them are answered by the
//     supervisor with a retriable failure (supervision.Replier), so no
//     requester waits for an answer that will never come.
//
// # Stopping
//
// A requester may give a [Request] a Cancel channel that it closes when
// it stops: the request is withdrawn (a Fetch long poll ends at once) and
// answers nothing. Connection actors and batchers stop telling anyone
// anything once they stopped for good, and the connections supervisor
// spawns nothing once it is stopping. Answers and self-addressed messages
// that race an actor's stop are marked IgnoreDeadLetterLogging: during a
// shutdown they are expected, not a fault. The runtime stops the subtrees
// one after the other (producers and readers, metadata, connections), so
// that none asks an actor already gone.
//
// The batchers are the router's siblings under the producer actor, not its
// children: restarting an actor stops its children first, and a router
// restart must not stop the partitions' pipelines. The supervisors
// themselves hold nothing a message could leave half changed and are
// resumed rather than restarted (restarting one would stop its children).
//
// # The path of a record
//
// The runtime accepts a message into its Source and wakes the router only
// when the router is idle; the router drains every accepted record at once
// ([Wake] is one message per wake-up, not per record), picks each one's
// partition and encodes it straight into the open batch of that
// partition's buffer, which it shares with the partition's batcher under a
// mutex. It wakes the batcher once per new or filled batch. The batcher
// takes batches when a request slot is free (the open one once it has
// lingered), seals them, stamps the idempotence headers in place, and runs
// the request on the leader's live connection from a goroutine of its own
// ([ConnLink]), or through the connection actor's mailbox while that is
// still dialling. The request's goroutine delivers a success itself; the
// batcher learns of every outcome and retries failures in order.
//
// # Trace context
//
// A record carries flags saying whether it has a create span
// ([FlagTraced]) and whether that span records ([FlagSampled]); the stages
// ask the Source for the span only then. The batcher starts one "send
// <topic>" span (kind CLIENT) per attempt of a batch, linked to the create
// spans of its traced records (up to 128, the SDK's default link limit),
// with the batch's size, bytes, why it closed and the attempt number; the
// connection side adds [EventConnQueued], [EventConnWritten] and
// [EventConnResponse] to it. A message's journey is its create span
// (acceptance to result, with the partition and offset at the end), the
// send spans linking to it (when its batch left and how each attempt
// went), and the events added to the create span only when something
// happened to that message alone: [EventWaitMetadata] while its topic was
// unknown, [EventRetry] for each retry of its batch. The router and the
// batcher add no per-message event on the normal path: with every message
// sampled, one event per message and stage cost more than the rest of the
// tracing together. A send span is not started at all when its records are
// traced and none is sampled. With no tracer provider each stage pays a
// flag test.
package actors
