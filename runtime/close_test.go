package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// timedLog keeps every record a logger handles, with when it was handled.
type timedLog struct {
	mu   sync.Mutex
	recs []timedRecord
}

type timedRecord struct {
	at  time.Time
	msg string
}

func (l *timedLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *timedLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%.200v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, timedRecord{at: time.Now(), msg: b.String()})
	l.mu.Unlock()
	return nil
}

func (l *timedLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *timedLog) WithGroup(string) slog.Handler      { return l }

// after returns the records handled after t.
func (l *timedLog) after(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.at.After(t) {
			out = append(out, r.msg)
		}
	}
	return out
}

// TestClosePromptAndSilent closes a runtime while it is busy in every way
// that outlived Close before: messages in flight and waiting, a following
// reader long-polling, metadata answers that keep naming new leaders at
// addresses where nothing listens (so connection actors keep being
// spawned and dialling), and brokers advertised as Close runs. Close must
// return within its context, and after it returns nothing may be logged:
// no dial failure, no supervision decision, no dead letter (protoactor
// logs those), for longer than a request timeout plus the metadata actor's
// expiry margin.
func TestClosePromptAndSilent(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"busy": 4, "read": 1}})
	self := selfInfo(t, b)
	log := &timedLog{}
	rt, err := rmq.New(rmq.Config{
		Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{CAFile: ca},
		RequestTimeout: time.Second, MetadataRefresh: 10 * time.Millisecond, HealthInterval: 50 * time.Millisecond,
		Logger: slog.New(log),
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := rt.CreateProducer("busy", rmq.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := rt.NewReader(ctxTimeout(t, 10*time.Second), "read", rmq.ReaderConfig{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 30*time.Second)
	go func() { _, _ = rd.Next(ctx) }()
	for i := range 200 {
		if err := p.SendAsync(ctx, &rmq.Message{Key: []byte(fmt.Sprint(i)), Payload: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// From now on each metadata answer about "busy" names new leaders
	// where nothing listens, and the broker list keeps growing.
	b.FailNext(broker.Fault{RequestType: wire.TypeProduce, Partition: -1, Code: 6, Count: -1}) // not leader: ask again
	stop := make(chan struct{})
	var churn sync.WaitGroup
	var round atomic.Int32
	churn.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			r := int(round.Add(1))
			resp := &wire.MetadataResponse{Brokers: []wire.BrokerInfo{self}, TopicsMetadata: []wire.TopicMetadata{{Name: "busy"}}}
			for part := range 4 {
				id := fmt.Sprintf("gone-%d-%d", r, part)
				resp.Brokers = append(resp.Brokers, wire.BrokerInfo{ID: id, Host: "127.0.0.1", PortQUIC: uint16(1 + (r*4+part)%1000)})
				resp.TopicsMetadata[0].Partitions = append(resp.TopicsMetadata[0].Partitions, wire.PartitionMetadata{PartitionID: uint32(part), Leader: &id})
			}
			b.FailNext(broker.Fault{RequestType: wire.TypeMetadata, Topic: "busy", Answer: broker.AnswerFrame(wire.TypeMetadata, resp)})
			b.AdvertiseBrokers(wire.BrokerInfo{ID: fmt.Sprintf("adv-%d", r), Host: "127.0.0.1", PortQUIC: uint16(2000 + r%1000)})
			_ = p.SendAsync(ctx, &rmq.Message{Key: []byte(fmt.Sprint(r)), Payload: []byte("y")}, nil)
		}
	})
	time.Sleep(400 * time.Millisecond)
	if n := len(rt.Health()); n < 5 {
		t.Fatalf("only %d brokers dialled: the test does not make the runtime spawn connections", n)
	}

	closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_ = rt.Close(closeCtx)
	closed := time.Now()
	took := closed.Sub(start)
	close(stop)
	churn.Wait()
	if took > 3*time.Second {
		t.Errorf("Close took %v with a 1s context", took)
	}
	time.Sleep(time.Second + 2500*time.Millisecond)
	if late := log.after(closed); len(late) > 0 {
		t.Fatalf("%d log records after Close returned (it took %v), the first: %s", len(late), took, strings.Join(late[:min(len(late), 5)], "\n"))
	}
	t.Logf("Close took %v; %d brokers had been dialled; %d metadata rounds", took.Round(time.Millisecond), len(rt.Health()), round.Load())
}

// TestReaderCloseEndsLongPoll: closing a following reader withdraws its
// Fetch long poll at once, instead of leaving the request running on the
// connection until the broker's poll ends.
func TestReaderCloseEndsLongPoll(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"quiet": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	rd, err := rt.NewReader(ctxTimeout(t, 10*time.Second), "quiet", rmq.ReaderConfig{Follow: true, Poll: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	nextDone := make(chan error, 1)
	go func() {
		_, err := rd.Next(ctxTimeout(t, 20*time.Second))
		nextDone <- err
	}()
	running := func() int { return countStacks("actors.(*connActor).run.func") }
	deadline := time.Now().Add(5 * time.Second)
	for running() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reader's long poll never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	for running() > 0 {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the Fetch long poll still runs %v after Close", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-nextDone; err == nil {
		t.Fatal("Next returned a record from a quiet topic")
	}
}

// countStacks counts the goroutines whose stack names fn.
func countStacks(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := goruntime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	c := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			c++
		}
	}
	return c
}
