package runtime_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// upstreamRig is a development broker made to look like upstream RustMQ
// where the runtime can tell: it leaves the capabilities probe unanswered
// and lists no topics in Metadata. It records what it reads of every
// Produce request. The broker still answers Authenticate and keeps its
// reorder window, but upstream mode must not rely on either: it never
// sends Authenticate nor pipelines a partition.
type upstreamRig struct {
	b  *broker.Broker
	ca string

	mu         sync.Mutex
	produces   int
	maxBytes   int // the largest Produce frame read
	overlapped int // Produce requests read while another on the same connection was being handled
	// mixed counts Produce requests and requests of over
	// transport.SmallRequestBytes read while a request of another type
	// was being handled on the connection; bigMeta the Metadata
	// requests of over SmallRequestBytes.
	mixed, bigMeta int
	caps           atomic.Int64
}

func startUpstreamRig(t *testing.T, topics map[string]int) *upstreamRig {
	t.Helper()
	r := &upstreamRig{}
	cfg := broker.Config{Topics: topics, NoALPN: true, OnRequest: func(s broker.RequestSeen) {
		if s.Type == wire.TypeProduce || s.Bytes > transport.SmallRequestBytes {
			r.mu.Lock()
			if s.Others > 0 {
				r.mixed++
			}
			if s.Type == wire.TypeMetadata {
				r.bigMeta++
			}
			r.mu.Unlock()
		}
		switch s.Type {
		case wire.TypeCapabilities:
			r.caps.Add(1)
		case wire.TypeProduce:
			r.mu.Lock()
			r.produces++
			r.maxBytes = max(r.maxBytes, s.Bytes)
			if s.Concurrent > 1 {
				r.overlapped++
			}
			r.mu.Unlock()
		}
	}}
	r.b, r.ca = startBroker(t, cfg)
	r.b.FailNext(broker.Fault{RequestType: wire.TypeCapabilities, NoAnswer: true, Count: -1})
	empty := broker.AnswerFrame(wire.TypeMetadata, &wire.MetadataResponse{Brokers: []wire.BrokerInfo{{ID: "upstream", Host: "127.0.0.1", PortQUIC: 1}}})
	for topic := range topics {
		r.b.FailNext(broker.Fault{RequestType: wire.TypeMetadata, Topic: topic, Count: -1, Answer: empty})
	}
	return r
}

func (r *upstreamRig) stats() (produces, maxBytes, overlapped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.produces, r.maxBytes, r.overlapped
}

func upstreamRuntime(t *testing.T, r *upstreamRig, static map[string]int, edit func(*rmq.Config)) *rmq.Runtime {
	return newRuntime(t, []string{r.b.Addr()}, r.ca, func(c *rmq.Config) {
		c.Upstream = true
		c.StaticPartitions = static
		if edit != nil {
			edit(c)
		}
	})
}

