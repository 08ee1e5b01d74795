// Package broker holds the development broker: a RustMQ-compatible server
// speaking the client wire protocol of docs/protocol.md over QUIC, in-process
// (Start) or as the cmd/rustmq-broker binary, with fault injection for tests.
// Of this module it imports transport/wire, internal/devcert and its own
// broker/internal packages only, so tests that go through it are honest.
//
// The broker is for examples, tests and benchmarks, never for production
// data. It keeps one append-only log per partition, in memory or in a data
// directory (segment files with length + CRC framing, fsync before an
// acks=All answer, recovery that cuts a torn tail). In cluster mode
// (Config.Brokers > 1) several nodes listen on their own ports and share one
// metadata view and one log per partition: leadership is a routing fact,
// replication is not simulated.
//
// Each request type is served by its own file (produce.go, fetch.go,
// metadata.go, authenticate.go, capabilities.go, unsupported.go), whose opening comment says
// what it supports and where it departs from the upstream broker. The fault
// controls (FailNext with its Fault rules, DropConnections,
// RefuseConnections, SetResponseDelay, AdvertiseBrokers, MoveLeader,
// StopNode, CrashNode, StartNode) live in faults.go, control.go and
// cluster.go. A Fault rule matches requests by type, topic and partition,
// for a count, and can answer an error code, a crafted frame of any
// content (Answer, built with AnswerFrame or ErrorFrame), no answer at
// all, a stream reset or a dropped connection, before or after the
// request took effect, optionally after a delay.
//
// A *Broker is safe for concurrent use.
//
// # Departures and open questions
//
//   - Fetch beyond the high watermark is answered error_code 1, Kafka's
//     OFFSET_OUT_OF_RANGE (not retriable), but docs/protocol.md's table gives 1 as
//     "unknown server error" (retriable): a client following docs/protocol.md alone
//     retries such a Fetch forever. The code is kept as Kafka numbers it;
//     the message ("offset out of range: ...") and the answer's
//     high_watermark distinguish it. docs/protocol.md needs a decision here (see
//     fetch.go).
//   - Idempotent batches that arrive before their predecessors (pipelined
//     on separate QUIC streams, which QUIC does not order) wait up to
//     Config.IdempotenceReorderWindow for them instead of being answered 45
//     at once as docs/protocol.md describes (see reorder.go). Upstream has no
//     idempotence extension and so no such wait.
package broker
