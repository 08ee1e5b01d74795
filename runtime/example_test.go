package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// exampleBroker starts an in-process development broker with topic
// "orders" (3 partitions) and writes its CA to a file. Real code points
// Config.Brokers at a RustMQ cluster instead.
func exampleBroker() (b *broker.Broker, caFile string, stop func()) {
	b, err := broker.Start(context.Background(), broker.Config{Topics: map[string]int{"orders": 3}})
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "rmq-example")
	if err != nil {
		panic(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, b.CACertPEM(), 0o600); err != nil {
		panic(err)
	}
	return b, caFile, func() { _ = b.Close(); _ = os.RemoveAll(dir) }
}

// Send one keyed message and wait for its acknowledgement.
func Example() {
	b, caFile, stop := exampleBroker()
	defer stop()

	rt, err := rmq.New(rmq.Config{Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{CAFile: caFile}})
	if err != nil {
		panic(err)
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer("orders", rmq.ProducerConfig{})
	if err != nil {
		panic(err)
	}
	msg, err := rmq.NewMessage().KeyString("customer-42").PayloadJSON(map[string]int{"amount": 12}).Build()
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.Send(ctx, msg)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s partition %d offset %d\n", res.Topic, res.Partition, res.Offset)
	// Output: orders partition 0 offset 0
}

// SendAsync hands results to a callback; Flush waits for all of them.
func ExampleProducer_SendAsync() {
	b, caFile, stop := exampleBroker()
	defer stop()
	rt, err := rmq.New(rmq.Config{Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{CAFile: caFile}})
	if err != nil {
		panic(err)
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer("orders", rmq.ProducerConfig{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	acked := 0
	for i := range 100 {
		m := &rmq.Message{Key: []byte("same-key"), Payload: fmt.Appendf(nil, "event %d", i)}
		err := p.SendAsync(ctx, m, func(r *rmq.Result, err error) {
			// Callbacks run one at a time on the producer's delivery goroutine.
			if err == nil {
				acked++
			}
		})
		if err != nil {
			panic(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		panic(err)
	}
	fmt.Println("acknowledged:", acked)
	// Output: acknowledged: 100
}

// SendBatch returns one result per message, in order.
func ExampleProducer_SendBatch() {
	b, caFile, stop := exampleBroker()
	defer stop()
	rt, err := rmq.New(rmq.Config{Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{CAFile: caFile}})
	if err != nil {
		panic(err)
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer("orders", rmq.ProducerConfig{})
	if err != nil {
		panic(err)
	}
	msgs := []*rmq.Message{
		{Payload: []byte("a"), Partition: 2, ExplicitPartition: true},
		{Payload: []byte("b"), Partition: 2, ExplicitPartition: true},
		{Payload: []byte("c"), Partition: 7, ExplicitPartition: true}, // no such partition
	}
	results, err := p.SendBatch(context.Background(), msgs)
	for _, r := range results {
		fmt.Println(r.Partition, r.Offset, r.Err != nil)
	}
	fmt.Println(errors.Is(err, rmq.ErrInvalidPartition))
	// Output:
	// 2 0 false
	// 2 1 false
	// 7 -1 true
	// true
}

// Bad input is refused before anything is queued, with a typed error.
func ExampleProducer_Send_errors() {
	b, caFile, stop := exampleBroker()
	defer stop()
	rt, err := rmq.New(rmq.Config{Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{CAFile: caFile}})
	if err != nil {
		panic(err)
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer("orders", rmq.ProducerConfig{MaxMessageBytes: 1024})
	if err != nil {
		panic(err)
	}
	_, err = p.Send(context.Background(), &rmq.Message{Payload: make([]byte, 2048)})
	var tooLarge *rmq.MessageTooLargeError
	fmt.Println(errors.As(err, &tooLarge), tooLarge.Max)
	_, err = p.Send(context.Background(), nil)
	fmt.Println(errors.Is(err, rmq.ErrNilMessage))
	_, err = rmq.New(rmq.Config{})
	var ce *rmq.ConfigError
	fmt.Println(errors.As(err, &ce), ce.Field)
	// Output:
	// true 1024
	// true
	// true Brokers
}