// TestUpstreamModeDelivers: keyed messages of 10 B to 1 KiB over four
// partitions, with a broker delay that makes overlapping requests likely
// if anything allowed them: every message is acknowledged at the place it
// is stored, in per-key order, no Produce frame exceeds one QUIC packet,
// no two Produce requests of the connection were ever handled at once, no
// capabilities probe was sent, and Health says the broker is upstream.
func TestUpstreamModeDelivers(t *testing.T) {
	t.Parallel()
	const topic, parts, n = "events", 4, 1500
	r := startUpstreamRig(t, map[string]int{topic: parts})
	r.b.SetResponseDelay(time.Millisecond)
	rt := upstreamRuntime(t, r, map[string]int{topic: parts}, nil)
	p := newProducer(t, rt, topic, rmq.ProducerConfig{MaxInFlight: 5, Linger: 2 * time.Millisecond})
	if got := p.Config().Idempotence; got != rmq.IdempotenceOff {
		t.Fatalf("Idempotence in upstream mode = %v, want off", got)
	}
	rnd := rand.New(rand.NewSource(1))
	type sent struct {
		key, value []byte
		res        *rmq.Result
		err        error
	}
	msgs := make([]sent, n)
	var wg sync.WaitGroup
	ctx := ctxTimeout(t, 60*time.Second)
	for i := range msgs {
		key := fmt.Appendf(nil, "key-%d", rnd.Intn(40))
		value := bytes.Repeat([]byte{byte('a' + i%26)}, 10+rnd.Intn(1015))
		value = fmt.Appendf(value[:0], "%06d", i)[:len(value)]
		msgs[i].key, msgs[i].value = key, value
		wg.Add(1)
		if err := p.SendAsync(ctx, &rmq.Message{Key: key, Payload: value}, func(res *rmq.Result, err error) {
			msgs[i].res, msgs[i].err = res, err
			wg.Done()
		}); err != nil {
			t.Fatalf("SendAsync %d: %v", i, err)
		}
	}
	wg.Wait()
	stored := map[int32][]wire.Record{}
	for part := range int32(parts) {
		stored[part] = r.b.Records(topic, uint32(part))
	}
	total := 0
	for _, recs := range stored {
		total += len(recs)
	}
	if total != n {
		t.Fatalf("broker holds %d records, want %d", total, n)
	}
	lastOffset := map[string]int64{}
	for i, m := range msgs {
		if m.err != nil {
			t.Fatalf("message %d failed: %v", i, m.err)
		}
		recs := stored[m.res.Partition]
		if m.res.Offset < 0 || m.res.Offset >= int64(len(recs)) || !bytes.Equal(recs[m.res.Offset].Value, m.value) {
			t.Fatalf("message %d acknowledged at %d/%d, not stored there", i, m.res.Partition, m.res.Offset)
		}
		k := string(m.key)
		if prev, ok := lastOffset[k]; ok && m.res.Offset <= prev {
			t.Fatalf("key %s: message %d stored at %d, before the earlier one at %d", k, i, m.res.Offset, prev)
		}
		lastOffset[k] = m.res.Offset
	}
	produces, maxBytes, overlapped := r.stats()
	t.Logf("%d messages in %d Produce requests, the largest frame %d bytes", n, produces, maxBytes)
	if maxBytes > transport.OneDatagramBytes {
		t.Errorf("a Produce frame of %d bytes: more than one QUIC packet (%d)", maxBytes, transport.OneDatagramBytes)
	}
	if overlapped != 0 {
		t.Errorf("%d Produce requests overlapped another on the connection", overlapped)
	}
	if produces < n/8 {
		t.Errorf("only %d requests for %d messages of up to 1 KiB: batches larger than a packet?", produces, n)
	}
	if c := r.caps.Load(); c != 0 {
		t.Errorf("%d capabilities probes sent in upstream mode", c)
	}
	if h := rt.Health(); len(h) != 1 || !h[0].Upstream || len(h[0].Features) != 0 {
		t.Errorf("Health = %+v, want one upstream broker with no features", h)
	}
}

