package runtime_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/internal/proctest"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// killRun is a producer streaming keyed messages to the broker binary in
// durable mode while the test SIGKILLs the binary and starts it again on
// the same port and data directory.
type killRun struct {
	t       *testing.T
	topic   string
	parts   int
	n       int
	dataDir string
	ca      string
	proc    *proctest.Proc
	rt      *rmq.Runtime
	p       *rmq.Producer

	mu      sync.Mutex
	acks    []time.Time // callback time of each success, in callback order
	results []killResult
	done    atomic.Int64
	all     chan struct{}
	// window bounds the messages sent and without a result, so that
	// messages are still streaming whenever the test kills the broker.
	window chan struct{}
}

type killResult struct {
	res *rmq.Result
	err error
	n   int
}

func newKillRun(t *testing.T, topic string, parts, n int, edit func(*rmq.Config)) *killRun {
	k := &killRun{t: t, topic: topic, parts: parts, n: n, dataDir: t.TempDir(), all: make(chan struct{}), window: make(chan struct{}, 2000)}
	k.ca = filepath.Join(t.TempDir(), "ca.pem")
	k.proc = startBrokerProc(t, "--listen", "127.0.0.1:0", "--data-dir", k.dataDir, "--write-ca", k.ca,
		"--topic", fmt.Sprintf("%s:%d", topic, parts), "--log-level", "warn")
	k.rt = newRuntime(t, []string{k.proc.Addr}, k.ca, edit)
	k.p = newProducer(t, k.rt, topic, rmq.ProducerConfig{Acks: rmq.AcksAll, Idempotence: rmq.IdempotenceOn, Linger: time.Millisecond})
	k.results = make([]killResult, n)
	return k
}

// send starts sending every message, at most cap(window) at a time.
func (k *killRun) send(ctx context.Context) {
	go k.sendAll(ctx)
}

