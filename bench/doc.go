// Command bench measures the producer runtime against an in-process
// development broker on loopback and prints a table beside a raw quic-go
// baseline measured in the same run. As a main package it may import
// runtime, broker, transport and the internal helpers, and nothing that
// imports it.
//
// Run it as
//
//	go run ./bench                      # or: make bench
//	go run ./bench -duration 5s -workers 1,8,64 -size 100 -acks leader
//	go run ./bench -cpuprofile cpu.out  # profile of the SendAsync runs
//	go tool pprof -top bench cpu.out
//
// Sections:
//
//   - baseline: a bare quic-go server and client with the same TLS 1.3 setup
//     (development CA and leaf, ALPN "rustmq"): the round trip of one
//     request on its own bidirectional stream (p50/p99) and the bulk rate of
//     one stream (MB/s);
//   - SendAsync throughput: -workers goroutines call SendAsync with
//     -size-byte values for -duration, then Flush; the rate counts only
//     messages acknowledged, over the time including the flush;
//   - Send latency: sequential Sends with acks Leader and no linger, p50 and
//     p99;
//   - ratios: p50 Send over p50 raw round trip (the floor is 3x) and the best
//     throughput over the 300,000 msg/s floor;
//   - tracing overhead: the throughput with no TracerProvider, with an SDK
//     provider that samples nothing, and with one that samples everything
//     and exports to a discarding exporter through a batch span processor.
//
// Each measurement starts a fresh in-memory broker and runtime so that no
// run inherits another's log or connections. The broker shares the machine
// with the producer: on two cores both compete for CPU, so the figures are
// a floor for a producer talking to a remote broker.
package main
