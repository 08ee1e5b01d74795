package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// produceKeyed sends n messages with keys k0..k(n-1) and values v0..,
// and returns, per partition, the values in offset order.
func produceKeyed(t *testing.T, p *rmq.Producer, n int, value func(i int) []byte) map[int32][]string {
	t.Helper()
	ctx := ctxTimeout(t, 60*time.Second)
	msgs := make([]*rmq.Message, n)
	for i := range msgs {
		msgs[i] = &rmq.Message{Key: []byte(fmt.Sprintf("k%d", i)), Payload: value(i)}
	}
	results, err := p.SendBatch(ctx, msgs)
	if err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	type at struct {
		off int64
		v   string
	}
	byPart := map[int32][]at{}
	for _, r := range results {
		byPart[r.Partition] = append(byPart[r.Partition], at{r.Offset, string(r.Message.Payload)})
	}
	out := map[int32][]string{}
	for part, xs := range byPart {
		vals := make([]string, len(xs))
		for _, x := range xs {
			if x.off < 0 || int(x.off) >= len(xs) {
				t.Fatalf("partition %d: offset %d outside 0..%d", part, x.off, len(xs)-1)
			}
			vals[x.off] = x.v
		}
		out[part] = vals
	}
	return out
}

// readAll reads until ErrEndOfPartitions and returns, per partition, the
// values in the order read, checking that offsets count up from 0.
func readAll(t *testing.T, rd *rmq.Reader) map[int32][]string {
	t.Helper()
	ctx := ctxTimeout(t, 60*time.Second)
	out := map[int32][]string{}
	for {
		rec, err := rd.Next(ctx)
		if errors.Is(err, rmq.ErrEndOfPartitions) {
			if !errors.Is(err, io.EOF) {
				t.Errorf("ErrEndOfPartitions does not match io.EOF")
			}
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if want := int64(len(out[rec.Partition])); rec.Offset != want {
			t.Fatalf("partition %d: offset %d, want %d", rec.Partition, rec.Offset, want)
		}
		out[rec.Partition] = append(out[rec.Partition], string(rec.Value))
	}
}

func newReader(t *testing.T, rt *rmq.Runtime, topic string, cfg rmq.ReaderConfig) *rmq.Reader {
	t.Helper()
	rd, err := rt.NewReader(ctxTimeout(t, 20*time.Second), topic, cfg)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	t.Cleanup(func() { _ = rd.Close() })
	return rd
}

func equalParts(t *testing.T, got, want map[int32][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d partitions, want %d", len(got), len(want))
	}
	for p, w := range want {
		g := got[p]
		if len(g) != len(w) {
			t.Fatalf("partition %d: read %d records, want %d", p, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("partition %d offset %d: read %q, want %q", p, i, g[i], w[i])
			}
		}
	}
}

// TestReaderAcrossSegmentsAfterRestart writes enough to a durable broker
// with 4 KiB segments to fill dozens of segment files per partition, stops
// the broker, starts a new one on the same directory, and reads every
// record back in order.
func TestReaderAcrossSegmentsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := broker.Config{Topics: map[string]int{"events": 3}, DataDir: dir, SegmentBytes: 4096}
	b, ca := startBroker(t, cfg)
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "events", rmq.ProducerConfig{Acks: rmq.AcksAll, Linger: time.Millisecond, BatchSize: 50})
	want := produceKeyed(t, p, 3000, func(i int) []byte { return []byte(fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", i%97))) })
	if err := rt.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*", "events-0", "*.log"))
	if len(segs) < 10 {
		t.Fatalf("partition 0 has %d segment files, want many (is SegmentBytes honoured?)", len(segs))
	}

	b2, ca2 := startBroker(t, cfg)
	rt2 := newRuntime(t, []string{b2.Addr()}, ca2, nil)
	rd := newReader(t, rt2, "events", rmq.ReaderConfig{MaxFetchBytes: 3000})
	if got := rd.Partitions(); len(got) != 3 {
		t.Fatalf("Partitions() = %v", got)
	}
	equalParts(t, readAll(t, rd), want)
	// Finished readers keep saying so.
	if _, err := rd.Next(ctxTimeout(t, time.Second)); !errors.Is(err, rmq.ErrEndOfPartitions) {
		t.Fatalf("Next after the end: %v", err)
	}
}

// TestReaderFollowsProducer starts a following reader at the latest
// offset, then produces from another goroutine, and sees every record
// exactly once, in order per partition.
func TestReaderFollowsProducer(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"live": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "live", rmq.ProducerConfig{Linger: time.Millisecond})
	// Records written before the reader starts are not read with StartLatest.
	produceKeyed(t, p, 10, func(i int) []byte { return []byte("old") })
	rd := newReader(t, rt, "live", rmq.ReaderConfig{Follow: true, Start: rmq.StartLatest, Poll: 200 * time.Millisecond})

	const n = 400
	var wg sync.WaitGroup
	wg.Go(func() {
		ctx := ctxTimeout(t, 30*time.Second)
		for i := range n {
			if err := p.SendAsync(ctx, &rmq.Message{Key: []byte(fmt.Sprintf("k%d", i%7)), Payload: []byte(fmt.Sprintf("new-%d", i))}, func(*rmq.Result, error) {}); err != nil {
				t.Errorf("SendAsync: %v", err)
				return
			}
			if i%50 == 0 {
				time.Sleep(20 * time.Millisecond) // let the reader catch up and long-poll in between
			}
		}
	})
	ctx := ctxTimeout(t, 30*time.Second)
	seen := map[string]bool{}
	last := map[int32]int64{0: 9, 1: 9}
	firstOff := map[int32]int64{}
	for len(seen) < n {
		rec, err := rd.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(seen), err)
		}
		v := string(rec.Value)
		if !strings.HasPrefix(v, "new-") || seen[v] {
			t.Fatalf("unexpected or repeated record %q at %d/%d", v, rec.Partition, rec.Offset)
		}
		seen[v] = true
		if _, ok := firstOff[rec.Partition]; !ok {
			firstOff[rec.Partition] = rec.Offset
		} else if rec.Offset != last[rec.Partition]+1 {
			t.Fatalf("partition %d: offset %d after %d", rec.Partition, rec.Offset, last[rec.Partition])
		}
		last[rec.Partition] = rec.Offset
	}
	wg.Wait()
	// The old records took offsets below the reader's start in both partitions.
	for part, off := range firstOff {
		if hw, _ := b.HighWatermark("live", uint32(part)); off <= 0 || uint64(last[part])+1 != hw {
			t.Errorf("partition %d: read %d..%d, broker high watermark %d", part, off, last[part], hw)
		}
	}
	// Nothing more arrives: Next waits until its context ends.
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if rec, err := rd.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with nothing to read: %v, %v", rec, err)
	}
}

