package broker

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// heldPartition returns the reorder buffer of a partition.
func heldPartition(t testing.TB, b *Broker, topic string, partition uint32) *reorder {
	t.Helper()
	b.mu.RLock()
	defer b.mu.RUnlock()
	tp, ok := b.topics[topic]
	if !ok || int(partition) >= len(tp.partitions) {
		t.Fatalf("no partition %s/%d", topic, partition)
	}
	return tp.partitions[partition].reorder
}

// waitHeld waits until exactly want batches wait in the partition's reorder
// buffer.
func waitHeld(t testing.TB, b *Broker, topic string, partition uint32, want int) {
	t.Helper()
	r := heldPartition(t, b, topic, partition)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		n, changed := r.count()
		if n == want {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%d batches waiting in %s/%d, want %d", n, topic, partition, want)
		}
	}
}

type produceResult struct {
	r   *wire.ProduceResponse
	err error
}

// produceAsync sends req on its own stream from another goroutine.
func produceAsync(c *testClient, req *wire.ProduceRequest) <-chan produceResult {
	out := make(chan produceResult, 1)
	go func() {
		r, err := c.produce(req)
		out <- produceResult{r, err}
	}()
	return out
}

func idemReq(pid, seq uint64, vals ...string) *wire.ProduceRequest {
	return &wire.ProduceRequest{Topic: "t", Records: idem(records(vals...), pid, seq), Acks: wire.Acks{Level: wire.AckLeader}}
}

func mustOK(t testing.TB, what string, res produceResult, offset uint64) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("%s: %v", what, res.err)
	}
	wantCode(t, what, res.r.ErrorCode, res.r.ErrorMessage, 0)
	if res.r.Offset != offset {
		t.Fatalf("%s: base offset %d, want %d", what, res.r.Offset, offset)
	}
}

func recordValues(b *Broker, topic string, partition uint32) string {
	var vals []string
	for _, r := range b.Records(topic, partition) {
		vals = append(vals, string(r.Value))
	}
	return strings.Join(vals, ",")
}

// A new producer's batches arriving last first all wait for the first one
// and are then appended in sequence order.
func TestReorderReverseArrival(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: 10 * time.Second})
	c := dial(t, b, b.Addr())
	const pid = 77
	third := produceAsync(c, idemReq(pid, 5, "f"))
	waitHeld(t, b, "t", 0, 1)
	second := produceAsync(c, idemReq(pid, 2, "c", "d", "e"))
	waitHeld(t, b, "t", 0, 2)
	first := produceAsync(c, idemReq(pid, 0, "a", "b"))
	mustOK(t, "seq 0", <-first, 0)
	mustOK(t, "seq 2", <-second, 2)
	mustOK(t, "seq 5", <-third, 5)
	if got := recordValues(b, "t", 0); got != "a,b,c,d,e,f" {
		t.Fatalf("log holds %s, want a,b,c,d,e,f", got)
	}
	waitHeld(t, b, "t", 0, 0)
}

// Batches of two producers sent all at once, each on its own stream, land
// in sequence order per producer whatever order QUIC delivers them in.
func TestReorderConcurrentShuffled(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: 10 * time.Second})
	c := dial(t, b, b.Addr())
	const batches = 12 // fewer than maxReorderWaiting, so none is refused
	type sent struct {
		pid, seq uint64
		res      <-chan produceResult
	}
	var all []sent
	var order []int
	for i := 0; i < 2*batches; i++ {
		order = append(order, i)
	}
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, i := range order {
		pid, seq := uint64(100+i%2), uint64(2*(i/2))
		all = append(all, sent{pid, seq, produceAsync(c, idemReq(pid, seq, fmt.Sprintf("%d-%d", pid, seq), fmt.Sprintf("%d-%d", pid, seq+1)))})
	}
	answered := make([]uint64, len(all))
	for i, s := range all {
		res := <-s.res
		if res.err != nil {
			t.Fatalf("pid %d seq %d: %v", s.pid, s.seq, res.err)
		}
		wantCode(t, fmt.Sprintf("pid %d seq %d", s.pid, s.seq), res.r.ErrorCode, res.r.ErrorMessage, 0)
		answered[i] = res.r.Offset
	}
	recs := b.Records("t", 0)
	if len(recs) != 4*batches {
		t.Fatalf("log holds %d records, want %d (each batch once)", len(recs), 4*batches)
	}
	next := map[uint64]uint64{100: 0, 101: 0}
	for i, r := range recs {
		var pid, seq uint64
		if _, err := fmt.Sscanf(string(r.Value), "%d-%d", &pid, &seq); err != nil {
			t.Fatalf("record %d = %q", i, r.Value)
		}
		if seq != next[pid] {
			t.Fatalf("record %d is %d-%d, want %d-%d: not in sequence order", i, pid, seq, pid, next[pid])
		}
		next[pid]++
	}
	for i, s := range all {
		// The offset answered to each batch is where its first record is.
		if want := fmt.Sprintf("%d-%d", s.pid, s.seq); answered[i] >= uint64(len(recs)) || string(recs[answered[i]].Value) != want {
			t.Fatalf("pid %d seq %d answered offset %d, which does not hold %s", s.pid, s.seq, answered[i], want)
		}
	}
}

