// Command simple_producer sends a few keyed messages and prints where each
// landed. Without -brokers it starts an in-process development broker, so
// `go run ./examples/simple_producer` works on a fresh machine:
//
//	go run ./examples/simple_producer
//	go run ./examples/simple_producer -brokers 127.0.0.1:9092 -ca ca.pem -topic orders
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simple_producer:", err)
		os.Exit(1)
	}
}

func run() error {
	brokers := flag.String("brokers", "", "comma-separated broker addresses (default: start an in-process development broker)")
	caFile := flag.String("ca", "", "PEM file of the CA that signs the brokers' certificates")
	topic := flag.String("topic", "orders", "topic to produce to")
	count := flag.Int("messages", 10, "number of messages")
	partitions := flag.Int("partitions", 3, "partitions of the topic on the in-process broker")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg := rmq.Config{ClientID: "simple-producer"}
	if *brokers == "" {
		b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{*topic: *partitions}})
		if err != nil {
			return fmt.Errorf("start development broker: %w", err)
		}
		defer b.Close()
		// Trust the broker's generated CA directly; with real brokers the
		// same setting comes from a CA file (-ca).
		cfg.Brokers, cfg.TLS.Config = []string{b.Addr()}, &tls.Config{RootCAs: b.CAPool()}
		fmt.Printf("started a development broker on %s (topic %q, %d partitions)\n", b.Addr(), *topic, *partitions)
	} else {
		cfg.Brokers, cfg.TLS.CAFile = strings.Split(*brokers, ","), *caFile
	}

	rt, err := rmq.New(cfg)
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer(*topic, rmq.ProducerConfig{})
	if err != nil {
		return err
	}
	customers := []string{"alice", "bob", "carol", "dave"}
	for i := range *count {
		key := customers[i%len(customers)]
		msg, err := rmq.NewMessage().
			KeyString(key).
			PayloadJSON(map[string]any{"order": i, "customer": key}).
			Header("source", []byte("simple_producer")).
			Build()
		if err != nil {
			return err
		}
		res, err := p.Send(ctx, msg)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		fmt.Printf("key=%-6s partition=%d offset=%d\n", key, res.Partition, res.Offset)
	}
	if err := p.Close(ctx); err != nil {
		return err
	}
	m := p.Metrics()
	fmt.Printf("sent %d messages in %d requests\n", m.Delivered, m.BatchesSent)
	return rt.Close(ctx)
}
