package wire

import (
	"testing"
	"time"
)

const (
	benchRecords   = 100
	benchValueSize = 100
)

// benchProduceRequest is a batch of benchRecords records, each with an
// 8-byte key, a benchValueSize-byte value and two headers.
func benchProduceRequest() *ProduceRequest {
	recs := make([]Record, benchRecords)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range recs {
		v := make([]byte, benchValueSize)
		for j := range v {
			v[j] = byte(i + j)
		}
		recs[i] = Record{
			Key:   []byte{'k', 'e', 'y', '-', byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10), 0},
			Value: v,
			Headers: []Header{
				{Key: "content-type", Value: []byte("application/json")},
				{Key: "trace-id", Value: []byte("4bf92f3577b34da6a3ce929d0e0e4736")},
			},
			Timestamp: ts + int64(i),
		}
	}
	return &ProduceRequest{Topic: "events", PartitionID: 3, Records: recs, Acks: Acks{Level: AckAll}, TimeoutMs: 30000}
}

func reportPerRecord(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
}

// BenchmarkProduceRequestAppend encodes the batch into a reused buffer, as
// the batcher does.
func BenchmarkProduceRequestAppend(b *testing.B) {
	m := benchProduceRequest()
	buf := make([]byte, 0, m.Size()+1)
	b.SetBytes(int64(m.Size()))
	b.ReportAllocs()
	for b.Loop() {
		buf = m.Append(AppendFrame(buf[:0], TypeProduce))
	}
	reportPerRecord(b)
}

// BenchmarkProduceRequestSize measures the Size walk a caller does to
// allocate a buffer exactly.
func BenchmarkProduceRequestSize(b *testing.B) {
	m := benchProduceRequest()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += m.Size()
	}
	reportPerRecord(b)
	_ = n
}

// BenchmarkProduceRequestUnmarshal decodes the batch, as the development
// broker does for every Produce request.
func BenchmarkProduceRequestUnmarshal(b *testing.B) {
	in := benchProduceRequest().Append(nil)
	var m ProduceRequest
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Unmarshal(in); err != nil {
			b.Fatal(err)
		}
	}
	reportPerRecord(b)
}