// TestUpstreamModeLargeRecordAlone: a record too large for one packet
// travels in a request of its own; the records around it are delivered in
// requests that fit a packet.
func TestUpstreamModeLargeRecordAlone(t *testing.T) {
	t.Parallel()
	r := startUpstreamRig(t, map[string]int{"t": 1})
	rt := upstreamRuntime(t, r, map[string]int{"t": 1}, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{Linger: 20 * time.Millisecond})
	ctx := ctxTimeout(t, 30*time.Second)
	sizes := []int{100, 100, 5000, 100, 100}
	results := make([]error, len(sizes))
	var wg sync.WaitGroup
	for i, size := range sizes {
		wg.Add(1)
		if err := p.SendAsync(ctx, &rmq.Message{Payload: make([]byte, size)}, func(_ *rmq.Result, err error) {
			results[i] = err
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, err := range results {
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, sizes[i], err)
		}
	}
	produces, maxBytes, _ := r.stats()
	if produces != 3 {
		t.Errorf("%d Produce requests, want 3 (two small records, the large one alone, two small)", produces)
	}
	if maxBytes < 5000 || maxBytes > 5200 {
		t.Errorf("largest frame %d bytes, want the large record alone (about 5,050)", maxBytes)
	}
	if got := len(r.b.Records("t", 0)); got != len(sizes) {
		t.Errorf("%d records stored, want %d", got, len(sizes))
	}
}

// TestUpstreamModeErrorTexts: upstream answers failures with 0xFF texts;
// those that say nothing was applied are retried, the others fail the
// batch at once with the broker's text, without a retry.
func TestUpstreamModeErrorTexts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text    string
		size    int // payload bytes
		retried bool
	}{
		{"Partition not found: t:0", 100, true},
		{"Not leader for partition: t:0", 100, true},
		{"Configuration error: Broker core not initialized", 100, true},
		{"Serialization error: io error: unexpected end of file", 3000, true},
		{"Serialization error: io error: unexpected end of file", 100, false},
		{"Serialization error: invalid value: integer `7`, expected variant index 0 <= i < 5", 100, false},
		{"Wal error: disk full", 100, false},
		{"something new", 100, false},
	}
	r := startUpstreamRig(t, map[string]int{"t": 1})
	rt := upstreamRuntime(t, r, map[string]int{"t": 1}, func(c *rmq.Config) {
		c.RetryBackoff.Initial, c.RetryBackoff.Max = time.Millisecond, 5*time.Millisecond
	})
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d", c.text, c.size), func(t *testing.T) {
			before := p.Metrics().Retries
			r.b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: -1, Answer: broker.ErrorFrame(c.text)})
			_, err := p.Send(ctx, &rmq.Message{Payload: make([]byte, c.size)})
			retries := p.Metrics().Retries - before
			if c.retried {
				if err != nil {
					t.Fatalf("Send after a retriable %q: %v", c.text, err)
				}
				if retries != 1 {
					t.Fatalf("%d retries, want 1", retries)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send after %q succeeded; want it failed without a retry", c.text)
			}
			if retries != 0 {
				t.Fatalf("%d retries of a batch upstream may have applied or cannot parse", retries)
			}
			be, ok := errors.AsType[*transport.BrokerError](err)
			if !ok || be.Message != c.text {
				t.Fatalf("error %v does not carry the broker's text %q", err, c.text)
			}
			if u, ok := errors.AsType[*rmq.UpstreamRefusal](err); !ok || u.Retriable || u.Reason == "" {
				t.Fatalf("error %v: want an *UpstreamRefusal, not retriable, with its reason", err)
			}
		})
	}
}

// TestUpstreamModeErrorsAsCodes: upstream's texts for an unknown partition
// and a moved leader stand for the protocol's codes, and a message that
// keeps getting them fails at its delivery timeout naming them.
func TestUpstreamModeErrorsAsCodes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text string
		is   error
	}{
		{"Partition not found: t:0", wire.ErrUnknownTopicOrPartition},
		{"Not leader for partition: t:0", wire.ErrNotLeader},
	} {
		r := startUpstreamRig(t, map[string]int{"t": 1})
		rt := upstreamRuntime(t, r, map[string]int{"t": 1}, func(c *rmq.Config) {
			c.RetryBackoff.Initial, c.RetryBackoff.Max = time.Millisecond, 20*time.Millisecond
		})
		p := newProducer(t, rt, "t", rmq.ProducerConfig{DeliveryTimeout: 400 * time.Millisecond})
		r.b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: -1, Count: -1, Answer: broker.ErrorFrame(c.text)})
		_, err := p.Send(ctxTimeout(t, 30*time.Second), &rmq.Message{Payload: []byte("x")})
		if !errors.Is(err, rmq.ErrDeliveryTimeout) || !errors.Is(err, c.is) {
			t.Errorf("%q on every attempt: %v, want ErrDeliveryTimeout wrapping %v", c.text, err, c.is)
		}
		if p.Metrics().Retries == 0 {
			t.Errorf("%q: never retried", c.text)
		}
	}
}

