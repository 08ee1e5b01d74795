package actors_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/supervision"
	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// scriptedMetadata stands in for the metadata actor: it names conn as the
// leader, except that a refresh is answered with refreshErr when set, or
// not at all while silent.
type scriptedMetadata struct {
	conn       *actor.PID
	refreshErr *atomic.Pointer[error]
	silent     *atomic.Bool
}

func (s *scriptedMetadata) Receive(c actor.Context) {
	if m, ok := c.Message().(*actors.LeaderRequest); ok {
		if m.Refresh && s.silent.Load() {
			return
		}
		if e := s.refreshErr.Load(); m.Refresh && e != nil {
			c.Send(m.ReplyTo, &actors.LeaderInfo{Topic: m.Topic, Partition: m.Partition, Err: *e})
			return
		}
		c.Send(m.ReplyTo, &actors.LeaderInfo{Topic: m.Topic, Partition: m.Partition, Conn: s.conn, Addr: "broker"})
	}
}

// chanSink hands each delivered record to a channel.
type chanSink chan *actors.Record

func (s chanSink) Deliver(recs []*actors.Record) {
	for _, r := range recs {
		s <- r
	}
}

// batcherRig is one idempotent batcher of partition t/0 of a development
// broker, through a real connection actor, with scripted metadata.
type batcherRig struct {
	broker     *broker.Broker
	sys        *actor.ActorSystem
	batcher    *actor.PID
	results    chanSink
	refreshErr atomic.Pointer[error]
	silent     atomic.Bool
}

func newBatcherRig(t *testing.T, bc broker.Config, cfg actors.BatcherConfig) *batcherRig {
	t.Helper()
	b, err := broker.Start(context.Background(), bc)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, b.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	dialer, err := transport.NewDialer(transport.Config{TLS: transport.TLSConfig{CAFile: ca}})
	if err != nil {
		t.Fatal(err)
	}
	quiet := actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })
	rig := &batcherRig{broker: b, sys: actor.NewActorSystem(quiet), results: make(chanSink, 1024)}
	conn := rig.sys.Root.Spawn(actors.NewConnProps(actors.ConnConfig{
		Addr: b.Addr(), ConnectTimeout: 5 * time.Second,
		Dial: func(ctx context.Context, addr string) (actors.Conn, error) { return dialer.Dial(ctx, addr) },
	}))
	meta := rig.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &scriptedMetadata{conn: conn, refreshErr: &rig.refreshErr, silent: &rig.silent}
	}))
	var pids atomic.Uint64
	cfg.Topic, cfg.Partition, cfg.Metadata, cfg.Sink = "t", 0, meta, rig.results
	cfg.Idempotent, cfg.Acks = true, wire.Acks{Level: wire.AckAll}
	cfg.NewProducerID = func() uint64 { return pids.Add(1) }
	cfg.RequestTimeout = 5 * time.Second
	cfg.Backoff = supervision.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	cfg.MaxRetries = -1
	rig.batcher = rig.sys.Root.Spawn(actors.NewBatcherProps(cfg))
	t.Cleanup(func() {
		for _, pid := range []*actor.PID{rig.batcher, meta, conn} {
			_ = rig.sys.Root.StopFuture(pid).Wait()
		}
		rig.sys.Shutdown()
		_ = b.Close()
	})
	return rig
}

// send hands the batcher one record that must complete within d.
func (r *batcherRig) send(value string, d time.Duration) *actors.Record {
	rec := &actors.Record{Topic: "t", Wire: wire.Record{Value: []byte(value)}, Size: len(value), Deadline: time.Now().Add(d)}
	r.sys.Root.Send(r.batcher, rec)
	return rec
}

// result waits for the next delivered record.
func (r *batcherRig) result(t *testing.T) *actors.Record {
	t.Helper()
	select {
	case rec := <-r.results:
		return rec
	case <-time.After(15 * time.Second):
		t.Fatal("no result")
		return nil
	}
}

// TestBatcherFailedUnsentBatchRestartsSequence: when the batcher fails a
// stamped batch that is not in flight because the leader lookup failed
// (here: "not leader", then a refresh answering an error), the broker never
// saw that batch's sequence numbers. The next batch must not continue the
// sequence after it, or the broker answers "out of order sequence" (45) for
// ever, since no earlier batch is left to fill the gap; the batcher takes
// a fresh producer id instead. It used to keep the old one, and the next
// message failed only when its delivery timeout passed.
func TestBatcherFailedUnsentBatchRestartsSequence(t *testing.T) {
	t.Parallel()
	rig := newBatcherRig(t, broker.Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: -1},
		actors.BatcherConfig{BatchSize: 1, MaxInFlight: 1})
	rig.send("warm-up", 10*time.Second)
	if r := rig.result(t); r.Err != nil {
		t.Fatal(r.Err)
	}
	gone := errors.New("partition gone from the metadata")
	rig.refreshErr.Store(&gone)
	rig.broker.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 0, Code: uint32(wire.ErrNotLeader.Code)})
	rig.send("refused", 10*time.Second)
	if r := rig.result(t); !errors.Is(r.Err, gone) {
		t.Fatalf("refused record: %v, want the metadata's error", r.Err)
	}
	rig.refreshErr.Store(nil)
	rig.send("next", 3*time.Second)
	if r := rig.result(t); r.Err != nil {
		t.Fatalf("record after the failed batch: %v", r.Err)
	}
	stored := rig.broker.Records("t", 0)
	if len(stored) != 2 || string(stored[1].Value) != "next" {
		t.Fatalf("%d records stored", len(stored))
	}
}

// TestBatcherStalledBatchTimesOut: a failed batch waiting for a leader that
// the metadata never names fails with ErrDeliveryTimeout at its deadline,
// though nothing else is queued. The sweep that enforces deadlines used to
// run only while records were queued, so such a batch waited for ever.
func TestBatcherStalledBatchTimesOut(t *testing.T) {
	t.Parallel()
	rig := newBatcherRig(t, broker.Config{Topics: map[string]int{"t": 1}}, actors.BatcherConfig{BatchSize: 1, MaxInFlight: 1})
	rig.silent.Store(true)
	rig.broker.FailNext(broker.Fault{RequestType: wire.TypeProduce, Topic: "t", Partition: 0, Code: uint32(wire.ErrNotLeader.Code)})
	start := time.Now()
	rig.send("stranded", 500*time.Millisecond)
	r := rig.result(t)
	if !errors.Is(r.Err, actors.ErrDeliveryTimeout) || !errors.Is(r.Err, wire.ErrNotLeader) {
		t.Fatalf("stranded record: %v, want a delivery timeout after not leader", r.Err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("failed after %v, deadline 500ms", d)
	}
}
