package transport

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// BenchmarkDoRoundTrip measures one Do of a 100-byte request answered by an
// echo on loopback (TLS 1.3, ALPN rustmq): the floor every produce request
// pays. Reports p50/p99 latency beside ns/op.
func BenchmarkDoRoundTrip(b *testing.B) {
	s := startServer(b, serverOpts{})
	c := dial(b, testDialer(b, s, Config{}), s)
	body := make([]byte, 100)
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Do(ctx, wire.TypeProduce, body); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	reportPercentiles(b, lat)
}

// BenchmarkDoRoundTripParallel runs Do from GOMAXPROCS*4 goroutines on one
// connection: requests per second with streams multiplexed.
func BenchmarkDoRoundTripParallel(b *testing.B) {
	s := startServer(b, serverOpts{})
	c := dial(b, testDialer(b, s, Config{}), s)
	body := make([]byte, 100)
	b.ReportAllocs()
	b.SetParallelism(4)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Do(context.Background(), wire.TypeProduce, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkDoBulk sends 1 MiB request bodies answered with a few bytes: the
// bulk stream write rate (MB/s) of one connection.
func BenchmarkDoBulk(b *testing.B) {
	s := startServer(b, serverOpts{handler: func(r *request) []byte { return []byte{r.Type, 1} }})
	c := dial(b, testDialer(b, s, Config{}), s)
	body := make([]byte, 1<<20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Do(context.Background(), wire.TypeProduce, body); err != nil {
			b.Fatal(err)
		}
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
