package actors_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"
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

// testSource is a producer's record source for the actors alone: records
// carry a value and get their outcome on a channel.
type testSource struct {
	mu        sync.Mutex
	queue     []*actors.Record
	scheduled bool
	values    sync.Map // *actors.Record -> []byte
	sys       *actor.ActorSystem
	router    atomic.Pointer[actor.PID]
	results   chan result
}

type result struct {
	value string
	o     actors.Outcome
	off   int64
}

func newTestSource() *testSource { return &testSource{results: make(chan result, 4096)} }

// add accepts a record of value with a delivery deadline d from now.
func (s *testSource) add(value string, d time.Duration) {
	r := &actors.Record{Deadline: actors.TickOf(time.Now().Add(d).UnixNano())}
	s.values.Store(r, []byte(value))
	s.mu.Lock()
	s.queue = append(s.queue, r)
	wake := !s.scheduled
	s.scheduled = true
	s.mu.Unlock()
	if pid := s.router.Load(); wake && pid != nil {
		s.sys.Root.Send(pid, &actors.Wake{})
	}
}

func (s *testSource) Drain(dst []*actors.Record) []*actors.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		s.scheduled = false
		return dst
	}
	dst = append(dst, s.queue...)
	s.queue = nil
	return dst
}

func (s *testSource) Topic(*actors.Record) string { return "t" }

func (s *testSource) Parts(r *actors.Record, p *actors.RecordParts) {
	v, _ := s.values.Load(r)
	*p = actors.RecordParts{Value: v.([]byte), Timestamp: 1}
}

func (s *testSource) Cancelled(*actors.Record) error               { return nil }
func (s *testSource) SpanContext(*actors.Record) trace.SpanContext { return trace.SpanContext{} }
func (s *testSource) CreateSpan(*actors.Record) trace.Span         { return nil }
func (s *testSource) Deliver(recs []*actors.Record, o actors.Outcome) {
	for i, r := range recs {
		v, _ := s.values.LoadAndDelete(r)
		off := int64(-1)
		if o.Base >= 0 {
			off = o.Base + int64(i)
		}
		s.results <- result{value: string(v.([]byte)), o: o, off: off}
	}
}

// result waits for the next outcome.
func (s *testSource) result(t *testing.T) result {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("no result")
		return result{}
	}
}

// scriptedMetadata stands in for the metadata actor: topic t has one
// partition led by conn, except that a refresh is answered with refreshErr
// when set, or not at all while silent.
type scriptedMetadata struct {
	conn       *actor.PID
	refreshErr *atomic.Pointer[error]
	silent     *atomic.Bool
}

func (s *scriptedMetadata) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actors.TopicRequest:
		c.Send(m.ReplyTo, &actors.TopicInfo{Topic: m.Topic, Partitions: 1})
	case *actors.LeaderRequest:
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

// rig is one idempotent producer actor (router and batchers) for topic t of
// a development broker, through a real connection actor, with scripted
// metadata.
type rig struct {
	broker     *broker.Broker
	sys        *actor.ActorSystem
	src        *testSource
	refreshErr atomic.Pointer[error]
	silent     atomic.Bool
}

func newRig(t *testing.T, bc broker.Config, bcfg actors.BatcherConfig) *rig {
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
	r := &rig{broker: b, sys: actor.NewActorSystem(quiet), src: newTestSource()}
	r.src.sys = r.sys
	conn := r.sys.Root.Spawn(actors.NewConnProps(actors.ConnConfig{
		Addr: b.Addr(), ConnectTimeout: 5 * time.Second,
		Dial: func(ctx context.Context, addr string) (actors.Conn, error) { return dialer.Dial(ctx, addr) },
	}))
	meta := r.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &scriptedMetadata{conn: conn, refreshErr: &r.refreshErr, silent: &r.silent}
	}))
	var pids atomic.Uint64
	bcfg.Idempotent, bcfg.Acks = true, wire.Acks{Level: wire.AckAll}
	bcfg.NewProducerID = func() uint64 { return pids.Add(1) }
	bcfg.RequestTimeout = 5 * time.Second
	bcfg.Backoff = supervision.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	bcfg.MaxRetries = -1
	ready := make(chan *actor.PID, 1)
	top := r.sys.Root.Spawn(actors.NewParentProps(supervision.NewStrategy(supervision.Config{Decider: supervision.ResumeDecider})))
	reply := make(chan actors.SpawnResult, 1)
	r.sys.Root.Send(top, &actors.SpawnChild{Props: actors.NewProducerProps(actors.ProducerConfig{
		Router:   actors.RouterConfig{Metadata: meta, Source: r.src, Batcher: bcfg},
		Strategy: supervision.NewStrategy(supervision.Config{Backoff: supervision.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}}),
		Ready:    ready,
	}), Name: "producer", Reply: reply})
	if res := <-reply; res.Err != nil {
		t.Fatal(res.Err)
	}
	r.src.router.Store(<-ready)
	t.Cleanup(func() {
		for _, pid := range []*actor.PID{top, meta, conn} {
			_ = r.sys.Root.StopFuture(pid).Wait()
		}
		r.sys.Shutdown()
		_ = b.Close()
	})
	return r
}
