// Command production is a producer set up the way a service would run it:
// several workers publish orders as JSON keyed by customer, with acks All,
// idempotence and bounded retries; the runtime logs through log/slog to
// stderr; a metrics line goes to stdout periodically; and shutdown is
// graceful: on SIGINT/SIGTERM or after -duration the workers stop, the
// producer flushes and closes within a deadline, and the run ends with a
// summary and a non-zero exit status if any order failed.
// It imports the runtime, supervision (for backoff settings) and the
// development broker, nothing else of this module.
//
// Without -brokers it starts an in-process development broker, so it runs
// on a fresh machine:
//
//	go run ./examples/production
//	go run ./examples/production -workers 8 -rate 2000 -duration 30s
//	go run ./examples/production -brokers host:port -ca ca.pem -duration 0   # until Ctrl-C
package main
