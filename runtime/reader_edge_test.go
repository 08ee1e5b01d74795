package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/internal/devcert"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// sendValues sends one record per value to partition p of the producer's
// topic, in one batch.
func sendValues(t *testing.T, pr *rmq.Producer, p int32, values ...string) {
	t.Helper()
	msgs := make([]*rmq.Message, len(values))
	for i, v := range values {
		msgs[i] = &rmq.Message{Payload: []byte(v), Partition: p, ExplicitPartition: true}
	}
	if _, err := pr.SendBatch(ctxTimeout(t, 20*time.Second), msgs); err != nil {
		t.Fatal(err)
	}
}

// TestReaderConcurrentNext has several goroutines wait in Next on one
// following reader: every record fetched reaches one of them even though
// they all waited when it arrived, and Close wakes every one still
// waiting.
func TestReaderConcurrentNext(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"c": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "c", rmq.ProducerConfig{})
	rd := newReader(t, rt, "c", rmq.ReaderConfig{Follow: true, Start: rmq.StartLatest, Poll: 100 * time.Millisecond})

	const waiters, n = 4, 40
	recs := make(chan int64, n)
	errs := make(chan error, waiters)
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			for {
				rec, err := rd.Next(context.Background())
				if err != nil {
					errs <- err
					return
				}
				recs <- rec.Offset
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // let every goroutine wait in Next
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprint(i)
	}
	sendValues(t, p, 0, values...) // one batch, so one fetch answer
	seen := map[int64]bool{}
	timeout := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case off := <-recs:
			if seen[off] {
				t.Fatalf("offset %d returned twice", off)
			}
			seen[off] = true
		case <-timeout:
			t.Fatalf("%d of %d records returned to %d concurrent callers of Next", len(seen), n, waiters)
		}
	}
	time.Sleep(50 * time.Millisecond) // every caller is waiting again
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Close woke %d of %d callers waiting in Next", len(errs), waiters)
	}
	for range waiters {
		if err := <-errs; !errors.Is(err, rmq.ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
	}
}

// TestReaderConcurrentNextAtEnd: callers waiting in Next of a reader that
// does not follow all get ErrEndOfPartitions once the last partition
// ends, not only the first one woken.
func TestReaderConcurrentNextAtEnd(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"e": 3}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "e", rmq.ProducerConfig{})
	for part := range int32(3) {
		sendValues(t, p, part, "a", "b")
	}
	for range 5 {
		rd := newReader(t, rt, "e", rmq.ReaderConfig{})
		var got sync.Map
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for range 6 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				for {
					rec, err := rd.Next(ctx)
					if err != nil {
						errs <- err
						return
					}
					got.Store(fmt.Sprint(rec.Partition, rec.Offset), true)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, rmq.ErrEndOfPartitions) {
				t.Fatalf("a concurrent caller of Next got %v, want ErrEndOfPartitions", err)
			}
		}
		n := 0
		got.Range(func(any, any) bool { n++; return true })
		if n != 6 {
			t.Fatalf("read %d distinct records, want 6", n)
		}
		_ = rd.Close()
	}
}

// TestReaderOffsetsAtTheEdges: a start exactly at the end reads nothing
// (and, following, what comes next), StartFromEnd larger than the
// partition starts at offset 0, and Next after Close says closed.
func TestReaderOffsetsAtTheEdges(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"o": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "o", rmq.ProducerConfig{})
	sendValues(t, p, 0, "r0", "r1", "r2")

	rd := newReader(t, rt, "o", rmq.ReaderConfig{Start: 3})
	if rec, err := rd.Next(ctxTimeout(t, 5*time.Second)); !errors.Is(err, rmq.ErrEndOfPartitions) {
		t.Fatalf("start at the high watermark: %v, %v", rec, err)
	}
	rd = newReader(t, rt, "o", rmq.ReaderConfig{Start: rmq.StartFromEnd(1000)})
	got := readAll(t, rd)
	if len(got[0]) != 3 || got[0][0] != "r0" {
		t.Fatalf("StartFromEnd(1000) of 3 records read %v", got)
	}
	rd = newReader(t, rt, "o", rmq.ReaderConfig{Start: 3, Follow: true, Poll: 50 * time.Millisecond})
	sendValues(t, p, 0, "r3")
	if rec, err := rd.Next(ctxTimeout(t, 10*time.Second)); err != nil || rec.Offset != 3 || string(rec.Value) != "r3" {
		t.Fatalf("following from the high watermark: %v, %v", rec, err)
	}
	_ = rd.Close()
	for range 2 {
		if _, err := rd.Next(context.Background()); !errors.Is(err, rmq.ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
	}
	// An offset for a partition the topic does not have.
	if _, err := rt.NewReader(ctxTimeout(t, 10*time.Second), "o", rmq.ReaderConfig{Offsets: map[int32]rmq.StartOffset{3: 0}}); !errors.Is(err, rmq.ErrInvalidPartition) {
		t.Fatalf("Offsets for partition 3 of 1: %v", err)
	}
	// Past the end, following or not: a typed error, at once.
	rd = newReader(t, rt, "o", rmq.ReaderConfig{Start: 5, Follow: true})
	if _, err := rd.Next(ctxTimeout(t, 5*time.Second)); !errors.Is(err, rmq.ErrOffsetOutOfRange) {
		t.Fatalf("following from past the end: %v", err)
	}
}

