// Command high_throughput pushes as many messages as it can: many workers
// call SendAsync (or, with -stream, feed one Producer.Stream through a
// channel), batches are large, values are LZ4-compressed, and an open batch
// lingers at most 1 ms. Every second it prints the delivery rate
// (messages/s and MB/s of values) and at the end the totals.
// It imports the runtime, transport/compress (for the codec names) and the
// development broker, nothing else of this module.
//
// Without -brokers it starts an in-process development broker, so it runs
// on a fresh machine:
//
//	go run ./examples/high_throughput
//	go run ./examples/high_throughput -workers 64 -size 2048 -duration 30s
//	go run ./examples/high_throughput -stream -window 50000
//	go run ./examples/high_throughput -brokers host:port -ca ca.pem -messages 5000000
package main
