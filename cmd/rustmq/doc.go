// Command rustmq is the command line client of this runtime: it produces
// lines to a topic, reads a topic back, lists topics and runs a producer
// performance test, against RustMQ brokers or the development broker.
//
//	rustmq produce [flags] TOPIC        lines of stdin (or -file) as messages
//	rustmq consume [flags] TOPIC        records to stdout; alias: tail
//	rustmq topics  [flags] [TOPIC...]   brokers, topics, partitions, leaders
//	rustmq perf    [flags] TOPIC        a producer performance test
//
// Every subcommand takes the connection flags (-brokers, -ca, -cert, -key,
// -server-name, -alpn, -sasl, -user, -password, -jwt-token-file,
// -static-partitions, -upstream, ...); `rustmq help SUBCOMMAND` lists a
// subcommand's own. -upstream switches on the runtime's upstream mode
// (Config.Upstream) for brokers that are upstream RustMQ's: every topic
// then needs a partition count in -static-partitions, -alpn rustmq and the
// authentication flags are refused, and -idempotence auto means off. Exit status: 0 on
// success, 1 when a message failed, a record could not be read or no
// broker answered in time, 2 for bad usage (a flag value the runtime
// refuses included), 130 when an interrupt stopped produce (or topics)
// before its work was done.
//
// The first SIGINT or SIGTERM stops produce and perf from sending more
// and lets them wait for what they sent, then print their summary; a
// second one gives up on what is still pending; a third ends the process
// at once. It ends consume -f normally (exit status 0).
//
// The reading side is not a consumer group: `consume` reads the partitions
// it is given from the offset it is given and remembers nothing.
package main