// TestReaderDecodesCompressedValues reads values a producer compressed
// with each codec and gets them back as sent, without the codec header; a
// value whose codec header lies is reported as a *RecordError and reading
// goes on.
func TestReaderDecodesCompressedValues(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"z": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	var want []string
	for _, codec := range []compress.Codec{compress.Gzip, compress.LZ4, compress.Zstd} {
		p := newProducer(t, rt, "z", rmq.ProducerConfig{Compression: codec, CompressThreshold: 64})
		v := strings.Repeat(codec.String()+" compresses well. ", 100)
		if _, err := p.Send(ctx, &rmq.Message{Payload: []byte(v), Headers: []rmq.Header{{Key: "codec", Value: []byte(codec.String())}}}); err != nil {
			t.Fatal(err)
		}
		want = append(want, v)
	}
	// A record claiming zstd whose value is not a zstd frame.
	p := newProducer(t, rt, "z", rmq.ProducerConfig{})
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("not zstd at all"), Headers: []rmq.Header{{Key: wire.HeaderCodec, Value: []byte("zstd")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	// The broker holds compressed bytes.
	stored := b.Records("z", 0)
	if v, _ := wire.HeaderValue(stored[0].Headers, wire.HeaderCodec); string(v) != "gzip" || len(stored[0].Value) >= len(want[0]) {
		t.Fatalf("first stored record: codec %q, %d bytes for a %d-byte value", v, len(stored[0].Value), len(want[0]))
	}

	rd := newReader(t, rt, "z", rmq.ReaderConfig{})
	for i, w := range want {
		rec, err := rd.Next(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if string(rec.Value) != w {
			t.Fatalf("record %d: value %.40q..., want %.40q...", i, rec.Value, w)
		}
		if _, ok := wire.HeaderValue(rec.Headers, wire.HeaderCodec); ok {
			t.Errorf("record %d keeps the rmq-codec header", i)
		}
		if v, _ := wire.HeaderValue(rec.Headers, "codec"); string(v) == "" {
			t.Errorf("record %d lost its own header: %v", i, rec.Headers)
		}
		if rec.Timestamp.IsZero() || time.Since(rec.Timestamp) > time.Minute {
			t.Errorf("record %d: timestamp %v", i, rec.Timestamp)
		}
	}
	rec, err := rd.Next(ctx)
	var re *rmq.RecordError
	if !errors.As(err, &re) || re.Offset != 3 || rec == nil || string(rec.Value) != "not zstd at all" {
		t.Fatalf("lying codec header: %v, %v", rec, err)
	}
	if _, ok := wire.HeaderValue(rec.Headers, wire.HeaderCodec); !ok {
		t.Errorf("an undecodable record should keep its rmq-codec header")
	}
	if rec, err = rd.Next(ctx); err != nil || string(rec.Value) != "after" || rec.Key != nil {
		t.Fatalf("record after the bad one: %v, %v", rec, err)
	}
}

// TestReaderErrors: an unknown topic, a partition the topic lacks, a start
// beyond the end, bad settings and a closed runtime are reported at once
// with typed errors.
func TestReaderErrors(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)

	start := time.Now()
	_, err := rt.NewReader(ctxTimeout(t, 20*time.Second), "no-such-topic", rmq.ReaderConfig{})
	if !errors.Is(err, rmq.ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("unknown topic took %v to report", d)
	}
	if _, err := rt.NewReader(ctxTimeout(t, 20*time.Second), "t", rmq.ReaderConfig{Partitions: []int32{0, 5}}); !errors.Is(err, rmq.ErrInvalidPartition) {
		t.Fatalf("partition 5 of 2: %v", err)
	}
	if _, err := rt.NewReader(context.Background(), "", rmq.ReaderConfig{}); !errors.Is(err, rmq.ErrEmptyTopic) {
		t.Fatalf("empty topic: %v", err)
	}
	for _, bad := range []rmq.ReaderConfig{
		{Partitions: []int32{1, 1}},
		{Partitions: []int32{}},
		{Poll: -time.Second},
		{PrefetchBytes: -1},
		{Partitions: []int32{0}, Offsets: map[int32]rmq.StartOffset{1: 0}},
	} {
		var ce *rmq.ConfigError
		if _, err := rt.NewReader(context.Background(), "t", bad); !errors.As(err, &ce) || !errors.Is(err, rmq.ErrInvalidConfig) {
			t.Errorf("NewReader(%+v) = %v, want a *ConfigError", bad, err)
		}
	}

	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("x"), Partition: 1, ExplicitPartition: true}); err != nil {
		t.Fatal(err)
	}
	rd := newReader(t, rt, "t", rmq.ReaderConfig{Partitions: []int32{1}, Start: 7})
	_, err = rd.Next(ctxTimeout(t, 10*time.Second))
	var oor *rmq.OffsetOutOfRangeError
	var rerr *rmq.ReadError
	if !errors.As(err, &oor) || !errors.Is(err, rmq.ErrOffsetOutOfRange) || !errors.As(err, &rerr) || oor.Offset != 7 || oor.HighWatermark != 1 || rerr.Partition != 1 {
		t.Fatalf("start beyond the end: %v", err)
	}
	if _, again := rd.Next(context.Background()); !errors.Is(again, rmq.ErrOffsetOutOfRange) {
		t.Fatalf("the failure should stick: %v", again)
	}

	// From the end: the last record of partition 1 only; partition 0 is empty.
	rd2 := newReader(t, rt, "t", rmq.ReaderConfig{Start: rmq.StartFromEnd(1)})
	if rec, err := rd2.Next(ctxTimeout(t, 10*time.Second)); err != nil || rec.Partition != 1 || rec.Offset != 0 {
		t.Fatalf("StartFromEnd(1): %v, %v", rec, err)
	}
	if _, err := rd2.Next(ctxTimeout(t, 10*time.Second)); !errors.Is(err, rmq.ErrEndOfPartitions) {
		t.Fatalf("after the last record: %v", err)
	}

	// Close makes a waiting Next return ErrClosed.
	rd3 := newReader(t, rt, "t", rmq.ReaderConfig{Follow: true, Start: rmq.StartLatest})
	got := make(chan error, 1)
	go func() {
		_, err := rd3.Next(context.Background())
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Next block; it returns either way
	if err := rd3.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, rmq.ErrClosed) {
			t.Fatalf("Next during Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still waiting after Close")
	}
	// The runtime's Close ends its readers too.
	rd4 := newReader(t, rt, "t", rmq.ReaderConfig{Follow: true})
	if err := rt.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := rd4.Next(ctxTimeout(t, 5*time.Second))
		if errors.Is(err, rmq.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("Next after the runtime's Close: %v", err)
		}
	}
	if _, err := rt.NewReader(context.Background(), "t", rmq.ReaderConfig{}); !errors.Is(err, rmq.ErrClosed) {
		t.Fatalf("NewReader after Close: %v", err)
	}
}

