package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	rmq "github.com/rustmq/rustmq-go/runtime"
)

// Read back what was produced to one partition, from the first record to
// the end the partition had when the reader started.
func ExampleRuntime_NewReader() {
	b, caFile, stop := exampleBroker()
	defer stop()
	rt, err := rmq.New(rmq.Config{Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{CAFile: caFile}})
	if err != nil {
		panic(err)
	}
	defer rt.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	p, err := rt.CreateProducer("orders", rmq.ProducerConfig{})
	if err != nil {
		panic(err)
	}
	for _, v := range []string{"first", "second", "third"} {
		if _, err := p.Send(ctx, &rmq.Message{Key: []byte("customer-7"), Payload: []byte(v)}); err != nil {
			panic(err)
		}
	}

	rd, err := rt.NewReader(ctx, "orders", rmq.ReaderConfig{Start: rmq.StartEarliest})
	if err != nil {
		panic(err)
	}
	defer rd.Close()
	for {
		rec, err := rd.Next(ctx)
		if errors.Is(err, rmq.ErrEndOfPartitions) {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s/%d@%d key=%s value=%s\n", rec.Topic, rec.Partition, rec.Offset, rec.Key, rec.Value)
	}
	// Output:
	// orders/1@0 key=customer-7 value=first
	// orders/1@1 key=customer-7 value=second
	// orders/1@2 key=customer-7 value=third
}

// Follow a topic from its current end, as `tail -f` follows a file: Next
// waits for new records until its context ends.
func ExampleReader_Next_follow() {
	b, caFile, stop := exampleBroker()
	defer stop()
	rt, err := rmq.New(rmq.Config{Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{CAFile: caFile}})
	if err != nil {
		panic(err)
	}
	defer rt.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	rd, err := rt.NewReader(ctx, "orders", rmq.ReaderConfig{Follow: true, Start: rmq.StartLatest, Partitions: []int32{0}})
	if err != nil {
		panic(err)
	}
	defer rd.Close()
	p, err := rt.CreateProducer("orders", rmq.ProducerConfig{})
	if err != nil {
		panic(err)
	}
	go func() {
		for i := range 3 {
			_, _ = p.Send(ctx, &rmq.Message{Payload: fmt.Appendf(nil, "event %d", i), Partition: 0, ExplicitPartition: true})
		}
	}()
	for range 3 {
		rec, err := rd.Next(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Printf("offset %d: %s\n", rec.Offset, rec.Value)
	}
	// Output:
	// offset 0: event 0
	// offset 1: event 1
	// offset 2: event 2
}
