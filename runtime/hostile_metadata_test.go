package runtime_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// selfInfo is the BrokerInfo of b's node 0 as its Metadata answers list it.
func selfInfo(t *testing.T, b *broker.Broker) wire.BrokerInfo {
	t.Helper()
	host, port, err := net.SplitHostPort(b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return wire.BrokerInfo{ID: b.NodeID(0), Host: host, PortQUIC: uint16(n)}
}

func leader(id string) *string { return &id }

// TestHostileMetadataIsRefused answers the Metadata requests about a topic
// with metadata no broker should send. Each must fail the topic's messages
// with a *MetadataError that says what is wrong, quickly, without a panic
// and without allocating by the size the answer claims.
func TestHostileMetadataIsRefused(t *testing.T) {
	b, ca := startBroker(t, broker.Config{})
	self := selfInfo(t, b)
	me := self.ID
	cases := []struct {
		name   string
		resp   func(topic string) *wire.MetadataResponse
		reason string
	}{
		{"partition id 2^31", func(topic string) *wire.MetadataResponse {
			return &wire.MetadataResponse{Brokers: []wire.BrokerInfo{self}, TopicsMetadata: []wire.TopicMetadata{{Name: topic,
				Partitions: []wire.PartitionMetadata{{PartitionID: 1 << 31, Leader: leader(me)}}}}}
		}, "partition id 2147483648 among 1 partitions"},
		{"partitions 0 and 20000000", func(topic string) *wire.MetadataResponse {
			return &wire.MetadataResponse{Brokers: []wire.BrokerInfo{self}, TopicsMetadata: []wire.TopicMetadata{{Name: topic,
				Partitions: []wire.PartitionMetadata{{PartitionID: 0, Leader: leader(me)}, {PartitionID: 20_000_000, Leader: leader(me)}}}}}
		}, "partition id 20000000 among 2 partitions"},
		{"partition listed twice", func(topic string) *wire.MetadataResponse {
			return &wire.MetadataResponse{Brokers: []wire.BrokerInfo{self}, TopicsMetadata: []wire.TopicMetadata{{Name: topic,
				Partitions: []wire.PartitionMetadata{{PartitionID: 0, Leader: leader(me)}, {PartitionID: 0, Leader: leader(me)}}}}}
		}, "partition id 0 listed twice"},
		{"leader no broker lists", func(topic string) *wire.MetadataResponse {
			return &wire.MetadataResponse{Brokers: []wire.BrokerInfo{self}, TopicsMetadata: []wire.TopicMetadata{{Name: topic,
				Partitions: []wire.PartitionMetadata{{PartitionID: 0, Leader: leader("ghost")}}}}}
		}, `broker "ghost", is not among the 1 listed brokers`},
		{"leader on port 0", func(topic string) *wire.MetadataResponse {
			bad := wire.BrokerInfo{ID: "zero", Host: "127.0.0.1", PortQUIC: 0}
			return &wire.MetadataResponse{Brokers: []wire.BrokerInfo{self, bad}, TopicsMetadata: []wire.TopicMetadata{{Name: topic,
				Partitions: []wire.PartitionMetadata{{PartitionID: 0, Leader: leader("zero")}}}}}
		}, `broker "zero", is listed with port 0`},
		{"leader with an empty host", func(topic string) *wire.MetadataResponse {
			bad := wire.BrokerInfo{ID: "nohost", PortQUIC: 9092}
			return &wire.MetadataResponse{Brokers: []wire.BrokerInfo{self, bad}, TopicsMetadata: []wire.TopicMetadata{{Name: topic,
				Partitions: []wire.PartitionMetadata{{PartitionID: 0, Leader: leader("nohost")}}}}}
		}, `broker "nohost", is listed with an empty host`},
		{"too many partitions", func(topic string) *wire.MetadataResponse {
			parts := make([]wire.PartitionMetadata, 101)
			for i := range parts {
				parts[i] = wire.PartitionMetadata{PartitionID: uint32(i), Leader: leader(me)}
			}
			return &wire.MetadataResponse{Brokers: []wire.BrokerInfo{self}, TopicsMetadata: []wire.TopicMetadata{{Name: topic, Partitions: parts}}}
		}, "101 partitions listed, more than the 100 accepted"},
	}
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.MaxPartitions = 100 })
	ctx := ctxTimeout(t, 60*time.Second)
	for i, c := range cases {
		topic := fmt.Sprintf("hostile-%d", i)
		b.FailNext(broker.Fault{RequestType: wire.TypeMetadata, Topic: topic, Count: -1, Answer: broker.AnswerFrame(wire.TypeMetadata, c.resp(topic))})
		p := newProducer(t, rt, topic, rmq.ProducerConfig{})
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		start := time.Now()
		_, err := p.Send(ctx, &rmq.Message{Key: []byte("k"), Payload: []byte("v")})
		took := time.Since(start)
		goruntime.ReadMemStats(&after)
		var me *rmq.MetadataError
		if !errors.Is(err, rmq.ErrInvalidMetadata) || !errors.As(err, &me) || me.Topic != topic || !strings.Contains(me.Reason, c.reason) {
			t.Errorf("%s: Send: %v, want a *MetadataError saying %q", c.name, err, c.reason)
			continue
		}
		if took > 5*time.Second {
			t.Errorf("%s: the error took %v", c.name, took)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Errorf("%s: %d MiB allocated while refusing the answer", c.name, grew>>20)
		}
		t.Logf("%s: %v after %v", c.name, err, took.Round(time.Millisecond))
	}
}

