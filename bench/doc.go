// Command bench measures the producer runtime against a development broker
// and prints its figures beside a raw quic-go baseline measured in the same
// run, and against the runtime's performance targets. As a main package it
// may import runtime, broker, transport and the internal helpers, and
// nothing that imports it.
//
// Run it as
//
//	go run ./bench                      # or: make bench
//	go run ./bench -duration 5s -workers 1,8,64 -size 100 -acks leader
//	go run ./bench -broker-process      # the broker in a process of its own
//	go run ./bench -brokers host:9092 -ca ca.pem   # an external broker
//	go run ./bench -cpuprofile cpu.out  # profile of the SendAsync runs
//	go tool pprof -top bench cpu.out
//
// Where the broker runs: by default in this process, so both share the same
// cores and the CPU and allocation figures include the broker's work. With
// -broker-process the runner starts the development broker as a child
// process (itself, re-executed) for each measurement, and the CPU time and
// allocations per message are the producer process's alone (the broker
// still competes for the same cores). With -brokers it produces to an
// external broker, which must hold the topic "bench" with -partitions
// partitions.
//
// Sections:
//
//   - baseline: a bare quic-go server and client with the same TLS 1.3 setup
//     (development CA and leaf, ALPN "rustmq"): the round trip of one
//     request on its own bidirectional stream (p50/p99) and the bulk rate of
//     one stream (MB/s);
//   - SendAsync throughput: -workers goroutines call SendAsync with
//     -size-byte values for -duration, then Flush; the rate counts only
//     messages acknowledged, over the time including the flush; beside it
//     the CPU time and the allocations of the process per message;
//   - Send latency: sequential Sends with acks Leader and no linger, p50 and
//     p99, each followed by the same produce request on a bare transport
//     connection and by a raw quic-go round trip, so that the target's
//     ratio compares round trips taken at the same moments;
//   - memory: -heap-n messages sent with SendAsync (one shared *Message, so
//     that the caller's own allocations are left out) to an in-process
//     broker that holds every answer back, so that all of them stay
//     buffered: the live heap they add per message, the allocations per
//     SendAsync, and what MaxBufferedBytes counts per message;
//   - base RSS: a runtime connected with one producer that has sent one
//     message, and a bare quic-go client that has made one request, each in
//     a fresh child process against a broker process;
//   - tracing overhead: the throughput with no TracerProvider, with an SDK
//     provider that samples nothing, and with one that samples everything
//     and exports to a discarding exporter through a batch span processor,
//     the three taking turns for -trace-rounds rounds and each reported by
//     its median;
//   - targets: each figure against its target, ratios from this run.
//
// Each measurement starts a fresh broker and runtime so that no run
// inherits another's log or connections. On a machine shared with other
// work, compare the ratios of one run; absolute figures move with the load.
package main
