package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestSendBatchLargerThanBuffer: a blocking SendBatch of more messages than
// MaxBufferedRecords, and two concurrent SendBatch calls that together hold
// more than the buffer, complete instead of each holding the space it has
// reserved while it waits for the rest (which never frees).
func TestSendBatchLargerThanBuffer(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{MaxBufferedRecords: 10})
	batch := func(n int) []*rmq.Message {
		msgs := make([]*rmq.Message, n)
		for i := range msgs {
			msgs[i] = msg(i)
		}
		return msgs
	}
	ctx := ctxTimeout(t, 10*time.Second)
	res, err := p.SendBatch(ctx, batch(25))
	if err != nil {
		t.Fatalf("SendBatch of 25 with room for 10: %v", err)
	}
	if len(res) != 25 {
		t.Fatalf("%d results", len(res))
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.SendBatch(ctx, batch(8))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent SendBatch %d: %v", i, err)
		}
	}
	if m := p.Metrics(); m.BufferedRecords != 0 || m.Delivered != 25+4*8 {
		t.Fatalf("metrics %+v", m)
	}
}

// TestCompressionKeptOnlyWhenRecordShrinks: a value that the codec shrinks
// by less than the rmq-codec header costs is sent as it is, since the
// compressed record would be larger on the wire; a value that compresses
// well is still compressed.
func TestCompressionKeptOnlyWhenRecordShrinks(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{Compression: compress.Zstd, CompressThreshold: 16})
	// 1000 random bytes and 40 zeros: zstd saves about 9 bytes, the codec
	// header costs 29.
	barely := make([]byte, 1040)
	rand.New(rand.NewSource(1)).Read(barely[:1000])
	if out, err := compress.Zstd.Compress(nil, barely); err != nil || len(out) >= len(barely) || len(barely)-len(out) > 20 {
		t.Fatalf("test value: zstd gives %d bytes of %d (%v)", len(out), len(barely), err)
	}
	well := bytes.Repeat([]byte("compressible "), 100)
	for _, v := range [][]byte{barely, well} {
		if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: v}); err != nil {
			t.Fatal(err)
		}
	}
	stored := b.Records("t", 0)
	if len(stored) != 2 {
		t.Fatalf("%d records stored", len(stored))
	}
	if codec, has := header(stored[0].Headers, wire.HeaderCodec); has || !bytes.Equal(stored[0].Value, barely) {
		t.Fatalf("barely compressible value stored with codec %q (%v), %d bytes: compression made the record larger", codec, has, len(stored[0].Value))
	}
	if codec, has := header(stored[1].Headers, wire.HeaderCodec); !has || codec != "zstd" || len(stored[1].Value) >= len(well) {
		t.Fatalf("compressible value stored with codec %q (%v), %d bytes", codec, has, len(stored[1].Value))
	}
}

// TestMaxMessageBytesCountsWireSize: with the producer's MaxMessageBytes
// equal to the broker's max message bytes, a message the producer accepts
// is never refused by the broker as too large (code 10): the producer
// measures the record as written (framing, timestamp, idempotence headers),
// not just key, value and headers.
func TestMaxMessageBytesCountsWireSize(t *testing.T) {
	t.Parallel()
	const limit = 4096
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}, MaxMessageBytes: limit})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{MaxMessageBytes: limit})
	accepted := 0
	for n := limit - 200; n <= limit; n++ {
		_, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Key: []byte("k"), Payload: make([]byte, n-1)})
		var tooLarge *rmq.MessageTooLargeError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &tooLarge):
			if tooLarge.Max != limit || tooLarge.Size <= limit {
				t.Fatalf("%d bytes of key and value: %v", n, err)
			}
		default:
			t.Fatalf("%d bytes of key and value: accepted, then %v", n, err)
		}
	}
	if accepted == 0 {
		t.Fatal("no message near the limit was accepted")
	}
	if got := len(b.Records("t", 0)); got != accepted {
		t.Fatalf("%d records stored, %d accepted", got, accepted)
	}
}

// TestFlushWaitsOnlyForEarlierMessages: Flush waits for the messages
// accepted before it, not for the ones other goroutines keep sending while
// it waits; under a steady stream it used to wait until its context ended.
func TestFlushWaitsOnlyForEarlierMessages(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	b.SetResponseDelay(20 * time.Millisecond)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := p.SendAsync(context.Background(), msg(i), nil); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(50 * time.Millisecond)
	for range 3 {
		start := time.Now()
		if err := p.Flush(ctxTimeout(t, 3*time.Second)); err != nil {
			t.Fatalf("Flush under a steady stream of sends: %v after %v", err, time.Since(start))
		}
	}
}