// TestBadMetadataKeepsWhatWasBelieved: once a topic's metadata is known, a
// later hostile answer is refused with a warning and the producer keeps
// producing with what it knew.
func TestBadMetadataKeepsWhatWasBelieved(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"kept": 2}})
	var logs lockedBuffer
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) {
		c.MetadataRefresh = 50 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	p := newProducer(t, rt, "kept", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Key: []byte("a"), Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	hostile := &wire.MetadataResponse{Brokers: []wire.BrokerInfo{selfInfo(t, b)}, TopicsMetadata: []wire.TopicMetadata{{Name: "kept",
		Partitions: []wire.PartitionMetadata{{PartitionID: 7, Leader: leader(b.NodeID(0))}}}}}
	b.FailNext(broker.Fault{RequestType: wire.TypeMetadata, Topic: "kept", Count: -1, Answer: broker.AnswerFrame(wire.TypeMetadata, hostile)})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "broker metadata not believed") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the hostile answer:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "previous_kept=true") {
		t.Fatalf("the warning does not say the previous metadata was kept:\n%s", logs.String())
	}
	for i := range 20 {
		if res, err := p.Send(ctx, &rmq.Message{Key: []byte(strconv.Itoa(i)), Payload: []byte("2")}); err != nil || res.Partition > 1 {
			t.Fatalf("Send with the old metadata: %+v %v", res, err)
		}
	}
	if n := strings.Count(logs.String(), "broker metadata not believed"); n != 1 {
		t.Fatalf("the same refusal was logged %d times", n)
	}
}

// TestListedBrokersAreNotAllDialled: a cluster that lists 500 brokers (none
// of which leads a partition in use) gets no dial to any of them.
func TestListedBrokersAreNotAllDialled(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	infos := make([]wire.BrokerInfo, 500)
	for i := range infos {
		infos[i] = wire.BrokerInfo{ID: fmt.Sprintf("extra-%d", i), Host: "127.0.0.1", PortQUIC: uint16(20000 + i)}
	}
	b.AdvertiseBrokers(infos...)
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.MetadataRefresh = 50 * time.Millisecond })
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	ctx := ctxTimeout(t, 30*time.Second)
	for i := range 10 {
		if _, err := p.Send(ctx, &rmq.Message{Key: []byte(strconv.Itoa(i)), Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // a few refreshes
	if h := rt.Health(); len(h) != 1 || h[0].Addr != b.Addr() {
		t.Fatalf("brokers dialled: %d (%+v), want only the bootstrap broker", len(h), h)
	}
}