// TestUpstreamModeConfig: what upstream cannot serve is refused up front,
// naming the field.
func TestUpstreamModeConfig(t *testing.T) {
	t.Parallel()
	base := rmq.Config{Brokers: []string{"127.0.0.1:9092"}, Upstream: true, StaticPartitions: map[string]int{"t": 2}}
	for _, c := range []struct {
		field string
		edit  func(*rmq.Config)
	}{
		{"Auth", func(c *rmq.Config) { c.Auth = rmq.SASLPlain("u", "p") }},
		{"TLS.ALPN", func(c *rmq.Config) { c.TLS.ALPN = transport.ALPNRustMQ }},
		{"MaxRequestBytes", func(c *rmq.Config) { c.MaxRequestBytes = 16 << 10 }},
	} {
		cfg := base
		c.edit(&cfg)
		_, err := rmq.New(cfg)
		ce, ok := errors.AsType[*rmq.ConfigError](err)
		if !ok || ce.Field != c.field {
			t.Errorf("New with a bad %s in upstream mode: %v, want a *ConfigError for it", c.field, err)
		}
	}

	r := startUpstreamRig(t, map[string]int{"t": 2})
	rt := upstreamRuntime(t, r, map[string]int{"t": 2}, nil)
	if _, err := rt.CreateProducer("t", rmq.ProducerConfig{Idempotence: rmq.IdempotenceOn}); !isConfigErr(err, "Idempotence") {
		t.Errorf("IdempotenceOn in upstream mode: %v, want a *ConfigError", err)
	}
	if _, err := rt.CreateProducer("other", rmq.ProducerConfig{}); !isConfigErr(err, "StaticPartitions[other]") {
		t.Errorf("a topic without StaticPartitions: %v, want a *ConfigError naming StaticPartitions[other]", err)
	}
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	if got := p.Config(); got.MaxMessageBytes != rmq.UpstreamMaxRequestBytes-1024 || got.BatchBytes != rmq.UpstreamMaxRequestBytes-1024 {
		t.Errorf("MaxMessageBytes %d, BatchBytes %d: want both %d in upstream mode", got.MaxMessageBytes, got.BatchBytes, rmq.UpstreamMaxRequestBytes-1024)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Topic: "other", Payload: []byte("x")}); !isConfigErr(err, "StaticPartitions[other]") {
		t.Errorf("Send to a topic without StaticPartitions: %v, want a *ConfigError", err)
	}
	if _, err := p.Send(ctx, &rmq.Message{Payload: make([]byte, 8000)}); !errors.Is(err, rmq.ErrMessageTooLarge) {
		t.Errorf("a message over upstream's 8 KiB: %v, want ErrMessageTooLarge", err)
	}
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("ok")}); err != nil {
		t.Errorf("Send: %v", err)
	}
}

// TestUpstreamBrokerWithoutMode: a broker that looks like upstream (no
// topics listed, the probe unanswered) makes messages fail within the
// unknown-topic grace with an error that says to switch the mode on.
func TestUpstreamBrokerWithoutMode(t *testing.T) {
	t.Parallel()
	r := startUpstreamRig(t, map[string]int{"orders": 1})
	rt := newRuntime(t, []string{r.b.Addr()}, r.ca, func(c *rmq.Config) { c.TLS.ALPN = transport.ALPNNone })
	p := newProducer(t, rt, "orders", rmq.ProducerConfig{})
	start := time.Now()
	_, err := p.Send(ctxTimeout(t, 30*time.Second), &rmq.Message{Payload: []byte("x")})
	took := time.Since(start)
	if !errors.Is(err, rmq.ErrUpstreamBroker) || !errors.Is(err, rmq.ErrUnknownTopic) {
		t.Fatalf("Send to an upstream-like broker: %v, want ErrUpstreamBroker and ErrUnknownTopic", err)
	}
	if took > 10*time.Second {
		t.Errorf("the error took %v", took)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
	if h := rt.Health(); len(h) != 1 || !h[0].Upstream {
		t.Errorf("Health = %+v, want the broker marked upstream", h)
	}
}

// TestIdempotenceHeadersRefused: the runtime's idempotence headers cannot
// be given by the caller.
func TestIdempotenceHeadersRefused(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	for _, k := range []string{wire.HeaderProducerID, wire.HeaderSequence} {
		_, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("x"), Headers: []rmq.Header{{Key: k, Value: make([]byte, 8)}}})
		if !errors.Is(err, rmq.ErrInvalidMessage) {
			t.Errorf("header %s: %v, want ErrInvalidMessage", k, err)
		}
	}
	if n := len(b.Records("t", 0)); n != 0 {
		t.Errorf("%d records stored", n)
	}
}

func isConfigErr(err error, field string) bool {
	ce, ok := errors.AsType[*rmq.ConfigError](err)
	return ok && ce.Field == field
}

