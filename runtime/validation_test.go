package runtime_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport/compress"
)

// TestBadMessages: every bad input fails before anything is queued, with
// its typed error.
func TestBadMessages(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{MaxMessageBytes: 1000})
	noTopic := newProducer(t, rt, "", rmq.ProducerConfig{})
	badJSON, jsonErr := rmq.NewMessage().PayloadJSON(math.Inf(1)).Build()
	if !errors.Is(jsonErr, rmq.ErrInvalidPayload) {
		t.Fatalf("Build with bad JSON: %v", jsonErr)
	}
	var pe *rmq.PayloadError
	if !errors.As(jsonErr, &pe) {
		t.Fatalf("Build error is not a *PayloadError: %T", jsonErr)
	}
	cases := []struct {
		name string
		p    *rmq.Producer
		m    *rmq.Message
		is   error
	}{
		{"nil message", p, nil, rmq.ErrNilMessage},
		{"empty topic", noTopic, &rmq.Message{Payload: []byte("x")}, rmq.ErrEmptyTopic},
		{"too large", p, &rmq.Message{Payload: make([]byte, 1001)}, rmq.ErrMessageTooLarge},
		{"too large with headers", p, &rmq.Message{Payload: make([]byte, 900), Headers: []rmq.Header{{Key: "h", Value: make([]byte, 100)}}}, rmq.ErrMessageTooLarge},
		{"bad JSON", p, badJSON, rmq.ErrInvalidPayload},
		{"empty header key", p, &rmq.Message{Payload: []byte("x"), Headers: []rmq.Header{{Key: ""}}}, rmq.ErrInvalidMessage},
		{"timestamp before 1970", p, &rmq.Message{Payload: []byte("x"), Timestamp: time.Unix(-10, 0)}, rmq.ErrInvalidMessage},
		{"negative partition", p, &rmq.Message{Payload: []byte("x"), Partition: -2, ExplicitPartition: true}, rmq.ErrInvalidPartition},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.p.Send(context.Background(), c.m)
			if !errors.Is(err, c.is) {
				t.Fatalf("Send: %v, want %v", err, c.is)
			}
			called := false
			if err := c.p.SendAsync(context.Background(), c.m, func(*rmq.Result, error) { called = true }); !errors.Is(err, c.is) {
				t.Fatalf("SendAsync: %v, want %v", err, c.is)
			}
			if _, err := c.p.SendBatch(context.Background(), []*rmq.Message{c.m}); !errors.Is(err, c.is) {
				t.Fatalf("SendBatch: %v, want %v", err, c.is)
			}
			if called {
				t.Fatal("callback called for a refused message")
			}
		})
	}
	// Size is the record as written: the payload and its framing and
	// idempotence headers.
	var tooLarge *rmq.MessageTooLargeError
	if _, err := p.Send(context.Background(), &rmq.Message{Payload: make([]byte, 1500)}); !errors.As(err, &tooLarge) || tooLarge.Size <= 1500 || tooLarge.Size > 1500+100 || tooLarge.Max != 1000 {
		t.Fatalf("MessageTooLargeError: %v", err)
	}
	// An explicit partition the topic does not have fails as a result.
	if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("x"), Partition: 2, ExplicitPartition: true}); !errors.Is(err, rmq.ErrInvalidPartition) {
		t.Fatalf("partition 2 of 2: %v", err)
	}
	if m := p.Metrics(); m.Accepted != 1 || m.BufferedRecords != 0 {
		t.Fatalf("refused messages were queued: %+v", m)
	}
}

