package logstore

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// benchBatch is a batch of n records with a 16-byte key, a value of
// valueBytes and one header, like a producer's batch.
func benchBatch(n, valueBytes int) ([]wire.Record, int) {
	recs := make([]wire.Record, n)
	size := 0
	for i := range recs {
		recs[i] = wire.Record{
			Key:       []byte(fmt.Sprintf("key-%012d", i)),
			Value:     bytes.Repeat([]byte{byte(i)}, valueBytes),
			Headers:   []wire.Header{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}},
			Timestamp: 1700000000000 + int64(i),
		}
		size += recs[i].Size()
	}
	return recs, size
}

// appendMode is one way of running the log in the Append benchmarks.
type appendMode struct {
	name    string
	durable bool
	sync    bool
}

// benchAppend measures Append of a batch of n records of valueBytes-byte
// values in each mode. MB/s counts the records' wire size.
func benchAppend(b *testing.B, n, valueBytes int, modes []appendMode) {
	recs, size := benchBatch(n, valueBytes)
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			dir := ""
			if mode.durable {
				dir = b.TempDir()
			}
			l, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(recs, mode.sync); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(len(recs))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAppend measures Append of 100-record batches of 100-byte values
// in memory, to segment files without fsync, and with fsync per batch.
func BenchmarkAppend(b *testing.B) {
	benchAppend(b, 100, 100, []appendMode{
		{"memory", false, false},
		{"durable-nosync", true, false},
		{"durable-sync", true, true},
	})
}

// filledLog is a memory log of batches batches of perBatch records of
// 100-byte values, closed when b ends.
func filledLog(b *testing.B, batches, perBatch int) *Log {
	recs, _ := benchBatch(perBatch, 100)
	l, err := Open("", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	for range batches {
		if _, err := l.Append(recs, false); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// BenchmarkRead measures Read of 1 MiB from random offsets of a memory log.
func BenchmarkRead(b *testing.B) {
	l := filledLog(b, 1000, 100)
	hw := l.HighWatermark()
	var n, bytesRead int
	i := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		i = (i*2654435761 + 7) % hw
		got, err := l.Read(i, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		n += len(got)
		for j := range got {
			bytesRead += got[j].Size()
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(bytesRead)/1e6/b.Elapsed().Seconds(), "MB/s")
}

// BenchmarkAppendBatch1000 measures Append of the batch a producer sends
// under load, 1000 records of 100-byte values (about 125 KB on the wire),
// in memory and to segment files without fsync. The log keeps every batch,
// so the figure includes what the batches held cost the garbage collector.
func BenchmarkAppendBatch1000(b *testing.B) {
	benchAppend(b, 1000, 100, []appendMode{
		{"memory", false, false},
		{"durable-nosync", true, false},
	})
}

// BenchmarkReadOne measures Read of a single record from random offsets of
// a memory log of 1000-record batches: a consumer far behind that fetches
// little at a time, where Read's walk from the batch start to the offset
// weighs most.
func BenchmarkReadOne(b *testing.B) {
	l := filledLog(b, 100, 1000)
	hw := l.HighWatermark()
	i := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		i = (i*2654435761 + 7) % hw
		got, err := l.Read(i, 0)
		if err != nil || len(got) != 1 {
			b.Fatalf("Read(%d): %d records, %v", i, len(got), err)
		}
	}
}