// TestReaderDecompressionBombs reads values whose rmq-codec header is
// true but which decompress far beyond MaxDecodedBytes, with every codec:
// each is a *RecordError naming the limit, the reader does not allocate
// what the value expands to, and the record after it reads normally.
func TestReaderDecompressionBombs(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"bomb": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "bomb", rmq.ProducerConfig{})
	const expanded, limit = 64 << 20, 1 << 20
	zeros := make([]byte, expanded)
	codecs := []compress.Codec{compress.Gzip, compress.LZ4, compress.Zstd}
	for _, c := range codecs {
		v, err := c.Compress(nil, zeros)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) > 900<<10 {
			t.Fatalf("%v: a %d MiB bomb takes %d bytes, too many for one record", c, expanded>>20, len(v))
		}
		// Sent as is, with a true codec header: the producer does not
		// compress a value that already names its codec.
		m := &rmq.Message{Payload: v, Headers: []rmq.Header{{Key: wire.HeaderCodec, Value: []byte(c.String())}}}
		if _, err := p.Send(ctxTimeout(t, 20*time.Second), m); err != nil {
			t.Fatalf("%v bomb: %v", c, err)
		}
		sendValues(t, p, 0, "after "+c.String())
	}
	zeros = nil

	rd := newReader(t, rt, "bomb", rmq.ReaderConfig{MaxDecodedBytes: limit})
	ctx := ctxTimeout(t, 30*time.Second)
	for _, c := range codecs {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rec, err := rd.Next(ctx)
		runtime.ReadMemStats(&after)
		var re *rmq.RecordError
		if !errors.As(err, &re) || !errors.Is(err, compress.ErrTooLarge) || rec == nil {
			t.Fatalf("%v bomb: %v, %v", c, rec, err)
		}
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 32<<20 {
			t.Errorf("%v bomb: decoding allocated %d MiB with MaxDecodedBytes %d MiB", c, grown>>20, limit>>20)
		}
		if rec, err := rd.Next(ctx); err != nil || string(rec.Value) != "after "+c.String() {
			t.Fatalf("record after the %v bomb: %v, %v", c, rec, err)
		}
	}
	if _, err := rd.Next(ctx); !errors.Is(err, rmq.ErrEndOfPartitions) {
		t.Fatalf("after the bombs: %v", err)
	}
}

// TestReaderFollowsAcrossBrokerRestart follows a topic of a durable
// broker, which then stops and comes back on the same address, with the
// same certificate and one more partition: the reader resumes where it was
// in the old partition, nothing repeated or lost, and reads the new
// partition from its first record.
func TestReaderFollowsAcrossBrokerRestart(t *testing.T) {
	ca, err := devcert.NewCA("restart CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueServer()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteCA(caFile); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := broker.Config{Topics: map[string]int{"grow": 1}, DataDir: dir, Certificate: &leaf}
	b1, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b1.Close() })
	cfg.Listen, cfg.Topics = b1.Addr(), map[string]int{"grow": 2}
	key := b1.StatelessResetKey()
	cfg.StatelessResetKey = &key

	rt := newRuntime(t, []string{b1.Addr()}, caFile, func(c *rmq.Config) { c.MetadataRefresh = 200 * time.Millisecond })
	p := newProducer(t, rt, "grow", rmq.ProducerConfig{DeliveryTimeout: 30 * time.Second})
	rd := newReader(t, rt, "grow", rmq.ReaderConfig{Follow: true, Poll: 100 * time.Millisecond,
		RetryBackoff: supervision.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
	ctx := ctxTimeout(t, 60*time.Second)
	next := func(what string) *rmq.ReadRecord {
		t.Helper()
		rec, err := rd.Next(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return rec
	}
	sendValues(t, p, 0, "before-0", "before-1")
	for i := range 2 {
		if rec := next("before the restart"); rec.Offset != int64(i) || string(rec.Value) != fmt.Sprintf("before-%d", i) {
			t.Fatalf("before the restart: %d %q", rec.Offset, rec.Value)
		}
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the reader's fetches fail and retry meanwhile
	b2, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b2.Close() })
	sendValues(t, p, 0, "after-2")
	if rec := next("after the restart"); rec.Partition != 0 || rec.Offset != 2 || string(rec.Value) != "after-2" {
		t.Fatalf("after the restart: read %d/%d %q", rec.Partition, rec.Offset, rec.Value)
	}
	// The metadata refresh finds the new partition; the reader takes it on.
	for deadline := time.Now().Add(10 * time.Second); len(rd.Partitions()) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("Partitions() = %v 10s after the topic grew", rd.Partitions())
		}
		time.Sleep(20 * time.Millisecond) // polling what the metadata refresh changes
	}
	sendValues(t, p, 1, "new-0")
	if rec := next("the new partition"); rec.Partition != 1 || rec.Offset != 0 || string(rec.Value) != "new-0" {
		t.Fatalf("the new partition: read %d/%d %q", rec.Partition, rec.Offset, rec.Value)
	}
}