// A gap never filled is answered 45 once the window passes, or earlier when
// the request's timeout_ms is shorter; nothing is appended.
func TestReorderGapExpires(t *testing.T) {
	const window = 100 * time.Millisecond
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: window})
	c := dial(t, b, b.Addr())
	mustOK(t, "seq 0", produceResult{c.mustProduce(t, idemReq(1, 0, "a")), nil}, 0)

	start := time.Now()
	r := c.mustProduce(t, idemReq(1, 3, "gap"))
	wantCode(t, "gap", r.ErrorCode, r.ErrorMessage, 45)
	if el := time.Since(start); el < window {
		t.Fatalf("gap answered after %v, before the %v window", el, window)
	}
	if !strings.Contains(*r.ErrorMessage, "expected sequence 1, got 3") || !strings.Contains(*r.ErrorMessage, "waited") {
		t.Fatalf("gap message %q", *r.ErrorMessage)
	}
	r = c.mustProduce(t, idemReq(2, 4, "new"))
	wantCode(t, "new producer not at 0", r.ErrorCode, r.ErrorMessage, 45)
	if !strings.Contains(*r.ErrorMessage, "first sequence must be 0, got 4") {
		t.Fatalf("new producer message %q", *r.ErrorMessage)
	}
	if n, _ := b.HighWatermark("t", 0); n != 1 {
		t.Fatalf("hw %d after refused gaps, want 1", n)
	}
	waitHeld(t, b, "t", 0, 0)

	// timeout_ms shorter than the window bounds the wait.
	b2 := startBroker(t, Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: time.Minute})
	c2 := dial(t, b2, b2.Addr())
	req := idemReq(3, 7, "x")
	req.TimeoutMs = 150
	start = time.Now()
	r = c2.mustProduce(t, req)
	wantCode(t, "gap with short timeout_ms", r.ErrorCode, r.ErrorMessage, 45)
	if el := time.Since(start); el < 150*time.Millisecond || el > 5*time.Second {
		t.Fatalf("answered after %v, want about timeout_ms (150ms)", el)
	}
	waitHeld(t, b2, "t", 0, 0)

}

// A duplicate of a batch still waiting waits too, and is answered the
// original's offset once the original is appended.
func TestReorderDuplicateOfWaiting(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: 10 * time.Second})
	c := dial(t, b, b.Addr())
	c.mustProduce(t, idemReq(5, 0, "a"))
	one := produceAsync(c, idemReq(5, 2, "c"))
	waitHeld(t, b, "t", 0, 1)
	two := produceAsync(c, idemReq(5, 2, "c"))
	waitHeld(t, b, "t", 0, 2)
	mustOK(t, "seq 1", produceResult{c.mustProduce(t, idemReq(5, 1, "b")), nil}, 1)
	mustOK(t, "seq 2", <-one, 2)
	mustOK(t, "seq 2 again", <-two, 2)
	if got := recordValues(b, "t", 0); got != "a,b,c" {
		t.Fatalf("log holds %s, want a,b,c", got)
	}

	// A batch that starts inside the batch filling its gap is 45 once woken.
	c.mustProduce(t, idemReq(4, 0, "d"))
	mid := produceAsync(c, idemReq(4, 2, "mid"))
	waitHeld(t, b, "t", 0, 1)
	mustOK(t, "pid 4 seq 1", produceResult{c.mustProduce(t, idemReq(4, 1, "e", "f", "g")), nil}, 4)
	res := <-mid
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantCode(t, "mid-batch after the wait", res.r.ErrorCode, res.r.ErrorMessage, 45)
}

