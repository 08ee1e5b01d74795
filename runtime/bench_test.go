package runtime_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// BenchmarkSendAsync measures SendAsync throughput of 100-byte messages
// into a development broker on loopback (acks All, idempotent, keyless).
func BenchmarkSendAsync(b *testing.B) {
	br, ca := startBroker(b, broker.Config{Topics: map[string]int{"bench": 4}})
	rt := newRuntime(b, []string{br.Addr()}, ca, nil)
	p := newProducer(b, rt, "bench", rmq.ProducerConfig{})
	payload := make([]byte, 100)
	var wg sync.WaitGroup
	var failed sync.Once
	cb := func(_ *rmq.Result, err error) {
		if err != nil {
			failed.Do(func() { b.Error(err) })
		}
		wg.Done()
	}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		wg.Add(1)
		if err := p.SendAsync(ctx, &rmq.Message{Payload: payload}, cb); err != nil {
			b.Fatal(err)
		}
		n++
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(n*100)/el.Seconds()/1e6, "MB/s")
}

// BenchmarkSendLatency measures Send (one message at a time) latency
// percentiles beside the raw round trip of a request on the same kind of
// connection.
func BenchmarkSendLatency(b *testing.B) {
	br, ca := startBroker(b, broker.Config{Topics: map[string]int{"bench": 1}})
	// Baseline: a raw Metadata round trip over the transport.
	d, err := transport.NewDialer(transport.Config{TLS: transport.TLSConfig{CAFile: ca}})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := d.Dial(context.Background(), br.Addr())
	if err != nil {
		b.Fatal(err)
	}
	req := wire.ProduceRequest{Topic: "bench", Records: []wire.Record{{Value: make([]byte, 100)}}, Acks: wire.Acks{Level: wire.AckAll}}
	body := req.Append(nil)
	raw := make([]time.Duration, 0, 2000)
	for range 2000 {
		t0 := time.Now()
		if _, err := conn.Do(context.Background(), wire.TypeProduce, body); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, time.Since(t0))
	}
	_ = conn.Close()

	rt := newRuntime(b, []string{br.Addr()}, ca, nil)
	p := newProducer(b, rt, "bench", rmq.ProducerConfig{Linger: -1})
	payload := make([]byte, 100)
	ctx := context.Background()
	if _, err := p.Send(ctx, &rmq.Message{Payload: payload}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, 4096)
	for b.Loop() {
		t0 := time.Now()
		if _, err := p.Send(ctx, &rmq.Message{Payload: payload}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(float64(pct(lat, 50).Microseconds()), "p50_us")
	b.ReportMetric(float64(pct(lat, 99).Microseconds()), "p99_us")
	b.ReportMetric(float64(pct(raw, 50).Microseconds()), "raw_p50_us")
	b.ReportMetric(float64(pct(raw, 99).Microseconds()), "raw_p99_us")
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}
