package runtime_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// collected indexes one collection by instrument name.
type collected map[string]metricdata.Aggregation

func collect(t *testing.T, r *sdkmetric.ManualReader) (collected, []string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := collected{}
	var scopes []string
	for _, sm := range rm.ScopeMetrics {
		scopes = append(scopes, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out, scopes
}

// sumInt adds the points of an int64 sum or gauge whose attributes match
// every key=value of filter ("" value: key must be absent).
func sumInt(t *testing.T, c collected, name string, filter map[string]string) int64 {
	t.Helper()
	var total int64
	match := func(s attribute.Set) bool {
		for k, v := range filter {
			got, ok := s.Value(attribute.Key(k))
			if v == "" && ok || v != "" && (!ok || got.String() != v) {
				return false
			}
		}
		return true
	}
	switch d := c[name].(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				total += p.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				total += p.Value
			}
		}
	default:
		t.Fatalf("%s: no int64 sum or gauge (%T)", name, c[name])
	}
	return total
}

// histCount returns the count and sum of the points of a histogram,
// separately for points with and without error.type.
func histInt(t *testing.T, c collected, name string) (count, sum uint64) {
	t.Helper()
	d, ok := c[name].(metricdata.Histogram[int64])
	if !ok {
		t.Fatalf("%s: %T", name, c[name])
	}
	for _, p := range d.DataPoints {
		count += p.Count
		sum += uint64(p.Sum)
	}
	return count, sum
}