// TestReaderHostileFetchAnswers answers the reader's fetches with frames a
// broker should never send: a record count of 2^40 in a few bytes, a high
// watermark of 2^64-1, and far more records than the fetch asked for. The
// reader claims nothing a frame says, names the cause, and reads what
// is real.
func TestReaderHostileFetchAnswers(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"h": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "h", rmq.ProducerConfig{})
	sendValues(t, p, 0, "real-0", "real-1")

	// 2^40 records claimed by a 9-byte body: a decode error, at once.
	claim := wire.AppendFrame(nil, wire.TypeFetch)
	claim = append(claim, 0, 0, 0, 0, 0, 1, 0, 0, 0xAA) // u64 little endian 2^40, then garbage
	b.FailNext(broker.Fault{RequestType: wire.TypeFetch, Topic: "h", Partition: 0, Answer: claim})
	rd := newReader(t, rt, "h", rmq.ReaderConfig{})
	start := time.Now()
	_, err := rd.Next(ctxTimeout(t, 10*time.Second))
	var rerr *rmq.ReadError
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), "records") || strings.Count(err.Error(), "fetch h/0") != 1 {
		t.Fatalf("a fetch answer claiming 2^40 records: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the lying answer took %v to report", d)
	}
	_ = rd.Close()

	// A high watermark of 2^64-1 in the first answer: not an offset.
	b.FailNext(broker.Fault{RequestType: wire.TypeFetch, Topic: "h", Partition: 0,
		Answer: broker.AnswerFrame(wire.TypeFetch, &wire.FetchResponse{HighWatermark: math.MaxUint64})})
	rd = newReader(t, rt, "h", rmq.ReaderConfig{})
	if rec, err := rd.Next(ctxTimeout(t, 10*time.Second)); err == nil {
		t.Fatalf("a high watermark of 2^64-1 was taken: read %d %q", rec.Offset, rec.Value)
	} else if !errors.As(err, &rerr) || !strings.Contains(err.Error(), "high watermark 18446744073709551615") || errors.Is(err, rmq.ErrOffsetOutOfRange) {
		t.Fatalf("a high watermark of 2^64-1: %v", err)
	}
	_ = rd.Close()

	// 2 MiB of records in answer to a fetch of at most 64 KiB: handed on
	// (the transport bounds an answer's size), and reading goes on.
	big := make([]wire.Record, 64)
	for i := range big {
		big[i] = wire.Record{Value: bytes.Repeat([]byte{byte('a' + i%26)}, 32<<10)}
	}
	rd = newReader(t, rt, "h", rmq.ReaderConfig{MaxFetchBytes: 64 << 10, PrefetchBytes: 64 << 10, Follow: true, Poll: 50 * time.Millisecond})
	ctx := ctxTimeout(t, 20*time.Second)
	for i := range 2 {
		rec, err := rd.Next(ctx)
		if err != nil || string(rec.Value) != fmt.Sprintf("real-%d", i) {
			t.Fatalf("record %d: %v, %v", i, rec, err)
		}
	}
	// Every fetch from now on asks for offset 2 until records come.
	b.FailNext(broker.Fault{RequestType: wire.TypeFetch, Topic: "h", Partition: 0,
		Answer: broker.AnswerFrame(wire.TypeFetch, &wire.FetchResponse{Records: big, HighWatermark: 66})})
	// The fetches after it, at offset 66, get the same story: nothing new.
	b.FailNext(broker.Fault{RequestType: wire.TypeFetch, Topic: "h", Partition: 0, Count: -1,
		Answer: broker.AnswerFrame(wire.TypeFetch, &wire.FetchResponse{HighWatermark: 66})})
	t.Cleanup(b.ClearFaults)
	for i := range big {
		rec, err := rd.Next(ctx)
		if err != nil || rec.Offset != int64(2+i) || len(rec.Value) != 32<<10 {
			t.Fatalf("oversized answer, record %d: %v", i, err)
		}
	}
}
