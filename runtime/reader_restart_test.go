package runtime

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/supervision"
)

// crashPartitionReader makes partition p's reader actor panic, as a bug
// would: a nil response dereferenced in its Receive.
func crashPartitionReader(rd *Reader, p int32) {
	pid := actor.NewPID(rd.group.Address, rd.group.Id+"/"+actors.ReaderChildName(p))
	rd.rt.sys.Root.Send(pid, (*actors.Response)(nil))
}

func startReaderTestBroker(t *testing.T, n int) (*Runtime, *Producer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{"crash": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	rt, err := New(Config{Brokers: []string{b.Addr()}, TLS: TLSConfig{Config: &tls.Config{RootCAs: b.CAPool()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	p, err := rt.CreateProducer("crash", ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]*Message, n)
	for i := range msgs {
		msgs[i] = &Message{Payload: []byte(fmt.Sprintf("%04d%s", i, strings.Repeat("-", 200)))}
	}
	if _, err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	return rt, p
}

// TestReaderSurvivesPartitionActorPanic crashes a partition's reader actor
// in the middle of reading: its supervisor restarts it after the backoff,
// and reading goes on from the same position, nothing lost or repeated.
func TestReaderSurvivesPartitionActorPanic(t *testing.T) {
	const n = 300
	rt, _ := startReaderTestBroker(t, n)
	var restarts atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rd, err := rt.NewReader(ctx, "crash", ReaderConfig{PrefetchBytes: 2 << 10, MaxFetchBytes: 1 << 10, Supervision: supervision.Config{
		Backoff: supervision.Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond},
		Observer: func(ev supervision.Event) {
			if ev.Directive == actor.RestartDirective {
				restarts.Add(1)
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for i := 0; i < n; i++ {
		if i == 50 || i == 200 {
			crashPartitionReader(rd, 0)
		}
		rec, err := rd.Next(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.Offset != int64(i) || string(rec.Value[:4]) != fmt.Sprintf("%04d", i) {
			t.Fatalf("record %d: offset %d value %.4s", i, rec.Offset, rec.Value)
		}
	}
	if got := restarts.Load(); got != 2 {
		t.Fatalf("%d restarts observed, want 2", got)
	}
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReaderFailsWhenSupervisorGivesUp: a partition reader that keeps
// panicking past its restart budget ends the Reader with a *ReadError
// saying so, instead of leaving Next waiting.
func TestReaderFailsWhenSupervisorGivesUp(t *testing.T) {
	rt, _ := startReaderTestBroker(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rd, err := rt.NewReader(ctx, "crash", ReaderConfig{Follow: true, Start: StartLatest, Supervision: supervision.Config{
		Backoff: supervision.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}, MaxRestarts: 1, Window: time.Minute,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	crashPartitionReader(rd, 0)
	time.Sleep(100 * time.Millisecond) // past the restart backoff
	crashPartitionReader(rd, 0)
	_, err = rd.Next(ctx)
	var re *ReadError
	if !errors.As(err, &re) || re.Partition != 0 || !strings.Contains(err.Error(), "supervisor gave up") {
		t.Fatalf("Next after the supervisor gave up: %v", err)
	}
}