func (k *killRun) sendAll(ctx context.Context) {
	for i := range k.n {
		select {
		case k.window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		v := make([]byte, 8, 24)
		binary.BigEndian.PutUint64(v, uint64(i))
		v = append(v, "restart-payload"...)
		msg := &rmq.Message{Key: []byte(fmt.Sprintf("k%d", i%97)), Payload: v}
		if err := k.p.SendAsync(ctx, msg, func(r *rmq.Result, err error) {
			now := time.Now()
			k.mu.Lock()
			o := &k.results[i]
			o.res, o.err = r, err
			o.n++
			if err == nil {
				k.acks = append(k.acks, now)
			}
			k.mu.Unlock()
			<-k.window
			if k.done.Add(1) == int64(k.n) {
				close(k.all)
			}
		}); err != nil {
			k.t.Errorf("SendAsync %d: %v", i, err)
			return
		}
	}
}

// waitAcks waits until at least n messages are acknowledged.
func (k *killRun) waitAcks(ctx context.Context, n int) {
	for {
		k.mu.Lock()
		got := len(k.acks)
		k.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ctx.Done():
			k.t.Fatalf("only %d of %d acknowledgements: %+v %+v", got, n, k.p.Metrics(), k.rt.Health())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// restart SIGKILLs the broker, waits down, starts it again on the same
// address and data directory and returns how long after it was back the
// first acknowledgement came.
func (k *killRun) restart(ctx context.Context, down time.Duration) time.Duration {
	k.proc.Kill()
	time.Sleep(down)
	k.mu.Lock()
	before := len(k.acks)
	k.mu.Unlock()
	k.proc = startBrokerProc(k.t, "--listen", k.proc.Addr, "--data-dir", k.dataDir, "--log-level", "warn")
	up := k.proc.Up
	for {
		k.mu.Lock()
		if len(k.acks) > before {
			first := k.acks[before]
			k.mu.Unlock()
			return first.Sub(up)
		}
		k.mu.Unlock()
		select {
		case <-ctx.Done():
			k.t.Fatalf("no acknowledgement after the restart: %+v %+v", k.p.Metrics(), k.rt.Health())
		case <-k.all:
			k.mu.Lock()
			var first error
			for _, o := range k.results {
				if o.err != nil {
					first = o.err
					break
				}
			}
			k.mu.Unlock()
			k.t.Fatalf("every message had its result before the broker came back; first error: %v", first)
		case <-time.After(time.Millisecond):
		}
	}
}

// verify waits for every result, stops the broker and reads its data
// directory: every message succeeded once, is stored once at the offset
// its result named, and each partition holds its messages in the order
// they were sent (which keeps the order per key).
func (k *killRun) verify(ctx context.Context) {
	t := k.t
	select {
	case <-k.all:
	case <-ctx.Done():
		t.Fatalf("%d of %d results: %+v", k.done.Load(), k.n, k.p.Metrics())
	}
	k.proc.Kill()
	b, err := broker.Start(context.Background(), broker.Config{DataDir: k.dataDir})
	if err != nil {
		t.Fatalf("open the data directory: %v", err)
	}
	defer b.Close()
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, o := range k.results {
		if o.n != 1 || o.err != nil {
			t.Fatalf("message %d: %d results, error %v", i, o.n, o.err)
		}
	}
	stored := 0
	for part := range uint32(k.parts) {
		last := -1
		for off, r := range b.Records(k.topic, part) {
			i := int(binary.BigEndian.Uint64(r.Value[:8]))
			if i <= last {
				t.Fatalf("partition %d offset %d: message %d after message %d (duplicated or reordered)", part, off, i, last)
			}
			last = i
			if o := k.results[i]; o.res.Partition != int32(part) || o.res.Offset != int64(off) {
				t.Fatalf("message %d: result says %d/%d, stored at %d/%d", i, o.res.Partition, o.res.Offset, part, off)
			}
			stored++
		}
	}
	if stored != k.n {
		t.Fatalf("%d messages stored, %d sent", stored, k.n)
	}
}

// TestBrokerKilledMidStream SIGKILLs the broker binary while a producer
// streams to it and starts it again on the same port and data directory
// after 2.5 s, long enough for the runtime to notice the loss and fail
// dials in the meantime: the first acknowledgement must come within 3 s of
// the broker being back, and nothing may be lost or duplicated.
func TestBrokerKilledMidStream(t *testing.T) {
	t.Parallel()
	const n = 10_000
	k := newKillRun(t, "killed", 2, n, nil)
	ctx := ctxTimeout(t, 90*time.Second)
	k.send(ctx)
	k.waitAcks(ctx, n/3)
	rec := k.restart(ctx, 2500*time.Millisecond)
	t.Logf("first acknowledgement %v after the broker was back", rec.Round(time.Millisecond))
	if rec > 3*time.Second {
		t.Errorf("first acknowledgement %v after the broker was back, want within 3s", rec)
	}
	k.verify(ctx)
}

// TestChaosBrokerKilled is the chaos test of the broker binary: 50,000
// idempotent acks=all keyed messages stream while the durable broker is
// SIGKILLed three times and started again on the same port and data
// directory, down for a short, a middling and a long while (the last two
// long enough that the runtime notices the loss and its dials are refused
// in the meantime). Nothing may be lost or duplicated, each partition (and
// so each key) keeps the order of sending, and the first acknowledgement
// after each restart must come within 3 s of the broker being back; the
// recovery times are logged.
func TestChaosBrokerKilled(t *testing.T) {
	t.Parallel()
	n := 50_000
	k := newKillRun(t, "chaos-kill", 4, n, nil)
	ctx := ctxTimeout(t, 120*time.Second)
	k.send(ctx)
	downs := []time.Duration{200 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second}
	for i, down := range downs {
		k.waitAcks(ctx, n*(i+1)/4)
		rec := k.restart(ctx, down)
		t.Logf("restart %d (down %v): first acknowledgement %v after the broker was back", i+1, down, rec.Round(time.Millisecond))
		if rec > 3*time.Second {
			t.Errorf("restart %d: first acknowledgement %v after the broker was back, want within 3s", i+1, rec)
		}
	}
	k.verify(ctx)
	m := k.p.Metrics()
	t.Logf("%d messages, %d requests, %d retries, %d producer id resets; health %+v", n, m.BatchesSent, m.Retries, m.ProducerIDResets, k.rt.Health())
}

// TestUnresponsiveConnectionIsReplaced makes the broker hold every answer
// back while its QUIC connection stays healthy (keep-alives are answered,
// so the idle timeout never fires). After MaxConsecutiveTimeouts requests
// in a row time out, the runtime must close the connection and dial again,
// logging why; once the broker answers again the message is delivered
// once.
func TestUnresponsiveConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"hung": 1}})
	var logs lockedBuffer
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) {
		c.RequestTimeout = 300 * time.Millisecond
		c.ConnectTimeout = time.Second
		c.HealthInterval = -1
		c.MaxConsecutiveTimeouts = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	p := newProducer(t, rt, "hung", rmq.ProducerConfig{DeliveryTimeout: 30 * time.Second})
	ctx := ctxTimeout(t, 40*time.Second)
	if _, err := p.Send(ctx, &rmq.Message{Payload: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	b.SetResponseDelay(time.Hour)
	res := make(chan error, 1)
	if err := p.SendAsync(ctx, &rmq.Message{Payload: []byte("while hung")}, func(_ *rmq.Result, err error) { res <- err }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), "closing an unresponsive connection") {
		if time.Now().After(deadline) {
			t.Fatalf("the connection was never replaced: %+v\n%s", rt.Health(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The log line comes as the connection is closed; the restart that
	// replaces it is counted when it happens, a little later.
	for h := rt.Health(); h[0].Restarts == 0; h = rt.Health() {
		if time.Now().After(deadline) {
			t.Fatalf("health shows no restart: %+v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.SetResponseDelay(0)
	if err := <-res; err != nil {
		t.Fatalf("message sent while the broker was hung: %v", err)
	}
	if n := len(b.Records("hung", 0)); n != 2 {
		t.Fatalf("%d records stored, want 2", n)
	}
}
