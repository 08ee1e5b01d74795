package runtime_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/compress"
)

// sendAll sends msgs with SendAsync, flushes, and returns the results in
// the order of msgs.
func sendAll(t *testing.T, p *rmq.Producer, msgs []*rmq.Message) []*rmq.Result {
	t.Helper()
	res := make([]*rmq.Result, len(msgs))
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	wg.Add(len(msgs))
	for i, m := range msgs {
		if err := p.SendAsync(context.Background(), m, func(r *rmq.Result, err error) {
			res[i], errs[i] = r, err
			wg.Done()
		}); err != nil {
			t.Fatalf("SendAsync %d: %v", i, err)
		}
	}
	if err := p.Flush(ctxTimeout(t, 20*time.Second)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, len(msgs[i].Payload), err)
		}
	}
	return res
}

// TestBatchBytesFitsBroker: a broker whose max message bytes equals the
// producer's BatchBytes never refuses a batch as too large (code 10). The
// batch's byte count is the broker's: every record as written, with the
// idempotence headers of the first record, compression and its codec
// header, and the traceparent header. Before the batcher counted the
// idempotence headers, records whose sizes added up to exactly BatchBytes
// formed a batch 62 bytes over it.
func TestBatchBytesFitsBroker(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1, "u": 1}, MaxMessageBytes: limit})
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	t.Cleanup(func() { _ = never.Shutdown(context.Background()) })
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.TracerProvider = never })
	pc := rmq.ProducerConfig{BatchBytes: limit, BatchSize: 100_000, Linger: time.Minute, Idempotence: rmq.IdempotenceOn}

	t.Run("exact multiples", func(t *testing.T) {
		// Without tracing: a record with a 999-byte value and no key or
		// headers is 1024 bytes on the wire, so 64 of them are exactly the
		// limit and the idempotence headers tip such a batch over.
		rtPlain := newRuntime(t, []string{b.Addr()}, ca, nil)
		p := newProducer(t, rtPlain, "t", pc)
		msgs := make([]*rmq.Message, 20*64)
		for i := range msgs {
			msgs[i] = &rmq.Message{Payload: bytes.Repeat([]byte{byte(i)}, 999)}
		}
		sendAll(t, p, msgs)
		m := p.Metrics()
		if m.Retries != 0 || m.RequestsFailed != 0 {
			t.Fatalf("metrics %+v", m)
		}
		if per := m.RecordsSent / m.BatchesSent; per < 60 {
			t.Fatalf("%d records per request: batches did not fill up to BatchBytes", per)
		}
		if got := len(b.Records("t", 0)); got != len(msgs) {
			t.Fatalf("%d records stored, want %d", got, len(msgs))
		}
	})

	t.Run("mixed sizes, compression, trace headers", func(t *testing.T) {
		cfg := pc
		cfg.Compression, cfg.CompressThreshold = compress.LZ4, 512
		p := newProducer(t, rt, "u", cfg)
		rnd := rand.New(rand.NewPCG(1, 2))
		msgs := make([]*rmq.Message, 3000)
		for i := range msgs {
			v := make([]byte, 1+rnd.IntN(4000))
			if i%2 == 0 {
				for j := range v {
					v[j] = byte(rnd.Uint32())
				}
			}
			msgs[i] = &rmq.Message{Key: []byte{byte(i)}, Payload: v, Headers: []rmq.Header{{Key: "n", Value: []byte{byte(i)}}}}
		}
		sendAll(t, p, msgs)
		m := p.Metrics()
		if m.Retries != 0 || m.RequestsFailed != 0 {
			t.Fatalf("metrics %+v", m)
		}
		if m.CompressedIn == 0 {
			t.Fatal("nothing was compressed")
		}
		if per := m.BytesSent / m.BatchesSent; per < limit/2 {
			t.Fatalf("%d bytes per request: batches did not fill up to BatchBytes", per)
		}
	})
}

// TestOversizedMessageTravelsAlone: a message larger than BatchBytes but
// within MaxMessageBytes (the producer's and the broker's) is sent in a
// request of its own, in order with the messages around it.
func TestOversizedMessageTravelsAlone(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}, MaxMessageBytes: 64 << 10})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{BatchBytes: 16 << 10, MaxMessageBytes: 60 << 10, Linger: time.Minute, BatchSize: 100_000})
	var msgs []*rmq.Message
	for i := range 40 {
		msgs = append(msgs, &rmq.Message{Payload: bytes.Repeat([]byte{'s'}, 1000+i)})
	}
	msgs = append(msgs, &rmq.Message{Payload: bytes.Repeat([]byte{'B'}, 40<<10)})
	for i := range 40 {
		msgs = append(msgs, &rmq.Message{Payload: bytes.Repeat([]byte{'s'}, 2000+i)})
	}
	res := sendAll(t, p, msgs)
	for i := 1; i < len(res); i++ {
		if res[i].Offset != res[i-1].Offset+1 {
			t.Fatalf("offsets %d then %d: order lost", res[i-1].Offset, res[i].Offset)
		}
	}
	stored := b.Records("t", 0)
	if len(stored) != len(msgs) || len(stored[40].Value) != 40<<10 {
		t.Fatalf("%d records stored", len(stored))
	}
	if m := p.Metrics(); m.RequestsFailed != 0 {
		t.Fatalf("metrics %+v", m)
	}
}