// With the window disabled a gap is answered 45 without waiting.
func TestReorderDisabled(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: -1})
	c := dial(t, b, b.Addr())
	_, changed := heldPartition(t, b, "t", 0).count()
	r := c.mustProduce(t, idemReq(6, 1, "early"))
	wantCode(t, "new producer not at 0", r.ErrorCode, r.ErrorMessage, 45)
	c.mustProduce(t, idemReq(6, 0, "a"))
	r = c.mustProduce(t, idemReq(6, 5, "gap"))
	wantCode(t, "gap", r.ErrorCode, r.ErrorMessage, 45)
	if strings.Contains(*r.ErrorMessage, "waited") {
		t.Fatalf("message %q says the batch waited", *r.ErrorMessage)
	}
	select {
	case <-changed:
		t.Fatal("a batch waited in the reorder buffer with the window disabled")
	default:
	}
}

// At most maxReorderWaiting batches wait per producer and partition; closing
// the broker ends their waits at once.
func TestReorderBoundAndClose(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: time.Minute})
	c := dial(t, b, b.Addr())
	var waiting []<-chan produceResult
	for i := 0; i < maxReorderWaiting; i++ {
		waiting = append(waiting, produceAsync(c, idemReq(8, uint64(10+i), "w")))
	}
	waitHeld(t, b, "t", 0, maxReorderWaiting)
	r := c.mustProduce(t, idemReq(8, 99, "over"))
	wantCode(t, "beyond the bound", r.ErrorCode, r.ErrorMessage, 45)
	if !strings.Contains(*r.ErrorMessage, fmt.Sprintf("%d later batches", maxReorderWaiting)) {
		t.Fatalf("bound message %q", *r.ErrorMessage)
	}
	// Another producer is not limited by the first one's waiting batches.
	if r := c.mustProduce(t, idemReq(9, 0, "other")); r.ErrorCode != 0 {
		t.Fatalf("other producer %+v", r)
	}

	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Close took %v with batches waiting", el)
	}
	var wg sync.WaitGroup
	for i, ch := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := <-ch; res.err == nil {
				t.Errorf("waiting batch %d answered %+v after Close, want the request dropped", i, res.r)
			}
		}()
	}
	wg.Wait()
	if n, _ := heldPartition(t, b, "t", 0).count(); n != 0 {
		t.Fatalf("%d batches still registered after Close", n)
	}
}

// StopNode ends the waits of its connections; a batch woken after its node
// lost the partition's leadership is answered 6.
func TestReorderStopNodeAndLeaderMove(t *testing.T) {
	b := startBroker(t, Config{Brokers: 2, Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: time.Minute})
	c0 := dial(t, b, b.Addrs()[0])
	moved := produceAsync(c0, idemReq(11, 1, "b"))
	waitHeld(t, b, "t", 0, 1)
	if err := b.MoveLeader("t", 0, 1); err != nil {
		t.Fatal(err)
	}
	c1 := dial(t, b, b.Addrs()[1])
	mustOK(t, "seq 0 at the new leader", produceResult{c1.mustProduce(t, idemReq(11, 0, "a")), nil}, 0)
	res := <-moved
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantCode(t, "woken at the old leader", res.r.ErrorCode, res.r.ErrorMessage, wire.ErrNotLeader.Code)

	stranded := produceAsync(c1, idemReq(11, 5, "x"))
	waitHeld(t, b, "t", 0, 1)
	if err := b.StopNode(1); err != nil {
		t.Fatal(err)
	}
	if res := <-stranded; res.err == nil {
		t.Fatalf("waiting batch answered %+v after StopNode, want the connection closed", res.r)
	}
	waitHeld(t, b, "t", 0, 0)
}