// TestReaderBoundedPrefetch checks that a reader nobody reads from holds
// no more than PrefetchBytes per partition (plus one record), as its
// buffered-bytes gauge reports, and that once read, every record arrives.
func TestReaderBoundedPrefetch(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"big": 1}})
	mr := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(mr))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.MeterProvider = mp })
	p := newProducer(t, rt, "big", rmq.ProducerConfig{})
	const n, size = 400, 1000
	want := produceKeyed(t, p, n, func(i int) []byte {
		return append([]byte(fmt.Sprintf("%04d", i)), bytes.Repeat([]byte{'.'}, size-4)...)
	})

	const bound = 8 << 10
	rd := newReader(t, rt, "big", rmq.ReaderConfig{PrefetchBytes: bound, MaxFetchBytes: 64 << 10})
	gauge := func(name string) (int64, bool) {
		var rm metricdata.ResourceMetrics
		if err := mr.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name {
					for _, dp := range g.DataPoints {
						if v, _ := dp.Attributes.Value(attribute.Key("messaging.destination.partition.id")); v.AsString() == "0" {
							return dp.Value, true
						}
					}
				}
			}
		}
		return 0, false
	}
	deadline := time.Now().Add(10 * time.Second)
	var buffered int64
	for {
		v, ok := gauge(rmq.MetricReaderBuffered)
		if ok && v > 0 {
			buffered = v
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader fetched nothing")
		}
		time.Sleep(10 * time.Millisecond) // polling a gauge the reader's actor moves
	}
	time.Sleep(200 * time.Millisecond) // time for any fetch past the bound to land
	if v, _ := gauge(rmq.MetricReaderBuffered); v > bound+size+64 {
		t.Fatalf("buffered %d bytes with PrefetchBytes %d (first seen %d)", v, bound, buffered)
	}
	if lag, _ := gauge(rmq.MetricReaderLag); lag != n {
		t.Errorf("lag before reading = %d, want %d", lag, n)
	}
	equalParts(t, readAll(t, rd), want)
	if lag, _ := gauge(rmq.MetricReaderLag); lag != 0 {
		t.Errorf("lag after reading everything = %d", lag)
	}
}

