// Package broker holds the development broker: a RustMQ-compatible server
// speaking the client wire protocol of shared/WIRE.md over QUIC, in-process
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
// metadata.go, authenticate.go, unsupported.go), whose opening comment says
// what it supports and where it departs from the upstream broker. The fault
// controls (DropConnections, RefuseConnections, SetResponseDelay, FailNext,
// MoveLeader, StopNode, StartNode) live in faults.go and cluster.go.
//
// A *Broker is safe for concurrent use.
package broker