// TestUpstreamModeCutRequestGivesUp: a record too large for one packet
// that the broker's single read keeps cutting fails after
// actors.UpstreamMaxCuts attempts, saying so, and the partition moves on.
func TestUpstreamModeCutRequestGivesUp(t *testing.T) {
	t.Parallel()
	r := startUpstreamRig(t, map[string]int{"t": 1})
	rt := upstreamRuntime(t, r, map[string]int{"t": 1}, func(c *rmq.Config) {
		c.RetryBackoff.Initial, c.RetryBackoff.Max = time.Millisecond, 5*time.Millisecond
	})
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	r.b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: -1, Count: actors.UpstreamMaxCuts,
		Answer: broker.ErrorFrame("Serialization error: io error: unexpected end of file")})
	ctx := ctxTimeout(t, 30*time.Second)
	_, err := p.Send(ctx, &rmq.Message{Payload: make([]byte, 3000)})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("cut the request %d times", actors.UpstreamMaxCuts)) {
		t.Fatalf("a request cut on every attempt: %v, want it given up after %d cuts", err, actors.UpstreamMaxCuts)
	}
	if got := p.Metrics().Retries; got != actors.UpstreamMaxCuts-1 {
		t.Errorf("%d retries, want %d", got, actors.UpstreamMaxCuts-1)
	}
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("next")}); err != nil {
		t.Fatalf("the next message: %v", err)
	}
}

// TestUpstreamModeLargeRequestsNeverBeside: a Metadata request naming a
// long topic is too large to share a packet with a full Produce request,
// so it waits for the connection's slot as a Produce does: with metadata
// refreshed every few milliseconds while messages flow, no Produce and no
// large Metadata request was ever read while the other was being handled.
func TestUpstreamModeLargeRequestsNeverBeside(t *testing.T) {
	t.Parallel()
	topic := strings.Repeat("t", 200)
	r := startUpstreamRig(t, map[string]int{topic: 2})
	r.b.SetResponseDelay(time.Millisecond)
	rt := upstreamRuntime(t, r, map[string]int{topic: 2}, func(c *rmq.Config) {
		c.MetadataRefresh = 2 * time.Millisecond
		c.HealthInterval = -1
	})
	p := newProducer(t, rt, topic, rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		if err := p.SendAsync(ctx, &rmq.Message{Key: fmt.Append(nil, i%10), Payload: make([]byte, 300)}, func(_ *rmq.Result, err error) {
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	r.mu.Lock()
	mixed, bigMeta := r.mixed, r.bigMeta
	r.mu.Unlock()
	t.Logf("%d large Metadata requests", bigMeta)
	if bigMeta < 5 {
		t.Fatalf("only %d large Metadata requests during the run: the test did not exercise them", bigMeta)
	}
	if mixed != 0 {
		t.Errorf("%d Produce or large requests read beside a request of another type", mixed)
	}
}

// TestUpstreamModeQueuedIsNotARetry: a request whose deadline passes while
// it waits for its connection's slot was never sent, so it does not use up
// MaxRetries: a producer allowed no retry at all still delivers once the
// slot is free.
func TestUpstreamModeQueuedIsNotARetry(t *testing.T) {
	t.Parallel()
	r := startUpstreamRig(t, map[string]int{"t": 2})
	rt := upstreamRuntime(t, r, map[string]int{"t": 2}, nil)
	slow := newProducer(t, rt, "t", rmq.ProducerConfig{RequestTimeout: 5 * time.Second})
	strict := newProducer(t, rt, "t", rmq.ProducerConfig{RequestTimeout: 300 * time.Millisecond, MaxRetries: -1})
	r.b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 0, AfterApply: true, Delay: 1500 * time.Millisecond})
	ctx := ctxTimeout(t, 30*time.Second)
	held := make(chan error, 1)
	go func() {
		_, err := slow.Send(ctx, &rmq.Message{Payload: []byte("slow"), Partition: 0, ExplicitPartition: true})
		held <- err
	}()
	// Wait until the slow request holds the slot.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, _, _ := r.stats(); n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the broker")
		}
	}
	res, err := strict.Send(ctx, &rmq.Message{Payload: []byte("queued"), Partition: 1, ExplicitPartition: true})
	if err != nil {
		t.Fatalf("a message whose request only waited for the slot: %v", err)
	}
	if res.Partition != 1 {
		t.Errorf("delivered to partition %d", res.Partition)
	}
	if err := <-held; err != nil {
		t.Fatalf("the slow message: %v", err)
	}
	if n := len(r.b.Records("t", 1)); n != 1 {
		t.Errorf("%d records on partition 1, want 1", n)
	}
}