// TestBadConfig: New and CreateProducer name the bad field.
func TestBadConfig(t *testing.T) {
	t.Parallel()
	good := rmq.Config{Brokers: []string{"127.0.0.1:1"}}
	runtimeCases := []struct {
		field string
		edit  func(*rmq.Config)
	}{
		{"Brokers", func(c *rmq.Config) { c.Brokers = nil }},
		{"Brokers[0]", func(c *rmq.Config) { c.Brokers = []string{"no-port"} }},
		{"ConnectTimeout", func(c *rmq.Config) { c.ConnectTimeout = -1 }},
		{"RequestTimeout", func(c *rmq.Config) { c.RequestTimeout = -1 }},
		{"RetryBackoff.Max", func(c *rmq.Config) { c.RetryBackoff = supervision.Backoff{Initial: time.Second, Max: time.Millisecond} }},
		{"Supervision", func(c *rmq.Config) { c.Supervision.Kind = 7 }},
		{"StaticPartitions[t]", func(c *rmq.Config) { c.StaticPartitions = map[string]int{"t": 0} }},
		{"TLS.CertFile", func(c *rmq.Config) { c.TLS.CertFile = "x.pem" }},
		{"TLS.ALPN", func(c *rmq.Config) { c.TLS.ALPN = 9 }},
		{"MaxRequestBytes", func(c *rmq.Config) { c.MaxRequestBytes = -1 }},
		{"MaxRequestBytes", func(c *rmq.Config) { c.MaxRequestBytes = 1024 }},
		{"IdleTimeout", func(c *rmq.Config) { c.IdleTimeout = -time.Second }},
		{"MaxResponseBytes", func(c *rmq.Config) { c.MaxResponseBytes = -1 }},
		{"MaxResponseBytes", func(c *rmq.Config) { c.MaxResponseBytes = 100 }},
		{"MaxPartitions", func(c *rmq.Config) { c.MaxPartitions = -1 }},
		{"Brokers[0]", func(c *rmq.Config) { c.Brokers = []string{"127.0.0.1:99999"} }},
		{"Brokers[0]", func(c *rmq.Config) { c.Brokers = []string{"127.0.0.1:0"} }},
		{"Brokers[0]", func(c *rmq.Config) { c.Brokers = []string{":9092"} }},
		{"Brokers[1]", func(c *rmq.Config) { c.Brokers = []string{"127.0.0.1:1", "host:port"} }},
	}
	for _, c := range runtimeCases {
		cfg := good
		c.edit(&cfg)
		_, err := rmq.New(cfg)
		var ce *rmq.ConfigError
		if !errors.Is(err, rmq.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%s: %v", c.field, err)
		}
	}
	rt, err := rmq.New(good)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	producerCases := []struct {
		field string
		cfg   rmq.ProducerConfig
	}{
		{"Acks", rmq.ProducerConfig{Acks: 5}},
		{"Idempotence", rmq.ProducerConfig{Acks: rmq.AcksNone, Idempotence: rmq.IdempotenceOn}},
		{"Idempotence", rmq.ProducerConfig{Idempotence: 9}},
		{"BatchSize", rmq.ProducerConfig{BatchSize: -1}},
		{"MaxInFlight", rmq.ProducerConfig{MaxInFlight: 6}},
		{"BatchBytes", rmq.ProducerConfig{BatchBytes: 1 << 30}},
		{"MaxMessageBytes", rmq.ProducerConfig{MaxMessageBytes: -5}},
		{"Compression", rmq.ProducerConfig{Compression: compress.Codec(42)}},
		{"MaxBufferedBytes", rmq.ProducerConfig{MaxBufferedBytes: 10}},
		{"MaxBufferedRecords", rmq.ProducerConfig{MaxBufferedRecords: -1}},
		{"DeliveryTimeout", rmq.ProducerConfig{DeliveryTimeout: -time.Second}},
		{"DeliveryTimeout", rmq.ProducerConfig{DeliveryTimeout: rmq.MaxDeliveryTimeout + time.Millisecond}},
		{"RetryBackoff.Multiplier", rmq.ProducerConfig{RetryBackoff: supervision.Backoff{Multiplier: 0.5}}},
	}
	for _, c := range producerCases {
		_, err := rt.CreateProducer("t", c.cfg)
		var ce *rmq.ConfigError
		if !errors.Is(err, rmq.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%s: %v", c.field, err)
		} else if !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: message %q does not name the field", c.field, err)
		}
	}
	// MaxInFlight above 5 is fine without idempotence.
	if _, err := rt.CreateProducer("t", rmq.ProducerConfig{MaxInFlight: 8, Idempotence: rmq.IdempotenceOff}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.CreateProducer("t", rmq.ProducerConfig{}); !errors.Is(err, rmq.ErrClosed) {
		t.Fatalf("CreateProducer after Close: %v", err)
	}
}

// TestSmallMaxRequestBytesDefaults: a MaxRequestBytes below the producers'
// defaults shrinks BatchBytes and MaxMessageBytes to what a request can
// take, instead of refusing fields the user never set.
func TestSmallMaxRequestBytesDefaults(t *testing.T) {
	rt, err := rmq.New(rmq.Config{Brokers: []string{"127.0.0.1:9092"}, MaxRequestBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer("t", rmq.ProducerConfig{})
	if err != nil {
		t.Fatalf("CreateProducer with the defaults under MaxRequestBytes 4096: %v", err)
	}
	if got := p.Config(); got.BatchBytes != 4096-1024 || got.MaxMessageBytes != 4096-1024 {
		t.Errorf("BatchBytes %d, MaxMessageBytes %d, want both %d", got.BatchBytes, got.MaxMessageBytes, 4096-1024)
	}
	if _, err := rt.CreateProducer("t", rmq.ProducerConfig{BatchBytes: 4000}); !isConfigErr(err, "BatchBytes") {
		t.Errorf("BatchBytes over what a request holds: %v, want a *ConfigError", err)
	}
}
