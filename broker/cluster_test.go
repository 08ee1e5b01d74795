package broker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestClusterLeadersAndNotLeader(t *testing.T) {
	b := startBroker(t, Config{Brokers: 3, Topics: map[string]int{"t": 4}})
	addrs := b.Addrs()
	if len(addrs) != 3 || addrs[0] == addrs[1] || addrs[1] == addrs[2] {
		t.Fatalf("addrs %v", addrs)
	}
	clients := []*testClient{dial(t, b, addrs[0]), dial(t, b, addrs[1]), dial(t, b, addrs[2])}

	// Every node answers the same metadata view.
	for i, c := range clients {
		md, err := c.metadata("t")
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) != 3 {
			t.Fatalf("node %d lists %d brokers", i, len(md.Brokers))
		}
		for j, bi := range md.Brokers {
			if bi.ID != b.NodeID(j) || !strings.HasSuffix(addrs[j], ":"+strconv.Itoa(int(bi.PortQUIC))) {
				t.Fatalf("broker %d = %+v, addr %s", j, bi, addrs[j])
			}
		}
		for _, p := range md.TopicsMetadata[0].Partitions {
			if want := b.NodeID(int(p.PartitionID) % 3); *p.Leader != want {
				t.Fatalf("partition %d leader %s, want %s (round robin)", p.PartitionID, *p.Leader, want)
			}
		}
	}

	// Partition 1 is led by node 1: nodes 0 and 2 answer code 6.
	for _, i := range []int{0, 2} {
		r := clients[i].mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: records("a")})
		wantCode(t, "produce to non-leader", r.ErrorCode, r.ErrorMessage, 6)
		if !strings.Contains(*r.ErrorMessage, "broker-1 is") {
			t.Fatalf("message %q does not name the leader", *r.ErrorMessage)
		}
		f, _ := clients[i].fetch(&wire.FetchRequest{Topic: "t", PartitionID: 1, MaxBytes: 100})
		wantCode(t, "fetch from non-leader", f.ErrorCode, f.ErrorMessage, 6)
	}
	r := clients[1].mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: records("a")})
	wantCode(t, "produce to leader", r.ErrorCode, r.ErrorMessage, 0)

	// Move the leader of partition 1 to node 2: the log moves with it.
	if err := b.MoveLeader("t", 1, 2); err != nil {
		t.Fatal(err)
	}
	r = clients[1].mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: records("b")})
	wantCode(t, "produce to old leader", r.ErrorCode, r.ErrorMessage, 6)
	r = clients[2].mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: records("b")})
	if r.ErrorCode != 0 || r.Offset != 1 {
		t.Fatalf("produce to new leader %+v", r)
	}
	md, _ := clients[0].metadata("t")
	if *md.TopicsMetadata[0].Partitions[1].Leader != "broker-2" || b.Leader("t", 1) != 2 {
		t.Fatal("metadata does not show the moved leader")
	}

	for _, err := range []error{b.MoveLeader("t", 1, 3), b.MoveLeader("nope", 0, 0), b.MoveLeader("t", 4, 0)} {
		if err == nil {
			t.Fatal("bad MoveLeader accepted")
		}
	}
}

func TestStopAndStartNode(t *testing.T) {
	b := startBroker(t, Config{Brokers: 2, Topics: map[string]int{"t": 2}})
	addr := b.Addrs()[1]
	c := dial(t, b, addr)
	c.mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: records("a")})
	if err := b.StopNode(1); err != nil {
		t.Fatal(err)
	}
	if err := b.StopNode(1); !errors.Is(err, ErrNodeStopped) {
		t.Fatalf("second StopNode: %v", err)
	}
	<-c.conn.Context().Done() // the node closed its connections
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := dialTLS(ctx, addr, clientTLS(b.CAPool(), ALPN)); err == nil {
		t.Fatal("dial to a stopped node succeeded")
	}
	if err := b.StartNode(1); err != nil {
		t.Fatal(err)
	}
	if err := b.StartNode(1); !errors.Is(err, ErrNodeRunning) {
		t.Fatalf("second StartNode: %v", err)
	}
	if b.Addrs()[1] != addr {
		t.Fatalf("restarted on %s, want %s", b.Addrs()[1], addr)
	}
	c = dial(t, b, addr)
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: records("b")})
	if r.ErrorCode != 0 || r.Offset != 1 {
		t.Fatalf("after restart %+v", r)
	}
	if err := b.StopNode(5); !errors.Is(err, ErrNoSuchNode) {
		t.Fatalf("StopNode(5): %v", err)
	}
}

// TestCrashNodeAndStatelessReset crashes a node (no CONNECTION_CLOSE
// reaches the client), restarts it on the same address with the same
// stateless reset key, and checks that the client's next request ends its
// old connection with a stateless reset rather than hanging until the idle
// timeout (30 s for this client).
func TestCrashNodeAndStatelessReset(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}})
	c := dial(t, b, b.Addr())
	c.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: records("a")})
	if err := b.CrashNode(0); err != nil {
		t.Fatal(err)
	}
	if err := b.CrashNode(0); !errors.Is(err, ErrNodeStopped) {
		t.Fatalf("second CrashNode: %v", err)
	}
	if err := b.CrashNode(3); !errors.Is(err, ErrNoSuchNode) {
		t.Fatalf("CrashNode(3): %v", err)
	}
	if err := b.StartNode(0); err != nil {
		t.Fatal(err)
	}
	// Had the crash sent a CONNECTION_CLOSE, this would fail with the
	// broker's application error instead.
	_, err := c.produce(&wire.ProduceRequest{Topic: "t", Records: records("b")})
	var reset *quic.StatelessResetError
	if !errors.As(err, &reset) {
		t.Fatalf("request after the restart: %v, want a stateless reset", err)
	}
	// A new connection works, and the log kept the record.
	c = dial(t, b, b.Addr())
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: records("c")})
	if r.ErrorCode != 0 || r.Offset != 1 {
		t.Fatalf("after the restart: %+v", r)
	}
}
