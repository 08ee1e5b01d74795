package runtime_test

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestBadNamesAreRefusedAtSend: topic names and header keys a broker would
// refuse (refusing the whole request with them) fail at Send with
// ErrInvalidMessage wrapping the wire package's error, and never reach a
// request: after them, messages for a good topic and with good headers
// are delivered.
func TestBadNamesAreRefusedAtSend(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"good": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	bad := []struct {
		name string
		m    *rmq.Message
		is   error
	}{
		{"topic not UTF-8", &rmq.Message{Topic: "bad\xff", Payload: []byte("x")}, wire.ErrInvalidTopic},
		{"topic too long", &rmq.Message{Topic: strings.Repeat("t", wire.MaxTopicNameBytes+1), Payload: []byte("x")}, wire.ErrInvalidTopic},
		{"header key not UTF-8", &rmq.Message{Topic: "good", Payload: []byte("x"), Headers: []rmq.Header{{Key: "ok", Value: []byte("v")}, {Key: "k\xc3"}}}, wire.ErrInvalidHeaderKey},
		{"empty header key", &rmq.Message{Topic: "good", Payload: []byte("x"), Headers: []rmq.Header{{Key: ""}}}, wire.ErrInvalidHeaderKey},
	}
	for _, c := range bad {
		_, err := p.Send(ctx, c.m)
		if !errors.Is(err, rmq.ErrInvalidMessage) || !errors.Is(err, c.is) {
			t.Fatalf("%s: Send: %v", c.name, err)
		}
		if err := p.SendAsync(ctx, c.m, func(*rmq.Result, error) { t.Errorf("%s: callback for a refused message", c.name) }); !errors.Is(err, c.is) {
			t.Fatalf("%s: SendAsync: %v", c.name, err)
		}
		if _, err := p.SendBatch(ctx, []*rmq.Message{{Topic: "good", Payload: []byte("y")}, c.m}); !errors.Is(err, c.is) {
			t.Fatalf("%s: SendBatch: %v", c.name, err)
		}
		in := make(chan *rmq.Message, 1)
		in <- c.m
		close(in)
		for d := range p.Stream(ctx, in, 0) {
			if d.Result != nil || !errors.Is(d.Err, c.is) {
				t.Fatalf("%s: Stream: %+v", c.name, d)
			}
		}
	}
	if m := p.Metrics(); m.Accepted != 0 {
		t.Fatalf("refused messages were accepted: %+v", m)
	}
	res, err := p.SendBatch(ctx, []*rmq.Message{
		{Topic: "good", Payload: []byte("1"), Headers: []rmq.Header{{Key: "trace-id", Value: []byte("a")}}},
		{Topic: "good", Payload: []byte("2")},
	})
	if err != nil || len(res) != 2 {
		t.Fatalf("good messages after the bad ones: %v", err)
	}
	if n := len(b.Records("good", 0)); n != 2 {
		t.Fatalf("%d records stored, want 2", n)
	}
}

// TestBadDefaultTopic: CreateProducer refuses a default topic the wire
// format cannot carry with a *ConfigError naming it.
func TestBadDefaultTopic(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, []string{"127.0.0.1:1"}, "", nil)
	for _, topic := range []string{"bad\xff", strings.Repeat("x", 300)} {
		_, err := rt.CreateProducer(topic, rmq.ProducerConfig{})
		var ce *rmq.ConfigError
		if !errors.As(err, &ce) || ce.Field != "topic" || !errors.Is(err, wire.ErrInvalidTopic) || len(err.Error()) > 400 {
			t.Fatalf("CreateProducer(%.20q): %v", topic, err)
		}
	}
}

// TestOffsetBeyondInt64: a broker acknowledging with an offset that does not
// fit an int64 fails the messages with a *ProduceError wrapping a
// *wire.OffsetError, never a success with a negative offset.
func TestOffsetBeyondInt64(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"off": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "off", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	for _, off := range []uint64{math.MaxUint64, math.MaxInt64} {
		b.FailNext(broker.Fault{RequestType: wire.TypeProduce, AfterApply: true,
			Answer: broker.AnswerFrame(wire.TypeProduce, &wire.ProduceResponse{Offset: off})})
		res, err := p.SendBatch(ctx, []*rmq.Message{{Payload: []byte("a")}, {Payload: []byte("b")}})
		var pe *rmq.ProduceError
		var oe *wire.OffsetError
		if !errors.As(err, &pe) || !errors.As(err, &oe) || !errors.Is(err, wire.ErrOffsetOverflow) || oe.Base != off {
			t.Fatalf("offset %d: %v", off, err)
		}
		for _, r := range res {
			if r.Err == nil || r.Offset != -1 {
				t.Fatalf("offset %d: result %+v", off, r)
			}
		}
	}
}

// TestHugeBrokerTextsAreCut: a broker answering with a 10 MB error text
// (to a produce and to a metadata request) makes errors and log lines of a
// few KiB, not copies of the text.
func TestHugeBrokerTextsAreCut(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"txt": 1}})
	var logs lockedBuffer
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	p := newProducer(t, rt, "txt", rmq.ProducerConfig{MaxRetries: -1})
	ctx := ctxTimeout(t, 30*time.Second)
	huge := string(bytes.Repeat([]byte{0xff}, 10<<20))
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("warm up")}); err != nil {
		t.Fatal(err)
	}
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Answer: broker.ErrorFrame(huge)})
	_, err := p.Send(ctx, &rmq.Message{Payload: []byte("x")})
	if err == nil || len(err.Error()) > 4<<10 {
		t.Fatalf("produce answered with a huge text: error of %d bytes", len(err.Error()))
	}
	p2 := newProducer(t, rt, "other", rmq.ProducerConfig{DeliveryTimeout: 500 * time.Millisecond})
	b.FailNext(broker.Fault{RequestType: wire.TypeMetadata, Topic: "other", Answer: broker.ErrorFrame(huge)})
	if _, err := p2.Send(ctx, &rmq.Message{Payload: []byte("y")}); err == nil || len(err.Error()) > 4<<10 {
		t.Fatalf("metadata answered with a huge text: %d bytes", len(err.Error()))
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 8<<10 {
			t.Fatalf("a log line of %d bytes: %.200s", len(line), line)
		}
	}
}
