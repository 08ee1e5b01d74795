package broker

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// hostileMetadata is the kind of answer issue-8-style tests need: a
// partition id of 2^31, ids {0, 20000000}, 500 brokers, a leader no
// broker listed, and port 0.
func hostileMetadata() *wire.MetadataResponse {
	m := &wire.MetadataResponse{}
	for i := range 500 {
		m.Brokers = append(m.Brokers, wire.BrokerInfo{ID: "b" + string(rune('a'+i%26)), Host: "127.0.0.1", PortQUIC: uint16(i)})
	}
	ghost, first := "nobody", "ba"
	m.TopicsMetadata = []wire.TopicMetadata{
		{Name: "t", Partitions: []wire.PartitionMetadata{{PartitionID: 1 << 31, Leader: &first}}},
		{Name: "sparse", Partitions: []wire.PartitionMetadata{{PartitionID: 0, Leader: &first}, {PartitionID: 20000000, Leader: &ghost}}},
	}
	return m
}

func TestFaultAnswersCraftedMetadata(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}})
	c := dial(t, b, b.Addr())
	want := hostileMetadata()
	b.FailNext(Fault{RequestType: wire.TypeMetadata, Answer: AnswerFrame(wire.TypeMetadata, want), Count: 2})
	for i := range 2 {
		got, err := c.metadata("t")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Brokers) != 500 || got.Brokers[0].PortQUIC != 0 || got.TopicsMetadata[0].Partitions[0].PartitionID != 1<<31 ||
			*got.TopicsMetadata[1].Partitions[1].Leader != "nobody" {
			t.Fatalf("answer %d is not the crafted one: %d brokers", i, len(got.Brokers))
		}
	}
	got, err := c.metadata("t")
	if err != nil || len(got.Brokers) != 1 || got.TopicsMetadata[0].Partitions[0].PartitionID != 0 {
		t.Fatalf("after the count: %+v, %v", got, err)
	}

	// A big body: 8 MiB that is not even a MetadataResponse.
	big := append([]byte{wire.TypeMetadata}, make([]byte, 8<<20)...)
	b.FailNext(Fault{RequestType: wire.TypeMetadata, Answer: big})
	raw, err := c.roundTrip((&wire.MetadataRequest{}).Append([]byte{wire.TypeMetadata}))
	if err != nil || len(raw) != len(big) {
		t.Fatalf("big answer: %d bytes, %v", len(raw), err)
	}
}

func TestFaultAnswersCraftedProduce(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}})
	c := dial(t, b, b.Addr())
	// Appended for real, then acknowledged with an offset beyond int64.
	b.FailNext(Fault{RequestType: wire.TypeProduce, Partition: -1, AfterApply: true,
		Answer: AnswerFrame(wire.TypeProduce, &wire.ProduceResponse{Offset: math.MaxUint64})})
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: records("a")})
	if r.Offset != math.MaxUint64 || r.ErrorCode != 0 {
		t.Fatalf("crafted answer %+v", r)
	}
	if n, _ := b.HighWatermark("t", 0); n != 1 {
		t.Fatalf("AfterApply: hw %d, want 1", n)
	}
	// A 10 MB error text, and the request left untouched.
	huge := strings.Repeat("x", 10<<20)
	b.FailNext(Fault{RequestType: wire.TypeProduce, Partition: -1, Answer: ErrorFrame(huge)})
	_, err := c.produce(&wire.ProduceRequest{Topic: "t", Records: records("b")})
	if text, ok := isErrorFrame(err); !ok || len(text) != len("Error: ")+len(huge) {
		t.Fatalf("huge error frame: %d bytes, %v", len(text), ok)
	}
	if n, _ := b.HighWatermark("t", 0); n != 1 {
		t.Fatalf("refused batch appended: hw %d", n)
	}
}

func TestFaultNoAnswerResetAndDelay(t *testing.T) {
	b := startBroker(t, Config{})
	c := dial(t, b, b.Addr())
	probe := (&wire.CapabilitiesRequest{Version: 1}).Append([]byte{wire.TypeCapabilities})

	b.FailNext(Fault{RequestType: wire.TypeCapabilities, NoAnswer: true})
	if raw, err := c.roundTrip(probe); err != nil || len(raw) != 0 {
		t.Fatalf("NoAnswer: %q, %v; want an empty answer", raw, err)
	}
	b.FailNext(Fault{RequestType: wire.TypeCapabilities, ResetStream: true})
	_, err := c.roundTrip(probe)
	var se *quic.StreamError
	if !errors.As(err, &se) || !se.Remote {
		t.Fatalf("ResetStream: %v; want a stream reset by the broker", err)
	}
	if c.conn.Context().Err() != nil {
		t.Fatal("the connection did not survive")
	}
	const delay = 300 * time.Millisecond
	b.FailNext(Fault{RequestType: wire.TypeCapabilities, Delay: delay, Answer: ErrorFrame("late")})
	start := time.Now()
	if _, err := c.capabilities(); err == nil || !strings.Contains(err.Error(), "late") {
		t.Fatalf("delayed answer: %v", err)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("answered after %v, before the %v delay", took, delay)
	}
	if _, err := c.capabilities(); err != nil {
		t.Fatalf("after the rules: %v", err)
	}
	f := Fault{Answer: []byte{1}, NoAnswer: true, ResetStream: true, Delay: time.Second}
	if s := f.String(); !strings.Contains(s, "answer=1 bytes no-answer reset delay=1s") {
		t.Fatalf("String: %s", s)
	}
}

func TestAdvertiseBrokers(t *testing.T) {
	b := startBroker(t, Config{Brokers: 2, Topics: map[string]int{"t": 2}})
	c := dial(t, b, b.Addr())
	extra := []wire.BrokerInfo{{ID: "broker-7", Host: "127.0.0.1", PortQUIC: 1}, {ID: "broker-8", Host: "127.0.0.2", PortQUIC: 2}}
	b.AdvertiseBrokers(extra[0])
	b.AdvertiseBrokers(extra[1])
	m, err := c.metadata("t")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Brokers) != 4 || m.Brokers[0].ID != "broker-0" || m.Brokers[2] != extra[0] || m.Brokers[3] != extra[1] {
		t.Fatalf("brokers %+v", m.Brokers)
	}
	if l := *m.TopicsMetadata[0].Partitions[1].Leader; l != "broker-1" {
		t.Fatalf("leaders changed: %s", l)
	}
	b.ClearFaults()
	if m, _ := c.metadata(); len(m.Brokers) != 4 {
		t.Fatal("ClearFaults removed advertised brokers")
	}
	b.ClearAdvertisedBrokers()
	if m, _ := c.metadata(); len(m.Brokers) != 2 {
		t.Fatalf("after ClearAdvertisedBrokers: %d brokers", len(m.Brokers))
	}
}