// TestMetrics sends known traffic (two partitions, compressible values, one
// refused attempt, one dropped connection) and checks every instrument
// against the producer's Metrics snapshot, the runtime's Health and the
// traffic itself.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"m": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.MeterProvider = mp; c.ClientID = "metrics-test" })
	p := newProducer(t, rt, "m", rmq.ProducerConfig{Compression: compress.LZ4, CompressThreshold: 100})
	ctx := ctxTimeout(t, 20*time.Second)

	const n = 60
	send := func(from int) {
		msgs := make([]*rmq.Message, 0, n/2)
		for i := from; i < from+n/2; i++ {
			msgs = append(msgs, &rmq.Message{Key: []byte("k" + strconv.Itoa(i%5)), Payload: bytes.Repeat([]byte("compress me "), 20)})
		}
		if _, err := p.SendBatch(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	send(0)
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "m", Partition: -1, Code: wire.ErrNotEnoughReplicas.Code})
	send(n / 2)

	m := p.Metrics()
	c, _ := collect(t, reader)
	if m.Delivered != n || m.Retries != 1 || m.RequestsFailed != 1 || m.SentMessagesFailed == 0 {
		t.Fatalf("snapshot %+v", m)
	}
	// Conventions' instruments.
	d, ok := c[actors.MetricOperationDuration].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: %T", actors.MetricOperationDuration, c[actors.MetricOperationDuration])
	}
	var reqs, failedReqs uint64
	for _, pt := range d.DataPoints {
		reqs += pt.Count
		if et, ok := pt.Attributes.Value("error.type"); ok {
			if et.AsString() != "NOT_ENOUGH_REPLICAS" {
				t.Fatalf("error.type %v", et)
			}
			failedReqs += pt.Count
		}
		for _, k := range []attribute.Key{"messaging.system", "messaging.operation.name", "messaging.destination.name", "server.address"} {
			if !pt.Attributes.HasValue(k) {
				t.Fatalf("operation.duration point without %s: %v", k, pt.Attributes)
			}
		}
	}
	if int64(reqs) != m.RequestsCompleted || int64(failedReqs) != m.RequestsFailed || m.RequestsCompleted != m.BatchesSent {
		t.Fatalf("operation.duration: %d requests (%d failed); snapshot %+v", reqs, failedReqs, m)
	}
	if got := sumInt(t, c, actors.MetricSentMessages, nil); got != m.SentMessages || got != m.RecordsSent || got != n+m.SentMessagesFailed {
		t.Fatalf("sent.messages %d; snapshot %+v", got, m)
	}
	if got := sumInt(t, c, actors.MetricSentMessages, map[string]string{"error.type": "NOT_ENOUGH_REPLICAS"}); got != m.SentMessagesFailed {
		t.Fatalf("failed sent.messages %d, snapshot %d", got, m.SentMessagesFailed)
	}
	// The runtime's own.
	if cnt, sum := histInt(t, c, actors.MetricBatchRecords); int64(cnt) != m.BatchesSent || int64(sum) != m.RecordsSent {
		t.Fatalf("batch.records count %d sum %d; snapshot %+v", cnt, sum, m)
	}
	if cnt, sum := histInt(t, c, actors.MetricRequestBytes); int64(cnt) != m.BatchesSent || int64(sum) != m.BytesSent {
		t.Fatalf("request.size count %d sum %d; snapshot %+v", cnt, sum, m)
	}
	if got := sumInt(t, c, actors.MetricRetries, map[string]string{actors.AttrRetryReason: "NOT_ENOUGH_REPLICAS"}); got != m.Retries {
		t.Fatalf("retries %d, snapshot %d", got, m.Retries)
	}
	for name, want := range map[string]int64{rmq.MetricBufferedRecords: m.BufferedRecords, rmq.MetricBufferedBytes: m.BufferedBytes, rmq.MetricInFlight: m.InFlight} {
		if got := sumInt(t, c, name, map[string]string{rmq.AttrProducer: "producer-1"}); got != want || got != 0 {
			t.Fatalf("%s %d, snapshot %d", name, got, want)
		}
	}
	for outcome, want := range map[string]int64{"accepted": n, "delivered": n, "failed": 0} {
		if got := sumInt(t, c, rmq.MetricMessages, map[string]string{rmq.AttrOutcome: outcome}); got != want {
			t.Fatalf("messages %s %d, want %d", outcome, got, want)
		}
	}
	ratio, ok := c[rmq.MetricCompressionRatio].(metricdata.Gauge[float64])
	if !ok || len(ratio.DataPoints) != 1 || ratio.DataPoints[0].Value != float64(m.CompressedIn)/float64(m.CompressedOut) || ratio.DataPoints[0].Value <= 1 {
		t.Fatalf("compression ratio %+v; snapshot in %d out %d", c[rmq.MetricCompressionRatio], m.CompressedIn, m.CompressedOut)
	}
	host, _, _ := bytes.Cut([]byte(b.Addr()), []byte(":"))
	if got := sumInt(t, c, rmq.MetricConnState, map[string]string{"server.address": string(host), rmq.AttrConnState: "connected"}); got != 1 {
		t.Fatalf("connection state connected = %d", got)
	}
	if got := sumInt(t, c, rmq.MetricConnRestarts, nil); got != 0 {
		t.Fatalf("restarts %d before any failure", got)
	}

	// A dropped connection: the supervisor's restart shows in Health and
	// in rustmq.connection.restarts alike.
	b.DropConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := rt.Health()
		if len(h) == 1 && h[0].Restarts > 0 && h[0].State == "connected" {
			c, _ = collect(t, reader)
			if got := sumInt(t, c, rmq.MetricConnRestarts, nil); got != int64(h[0].Restarts) {
				t.Fatalf("restarts metric %d, Health %d", got, h[0].Restarts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restart seen: %+v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// After Close the producer's callback is gone.
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	c, _ = collect(t, reader)
	if _, ok := c[rmq.MetricBufferedRecords].(metricdata.Gauge[int64]); ok && len(c[rmq.MetricBufferedRecords].(metricdata.Gauge[int64]).DataPoints) > 0 {
		t.Fatalf("closed producer still reported: %+v", c[rmq.MetricBufferedRecords])
	}
}

// TestActorMetrics: with ActorMetrics on, protoactor's own instruments
// reach the provider that is also OpenTelemetry's global one. It changes
// the global provider, so it does not run in parallel.
func TestActorMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(mp)
	defer func() {
		otel.SetMeterProvider(prev)
		_ = mp.Shutdown(context.Background())
	}()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"a": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.MeterProvider = mp; c.ActorMetrics = true })
	p := newProducer(t, rt, "a", rmq.ProducerConfig{})
	if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c, scopes := collect(t, reader)
	if _, ok := c["protoactor_actor_spawn_count"]; !ok {
		t.Fatalf("no protoactor metrics; scopes %v", scopes)
	}
	if _, ok := c[actors.MetricOperationDuration]; !ok {
		t.Fatalf("no runtime metrics; scopes %v", scopes)
	}
}