// TestReaderCloseLeavesNoGoroutines reads with a following reader, closes
// it and finds no goroutine left over from it while the runtime lives on.
func TestReaderCloseLeavesNoGoroutines(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"g": 4}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.HealthInterval, c.MetadataRefresh = -1, -1 })
	p := newProducer(t, rt, "g", rmq.ProducerConfig{})
	produceKeyed(t, p, 50, func(i int) []byte { return []byte("v") })
	if err := p.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Warm the connection and metadata up so that what stays is the runtime's.
	warm := newReader(t, rt, "g", rmq.ReaderConfig{})
	readAll(t, warm)
	_ = warm.Close()
	before := goleak.IgnoreCurrent()

	rd, err := rt.NewReader(ctxTimeout(t, 10*time.Second), "g", rmq.ReaderConfig{Follow: true, Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := rd.Next(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(150 * time.Millisecond) // the partition readers are now in long polls
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
	if _, err := rd.Next(context.Background()); !errors.Is(err, rmq.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func TestStartOffsetString(t *testing.T) {
	for s, want := range map[rmq.StartOffset]string{rmq.StartEarliest: "earliest", rmq.StartLatest: "latest", rmq.StartFromEnd(10): "end-10", 42: "42", rmq.StartFromEnd(0): "latest"} {
		if got := s.String(); got != want {
			t.Errorf("StartOffset(%d).String() = %q, want %q", int64(s), got, want)
		}
	}
}

// TestRuntimeMetadata asks a two-node development cluster for its
// metadata: both brokers, every topic with its partitions and leaders,
// or only the topics asked for.
func TestRuntimeMetadata(t *testing.T) {
	b, ca := startBroker(t, broker.Config{Brokers: 2, Topics: map[string]int{"a": 3, "b": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	md, err := rt.Metadata(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if md.Source != b.Addr() || len(md.Brokers) != 2 || md.Brokers[0].ID != "broker-0" || md.Brokers[1].Addr != b.Addrs()[1] {
		t.Fatalf("brokers: %+v (source %s)", md.Brokers, md.Source)
	}
	if len(md.Topics) != 2 || md.Topics[0].Name != "a" || len(md.Topics[0].Partitions) != 3 || md.Topics[1].Name != "b" {
		t.Fatalf("topics: %+v", md.Topics)
	}
	for _, p := range md.Topics[0].Partitions {
		want := b.Addrs()[b.Leader("a", uint32(p.ID))]
		if p.LeaderAddr != want || p.Leader == "" {
			t.Errorf("a/%d: leader %s (%s), want %s", p.ID, p.Leader, p.LeaderAddr, want)
		}
	}
	only, err := rt.Metadata(ctxTimeout(t, 10*time.Second), "b")
	if err != nil || len(only.Topics) != 1 || only.Topics[0].Name != "b" {
		t.Fatalf("Metadata(b) = %+v, %v", only, err)
	}
	if err := rt.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Metadata(context.Background()); !errors.Is(err, rmq.ErrClosed) {
		t.Fatalf("Metadata after Close: %v", err)
	}
}
