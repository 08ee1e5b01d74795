package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/compress"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "high_throughput:", err)
		os.Exit(1)
	}
}

func run() error {
	brokers := flag.String("brokers", "", "comma-separated broker addresses (default: start an in-process development broker)")
	caFile := flag.String("ca", "", "PEM file of the CA that signs the brokers' certificates")
	topic := flag.String("topic", "orders", "topic to produce to")
	partitions := flag.Int("partitions", 8, "partitions of the topic on the in-process broker")
	workers := flag.Int("workers", 32, "goroutines calling SendAsync")
	size := flag.Int("size", 1024, "value bytes per message")
	codecName := flag.String("compression", "lz4", "value compression: none, gzip, lz4 or zstd")
	duration := flag.Duration("duration", 10*time.Second, "stop producing after this long")
	messages := flag.Int64("messages", 0, "stop after this many messages (0: no limit)")
	batchSize := flag.Int("batch-size", 10_000, "records per batch")
	stream := flag.Bool("stream", false, "feed messages through Producer.Stream (a channel in, deliveries out) instead of SendAsync")
	window := flag.Int("window", 0, "messages between the stream's input and its deliveries (0: the runtime's default)")
	batchBytes := flag.Int("batch-bytes", 1<<20, "bytes of records per batch (the in-process broker accepts 4 MiB per request)")
	flag.Parse()
	codec, err := compress.ParseCodec(*codecName)
	if err != nil {
		return fmt.Errorf("-compression: %w", err)
	}
	switch {
	case *workers < 1:
		return fmt.Errorf("-workers: %d must be at least 1", *workers)
	case *size < 1:
		return fmt.Errorf("-size: %d must be at least 1", *size)
	case *duration <= 0:
		return fmt.Errorf("-duration: %v must be positive", *duration)
	case *messages < 0:
		return fmt.Errorf("-messages: %d must not be negative", *messages)
	}

	sig, stopSig := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSig()

	cfg := rmq.Config{ClientID: "high-throughput-example", HealthInterval: -1}
	if *brokers == "" {
		// Room for big batches: the development broker's default limit is
		// 1 MiB of records per request.
		b, err := broker.Start(sig, broker.Config{Topics: map[string]int{*topic: *partitions}, MaxMessageBytes: 4 << 20})
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
	p, err := rt.CreateProducer(*topic, rmq.ProducerConfig{
		Acks:              rmq.AcksLeader,
		BatchSize:         *batchSize,
		BatchBytes:        *batchBytes,
		Linger:            time.Millisecond,
		Compression:       codec,
		CompressThreshold: min(*size, rmq.DefaultCompressThreshold),
		MaxInFlight:       rmq.MaxInFlightIdempotent,
		// A stalled broker fails the run within 30s rather than the
		// default 2 minutes: a full buffer holds the workers until then.
		DeliveryTimeout: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	api := "SendAsync"
	if *stream {
		api = "Stream"
	}
	fmt.Printf("producing %d B values with %d workers through %s, %s compression, batches of up to %d records / %d bytes, 1ms linger, for %v\n",
		*size, *workers, api, codec, *batchSize, *batchBytes, *duration)

	stop, cancel := context.WithTimeout(sig, *duration)
	defer cancel()
	var delivered, failed, produced atomic.Int64
	var firstErr atomic.Pointer[error]
	cb := func(_ *rmq.Result, err error) {
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		delivered.Add(1)
	}
	// With -stream, the workers hand messages to one Stream through a
	// channel and a single reader takes the deliveries; the stream's window
	// holds the workers back when deliveries are not read fast enough.
	var in chan *rmq.Message
	var streamDone chan struct{}
	if *stream {
		in = make(chan *rmq.Message, *workers)
		out := p.Stream(context.Background(), in, *window)
		streamDone = make(chan struct{})
		go func() {
			defer close(streamDone)
			for d := range out {
				cb(d.Result, d.Err)
			}
		}()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Go(func() {
			value := valueOf(*size, w)
			for stop.Err() == nil {
				if *messages > 0 && produced.Add(1) > *messages {
					produced.Add(-1)
					cancel()
					return
				} else if *messages == 0 {
					produced.Add(1)
				}
				// The value slice is shared by every message of this worker:
				// the producer only reads it.
				msg := &rmq.Message{Payload: value}
				if in != nil {
					if *messages > 0 {
						// Counted against the budget: it must be sent even if
						// another worker has just used up the budget and
						// stopped the run (the stream keeps reading in).
						in <- msg
						continue
					}
					select {
					case in <- msg:
					case <-stop.Done():
						produced.Add(-1)
						return
					}
					continue
				}
				err := p.SendAsync(context.Background(), msg, cb)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					if errors.Is(err, rmq.ErrClosed) {
						return
					}
				}
			}
		})
	}

	// One rate line per second while producing.
	tick := time.NewTicker(time.Second)
	last, lastAt := int64(0), start
	for stop.Err() == nil {
		select {
		case <-stop.Done():
		case now := <-tick.C:
			d := delivered.Load()
			secs := now.Sub(lastAt).Seconds()
			m := p.Metrics()
			fmt.Printf("rate: %9.0f msgs/s %7.1f MB/s   delivered=%d buffered=%d in_flight=%d\n",
				float64(d-last)/secs, float64(d-last)*float64(*size)/1e6/secs, d, m.BufferedRecords, m.InFlight)
			last, lastAt = d, now
		}
	}
	tick.Stop()
	wg.Wait()
	if in != nil {
		close(in)
		<-streamDone // every message read from in has its delivery
	}

	fctx, fcancel := context.WithTimeout(context.Background(), time.Minute)
	defer fcancel()
	if err := p.Flush(fctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	m := p.Metrics()
	if err := p.Close(fctx); err != nil {
		return err
	}
	d := delivered.Load()
	fmt.Printf("total: %d messages (%.1f MB of values) in %v: %.0f msgs/s, %.1f MB/s; failed=%d\n",
		d, float64(d)*float64(*size)/1e6, elapsed.Round(time.Millisecond), float64(d)/elapsed.Seconds(),
		float64(d)*float64(*size)/1e6/elapsed.Seconds(), failed.Load())
	perReq := 0.0
	if m.BatchesSent > 0 {
		perReq = float64(m.RecordsSent) / float64(m.BatchesSent)
	}
	ratio := 1.0
	if m.CompressedOut > 0 {
		ratio = float64(m.CompressedIn) / float64(m.CompressedOut)
	}
	fmt.Printf("requests: %d (%.0f records each on average), %.1f MB on the wire, retries=%d, compression %s %.2fx\n",
		m.BatchesSent, perReq, float64(m.BytesSent)/1e6, m.Retries, codec, ratio)
	if e := firstErr.Load(); e != nil {
		return fmt.Errorf("%d messages failed; first: %w", failed.Load(), *e)
	}
	return rt.Close(fctx)
}

// valueOf returns a value of n bytes that looks like a log line or an
// event: repetitive enough for compression to matter, distinct per worker.
func valueOf(n, worker int) []byte {
	line := fmt.Sprintf(`{"worker":%d,"level":"info","service":"checkout","msg":"order placed","region":"eu-west-1"}`+"\n", worker)
	v := make([]byte, 0, n)
	for len(v) < n {
		v = append(v, line...)
	}
	return v[:n]
}
