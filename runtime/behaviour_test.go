package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// counter records the results handed to callbacks, per message.
type counter struct {
	mu    sync.Mutex
	calls map[int]int
	errs  map[int]error
	total atomic.Int64
	done  chan struct{}
	want  int64
}

func newCounter(want int) *counter {
	return &counter{calls: map[int]int{}, errs: map[int]error{}, done: make(chan struct{}), want: int64(want)}
}

func (c *counter) cb(i int) func(*rmq.Result, error) {
	return func(_ *rmq.Result, err error) {
		c.mu.Lock()
		c.calls[i]++
		c.errs[i] = err
		c.mu.Unlock()
		if c.total.Add(1) == c.want {
			close(c.done)
		}
	}
}

func (c *counter) wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
		t.Fatalf("%d of %d results after %v", c.total.Load(), c.want, d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < int(c.want); i++ {
		if c.calls[i] != 1 {
			t.Fatalf("message %d: %d results", i, c.calls[i])
		}
	}
}

func msg(i int) *rmq.Message {
	return &rmq.Message{Key: []byte(fmt.Sprintf("k%d", i%7)), Payload: []byte(fmt.Sprintf("v%d", i))}
}

// TestCloseFailsPendingWithErrClosed: against a broker that holds every
// response, Close with a short context returns the context's error and
// every pending message gets exactly one result, ErrClosed.
func TestCloseFailsPendingWithErrClosed(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 3}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	// Let metadata and the connection settle first.
	if _, err := p.Send(ctxTimeout(t, 10*time.Second), msg(0)); err != nil {
		t.Fatal(err)
	}
	b.SetResponseDelay(time.Hour)
	const n = 200
	c := newCounter(n)
	for i := range n {
		if err := p.SendAsync(context.Background(), msg(i), c.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	c.wait(t, 5*time.Second)
	for i, err := range c.errs {
		if !errors.Is(err, rmq.ErrClosed) {
			t.Fatalf("message %d: %v, want ErrClosed", i, err)
		}
	}
	if err := p.SendAsync(context.Background(), msg(0), func(*rmq.Result, error) {}); !errors.Is(err, rmq.ErrClosed) {
		t.Fatalf("SendAsync after Close: %v", err)
	}
	if _, err := p.Send(context.Background(), msg(0)); !errors.Is(err, rmq.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if err := p.Flush(context.Background()); !errors.Is(err, rmq.ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	b.SetResponseDelay(0)
}

// TestCloseFlushes: Close with time to spare delivers everything.
func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{Linger: time.Minute, BatchSize: 10_000})
	const n = 500
	c := newCounter(n)
	for i := range n {
		if err := p.SendAsync(context.Background(), msg(i), c.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Linger is a minute: only Close's flush sends these in time.
	if err := p.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close returned: every callback ran.
	if c.total.Load() != n {
		t.Fatalf("%d callbacks after Close", c.total.Load())
	}
	c.wait(t, time.Second)
	for i, err := range c.errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if got := len(b.Records("t", 0)) + len(b.Records("t", 1)); got != n {
		t.Fatalf("%d records stored", got)
	}
}

// TestContextCancelBeforeWrite: a message whose context ends while it waits
// in the batcher is not written and gets the context's cause, once.
func TestContextCancelBeforeWrite(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{Linger: time.Minute, BatchSize: 10_000})
	cause := errors.New("caller gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	const n = 50
	c := newCounter(n)
	for i := range n {
		if err := p.SendAsync(ctx, msg(i), c.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	cancel(cause)
	c.wait(t, 5*time.Second)
	for i, err := range c.errs {
		if !errors.Is(err, cause) {
			t.Fatalf("message %d: %v, want the cancel cause", i, err)
		}
	}
	// Send with a cancelled context returns promptly with its cause.
	if _, err := p.Send(ctx, msg(0)); !errors.Is(err, cause) {
		t.Fatalf("Send with cancelled ctx: %v", err)
	}
	if err := p.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := len(b.Records("t", 0)); got != 0 {
		t.Fatalf("%d cancelled records were written", got)
	}
}

// TestDeliveryTimeout: with the broker refusing connections, messages fail
// with ErrDeliveryTimeout once their delivery timeout passes.
func TestDeliveryTimeout(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.RequestTimeout = 200 * time.Millisecond })
	p := newProducer(t, rt, "t", rmq.ProducerConfig{DeliveryTimeout: 700 * time.Millisecond})
	if _, err := p.Send(ctxTimeout(t, 10*time.Second), msg(0)); err != nil {
		t.Fatal(err)
	}
	b.SetResponseDelay(time.Hour)
	const n = 40
	c := newCounter(n)
	start := time.Now()
	for i := range n {
		if err := p.SendAsync(context.Background(), msg(i), c.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	c.wait(t, 10*time.Second)
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("failed after %v, before the delivery timeout", d)
	}
	for i, err := range c.errs {
		if !errors.Is(err, rmq.ErrDeliveryTimeout) {
			t.Fatalf("message %d: %v, want ErrDeliveryTimeout", i, err)
		}
	}
	b.SetResponseDelay(0)
	// The partition recovers: a fresh producer id keeps later batches from
	// being rejected as out of order.
	res, err := p.Send(ctxTimeout(t, 10*time.Second), msg(1))
	if err != nil {
		t.Fatalf("Send after the timeouts: %v", err)
	}
	if res.Offset < 1 {
		t.Fatalf("offset %d", res.Offset)
	}
}

// TestCallbacksMaySendAndClose: a callback calls Send (which blocks for its
// own result) and then Close, without deadlocking.
func TestCallbacksMaySendAndClose(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{MaxBufferedRecords: 4})
	done := make(chan error, 1)
	var nested *rmq.Result
	err := p.SendAsync(context.Background(), msg(0), func(_ *rmq.Result, err error) {
		if err != nil {
			done <- err
			return
		}
		r, err := p.Send(context.Background(), msg(1))
		if err != nil {
			done <- fmt.Errorf("nested Send: %w", err)
			return
		}
		nested = r
		if err := p.Flush(context.Background()); err != nil {
			done <- fmt.Errorf("nested Flush: %w", err)
			return
		}
		done <- p.Close(context.Background())
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("callback deadlocked")
	}
	if nested == nil || nested.Offset < 0 {
		t.Fatalf("nested result %+v", nested)
	}
	// Close from outside after Close from inside returns at once.
	if err := p.Close(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestAcksNone: results carry no offset, records are written.
func TestAcksNone(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{Acks: rmq.AcksNone})
	for i := range 10 {
		res, err := p.Send(ctxTimeout(t, 10*time.Second), msg(i))
		if err != nil {
			t.Fatal(err)
		}
		if res.Offset != -1 || res.Partition != 0 {
			t.Fatalf("result %+v, want offset -1", res)
		}
	}
	recs := b.Records("t", 0)
	if len(recs) != 10 {
		t.Fatalf("%d records", len(recs))
	}
	if _, ok := header(recs[0].Headers, wire.HeaderProducerID); ok {
		t.Fatal("acks None sent idempotence headers")
	}
}

// TestSendBatch: results in order, FirstErr, per-message errors.
func TestSendBatch(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 3}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	msgs := make([]*rmq.Message, 100)
	for i := range msgs {
		msgs[i] = msg(i)
	}
	msgs[50] = &rmq.Message{Payload: []byte("x"), Partition: 9, ExplicitPartition: true}
	res, err := p.SendBatch(ctxTimeout(t, 10*time.Second), msgs)
	var be *rmq.BatchError
	if !errors.As(err, &be) || be.Failed != 1 || !errors.Is(err, rmq.ErrInvalidPartition) {
		t.Fatalf("SendBatch error %v, want one ErrInvalidPartition", err)
	}
	if !errors.Is(rmq.FirstErr(res), rmq.ErrInvalidPartition) {
		t.Fatalf("FirstErr: %v", rmq.FirstErr(res))
	}
	for i, r := range res {
		if r.Message != msgs[i] {
			t.Fatalf("result %d belongs to another message", i)
		}
		if i != 50 && (r.Err != nil || r.Offset < 0) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	// A validation error fails the whole batch before anything is queued.
	if _, err := p.SendBatch(context.Background(), []*rmq.Message{msg(1), nil}); !errors.Is(err, rmq.ErrNilMessage) {
		t.Fatalf("SendBatch with nil: %v", err)
	}
}

// TestStream: messages in through a channel, deliveries out, with
// backpressure: while nobody reads the output, at most window messages
// are taken from the input.
func TestStream(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{})
	in := make(chan *rmq.Message)
	const window, n = 8, 300
	out := p.Stream(context.Background(), in, window)
	// Nobody reads out: the intake must stall after window messages.
	sent := 0
	stalled := false
	for sent < n {
		select {
		case in <- msg(sent):
			sent++
			continue
		case <-time.After(300 * time.Millisecond):
			stalled = true
		}
		break
	}
	if !stalled || sent > window+1 {
		t.Fatalf("intake took %d messages without anyone reading deliveries (window %d)", sent, window)
	}
	go func() {
		for i := sent; i < n; i++ {
			in <- msg(i)
		}
		close(in)
	}()
	got := 0
	for d := range out {
		if d.Err != nil {
			t.Fatalf("delivery: %v", d.Err)
		}
		got++
	}
	if got != n {
		t.Fatalf("%d deliveries, want %d", got, n)
	}
}

// TestHealth reports a connected broker with an RTT.
func TestHealth(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, func(c *rmq.Config) { c.HealthInterval = 20 * time.Millisecond })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h := rt.Health()
		if len(h) == 1 && h[0].State == "connected" && h[0].RTT > 0 {
			if h[0].Addr != b.Addr() || h[0].ALPN != "rustmq" {
				t.Fatalf("health %+v", h[0])
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no healthy connection: %+v", rt.Health())
}

// countingCtx counts the calls of Done, which is how the actors look at a
// message's context.
type countingCtx struct {
	context.Context
	n *atomic.Int64
}

func (c countingCtx) Done() <-chan struct{} {
	c.n.Add(1)
	return c.Context.Done()
}

// contextChecksPerMessage runs the scenario behind BenchmarkContextChecks:
// while a partition's queue drains batch by batch (20 batches answered one
// at a time 60 ms apart, so the queue lives for several sweep periods), it
// counts how often the actors look at the messages' contexts. Every message
// must still get exactly one successful result.
func contextChecksPerMessage(tb testing.TB) float64 {
	b, ca := startBroker(tb, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(tb, []string{b.Addr()}, ca, nil)
	p := newProducer(tb, rt, "t", rmq.ProducerConfig{MaxInFlight: 1, BatchSize: 1000, Linger: -1})
	if _, err := p.Send(ctxTimeout(tb, 10*time.Second), msg(0)); err != nil {
		tb.Fatal(err)
	}
	b.SetResponseDelay(60 * time.Millisecond)
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	ctx := countingCtx{Context: base, n: &calls}
	const n = 20_000
	c := newCounter(n)
	for i := range n {
		if err := p.SendAsync(ctx, msg(i), c.cb(i)); err != nil {
			tb.Fatal(err)
		}
	}
	c.wait(tb, 30*time.Second)
	b.SetResponseDelay(0)
	for i, err := range c.errs {
		if err != nil {
			tb.Fatalf("message %d: %v", i, err)
		}
	}
	return float64(calls.Load()) / n
}

// TestContextsOfQueuedMessages: messages whose context stays live while they
// queue behind slow requests are all delivered once. How often their
// contexts are looked at is a cost, not a behaviour: BenchmarkContextChecks
// reports it (about 2 per message; the batcher's sweep used to look at every
// queued message on every tick, about 5 per message here and growing with
// the queue). A timed bound here flaked under load, when a stalled machine
// legitimately triggers the sweep's fallback scan.
func TestContextsOfQueuedMessages(t *testing.T) {
	t.Parallel()
	t.Logf("contexts looked at %.2f times per message", contextChecksPerMessage(t))
}

// BenchmarkContextChecks reports how often the actors look at a queued
// message's context, per message (metric ctxchecks/msg).
func BenchmarkContextChecks(b *testing.B) {
	var per float64
	for b.Loop() {
		per = contextChecksPerMessage(b)
	}
	b.ReportMetric(per, "ctxchecks/msg")
}
