package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestFailNext(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 2, "u": 1}})
	c := dial(t, b, b.Addr())
	produce := func(topic string, part uint32) *wire.ProduceResponse {
		return c.mustProduce(t, &wire.ProduceRequest{Topic: topic, PartitionID: part, Records: records("a")})
	}

	// Two failures for t/1 only; other partitions and topics are untouched.
	b.FailNext(Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 1, Code: 6, Count: 2})
	wantCode(t, "other partition", produce("t", 0).ErrorCode, nil, 0)
	wantCode(t, "other topic", produce("u", 0).ErrorCode, nil, 0)
	for i := 0; i < 2; i++ {
		r := produce("t", 1)
		wantCode(t, "injected", r.ErrorCode, r.ErrorMessage, 6)
		if !strings.Contains(*r.ErrorMessage, "injected fault") {
			t.Fatalf("message %q", *r.ErrorMessage)
		}
	}
	wantCode(t, "after the count", produce("t", 1).ErrorCode, nil, 0)
	if n, _ := b.HighWatermark("t", 1); n != 1 {
		t.Fatalf("refused batches were appended: hw %d", n)
	}

	// Any type, any partition, fetch answers the code too.
	b.FailNext(Fault{Partition: -1, Code: 7})
	f, _ := c.fetch(&wire.FetchRequest{Topic: "t", MaxBytes: 10})
	wantCode(t, "fetch fault", f.ErrorCode, f.ErrorMessage, 7)

	// Metadata has no error_code: an error frame.
	b.FailNext(Fault{RequestType: wire.TypeMetadata, Code: 1})
	if _, err := c.metadata(); err == nil || !strings.Contains(err.Error(), "injected fault (code 1)") {
		t.Fatalf("metadata fault: %v", err)
	}
	// Code 0xFF forces an error frame for any type.
	b.FailNext(Fault{RequestType: wire.TypeProduce, Partition: -1, Code: 0xFF})
	if _, err := c.produce(&wire.ProduceRequest{Topic: "t", Records: records("a")}); err == nil {
		t.Fatal("0xFF fault answered normally")
	} else if _, ok := isErrorFrame(err); !ok {
		t.Fatalf("0xFF fault: %v", err)
	}

	// AfterApply: written, then answered with the code; an idempotent retry
	// is recognised as a duplicate.
	b.FailNext(Fault{RequestType: wire.TypeProduce, Topic: "u", Partition: -1, Code: 7, AfterApply: true})
	batch := func() *wire.ProduceRequest {
		return &wire.ProduceRequest{Topic: "u", Records: idem(records("once"), 99, 0), Acks: wire.Acks{Level: wire.AckAll}}
	}
	r := c.mustProduce(t, batch())
	wantCode(t, "after apply", r.ErrorCode, r.ErrorMessage, 7)
	r = c.mustProduce(t, batch())
	if r.ErrorCode != 0 || r.Offset != 1 {
		t.Fatalf("retry after a lost ack: %+v", r)
	}
	if got := b.Records("u", 0); len(got) != 2 {
		t.Fatalf("u has %d records, want 2 (no duplicate)", len(got))
	}

	// Count < 0 lasts until ClearFaults.
	b.FailNext(Fault{RequestType: wire.TypeProduce, Partition: -1, Code: 19, Count: -1})
	for i := 0; i < 3; i++ {
		wantCode(t, "sticky fault", produce("t", 0).ErrorCode, nil, 19)
	}
	if b.PendingFaults() != 1 {
		t.Fatalf("pending %d", b.PendingFaults())
	}
	b.ClearFaults()
	wantCode(t, "cleared", produce("t", 0).ErrorCode, nil, 0)
}

func TestFaultDrop(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}})
	c := dial(t, b, b.Addr())
	b.FailNext(Fault{RequestType: wire.TypeProduce, Partition: -1, Drop: true, AfterApply: true})
	if _, err := c.produce(&wire.ProduceRequest{Topic: "t", Records: records("a")}); err == nil {
		t.Fatal("dropped request was answered")
	}
	<-c.conn.Context().Done()
	var ae *quic.ApplicationError
	if err := context.Cause(c.conn.Context()); !errorsAs(err, &ae) || !ae.Remote {
		t.Fatalf("connection ended with %v, want the broker's CONNECTION_CLOSE", err)
	}
	if n, _ := b.HighWatermark("t", 0); n != 1 {
		t.Fatalf("AfterApply drop: hw %d, want 1", n)
	}
	c2 := dial(t, b, b.Addr())
	if r := c2.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: records("b")}); r.Offset != 1 {
		t.Fatalf("after reconnect %+v", r)
	}
}

func TestDropAndRefuseConnections(t *testing.T) {
	b := startBroker(t, Config{Brokers: 2, Topics: map[string]int{"t": 1}})
	c0, c1 := dial(t, b, b.Addrs()[0]), dial(t, b, b.Addrs()[1])
	b.DropConnections()
	<-c0.conn.Context().Done()
	<-c1.conn.Context().Done()

	b.RefuseConnections(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := dialTLS(ctx, b.Addr(), clientTLS(b.CAPool(), ALPN)); err == nil {
		t.Fatal("connection accepted while refusing")
	} else if ctx.Err() != nil {
		t.Fatalf("refusal was not prompt: %v", err)
	}
	t.Logf("refused at %v", time.Now())
	b.ClearFaults()
	c := dial(t, b, b.Addr())
	t.Logf("dialed at %v", time.Now())
	if _, err := c.metadata(); err != nil {
		t.Fatal(err)
	}

	// A short refusal ends by itself.
	b.RefuseConnections(50 * time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cc, err := dialTLS(ctx, b.Addr(), clientTLS(b.CAPool(), ALPN))
		cancel()
		t.Logf("dial: %v %v", err, time.Now())
		if err == nil {
			cc.close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a wall-clock window, not synchronising goroutines
	}
}

func TestResponseDelay(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}})
	c := dial(t, b, b.Addr())
	b.SetResponseDelay(150 * time.Millisecond)
	start := time.Now()
	if _, err := c.metadata(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered after %v, want >= 150ms", d)
	}
	b.SetResponseDelay(0)
}
