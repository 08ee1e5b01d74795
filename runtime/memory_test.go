package runtime_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// TestSlowCallbackBoundsMemory: with a callback far slower than the
// broker, the messages waiting for their callback keep their buffer space,
// so senders wait and neither the buffered count nor the heap grows past
// the limits. The producer used to release the space when the result was
// known, before the callback, and the callback queue (with every
// message's envelope and value) grew without bound. Not parallel: it
// reads the process's heap.
func TestSlowCallbackBoundsMemory(t *testing.T) {
	const (
		maxBytes = 2 << 20
		value    = 4 << 10
		n        = 10_000 // 40 MiB of values, 20 times the buffer
	)
	// Every allocation is profiled, so that what the producer keeps can be
	// told from what the broker (in this process) keeps.
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{Acks: rmq.AcksLeader, MaxBufferedBytes: maxBytes, MaxMessageBytes: 64 << 10})
	ctx := ctxTimeout(t, 60*time.Second)

	// Every 50ms: the buffer's counts, and the live heap of the producer
	// and of the values sent.
	var maxRecs, maxHeld, maxLive atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			m := p.Metrics()
			maxRecs.Store(max(maxRecs.Load(), m.BufferedRecords))
			maxHeld.Store(max(maxHeld.Load(), m.BufferedBytes))
			maxLive.Store(max(maxLive.Load(), liveProducer()))
		}
	})
	var done sync.WaitGroup
	done.Add(n)
	var failed atomic.Int64
	cb := func(_ *rmq.Result, err error) {
		if err != nil {
			failed.Add(1)
		}
		//time.Sleep(200 * time.Microsecond) // far slower than the broker answers
		done.Done()
	}
	var senders sync.WaitGroup
	for w := range 4 {
		senders.Go(func() {
			for i := w; i < n; i += 4 {
				// Every value is fresh memory, as a real sender's would be.
				if err := p.SendAsync(ctx, &rmq.Message{Payload: make([]byte, value)}, cb); err != nil {
					t.Errorf("SendAsync: %v", err)
					done.Done()
				}
			}
		})
	}
	senders.Wait()
	done.Wait()
	close(stop)
	watch.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d messages failed", failed.Load())
	}
	if maxHeld.Load() > maxBytes {
		t.Fatalf("%d bytes buffered, limit %d", maxHeld.Load(), maxBytes)
	}
	// What a held message costs is counted, so the buffer holds fewer
	// messages than its bytes over the value size.
	if limit := int64(maxBytes / value); maxRecs.Load() > limit {
		t.Fatalf("%d messages buffered, at most %d fit", maxRecs.Load(), limit)
	}
	// The producer and the values it holds stay within a few buffers: the
	// callers' values, referenced until their result, their encoded copies
	// in the request bodies (which grow by appending, so with slack), and
	// bodies the batch pool keeps for reuse. A callback queue without
	// bound would keep most of the 40 MiB sent.
	if maxLive.Load() > 8*maxBytes {
		t.Fatalf("live heap of the producer and its values reached %d KiB, buffer %d KiB", maxLive.Load()>>10, maxBytes>>10)
	}
	t.Logf("max %d messages / %d bytes buffered; live heap of the producer and its values at most %d KiB", maxRecs.Load(), maxHeld.Load(), maxLive.Load()>>10)
}

// liveProducer collects the garbage and returns the bytes in use that the
// producer allocated (its envelopes, batches and request bodies) or that
// the test's senders allocated for their values, attributing each profiled
// allocation to the first frame of its stack outside the Go runtime.
func liveProducer() int64 {
	runtime.GC()
	var recs []runtime.MemProfileRecord
	n, ok := runtime.MemProfile(nil, false)
	for !ok {
		recs = make([]runtime.MemProfileRecord, n+1024)
		n, ok = runtime.MemProfile(recs, false)
	}
	var live int64
	for _, r := range recs[:n] {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			fn := f.Function
			if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "sync.") {
				if !more {
					break
				}
				continue
			}
			if strings.HasPrefix(fn, "github.com/rustmq/rustmq-go/actors.") || strings.HasPrefix(fn, "github.com/rustmq/rustmq-go/runtime.") ||
				strings.Contains(fn, "TestSlowCallbackBoundsMemory.func") {
				live += r.InUseBytes()
			}
			break
		}
	}
	return live
}

// TestCallbackSendsWithFullBuffer: callbacks that send while the buffer is
// full do not deadlock. The message whose callback runs lends its space to
// one message sent from it, which is accepted; a further send from the same
// callback fails at once with ErrBufferFull instead of waiting for space
// that only the callbacks queued behind it could free.
func TestCallbackSendsWithFullBuffer(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 1}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	const limit = 8
	p := newProducer(t, rt, "t", rmq.ProducerConfig{MaxBufferedRecords: limit})
	ctx := ctxTimeout(t, 20*time.Second)
	// Hold the callbacks until the buffer is full of completed messages.
	release := make(chan struct{})
	var resent, refused, resentOK atomic.Int32
	var all sync.WaitGroup
	all.Add(2 * limit)
	for i := range limit {
		err := p.SendAsync(ctx, &rmq.Message{Payload: []byte{byte(i)}}, func(r *rmq.Result, err error) {
			<-release
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
			if i%2 == 0 {
				// A synchronous resend, the other half asynchronous.
				if _, err := p.Send(ctx, &rmq.Message{Payload: []byte{100 + byte(i)}}); err != nil {
					t.Errorf("Send from a callback: %v", err)
				}
				resentOK.Add(1)
				all.Done()
			} else if err := p.SendAsync(ctx, &rmq.Message{Payload: []byte{100 + byte(i)}}, func(_ *rmq.Result, err error) {
				if err == nil {
					resentOK.Add(1)
				}
				all.Done()
			}); err != nil {
				t.Errorf("SendAsync from a callback: %v", err)
				all.Done()
			}
			resent.Add(1)
			// Accepted only if space has freed since (a synchronous
			// resend gives its space back when it completes).
			if err := p.SendAsync(ctx, &rmq.Message{Payload: []byte("one too many")}, func(*rmq.Result, error) {}); errors.Is(err, rmq.ErrBufferFull) {
				refused.Add(1)
			} else if err != nil {
				t.Errorf("second send from a callback: %v", err)
			}
			all.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The buffer is full: a plain sender would wait.
	if err := p.SendAsync(ctxTimeout(t, 50*time.Millisecond), &rmq.Message{Payload: []byte("x")}, nil); err == nil {
		t.Fatal("accepted a message beyond MaxBufferedRecords")
	}
	close(release)
	waited := make(chan struct{})
	go func() { all.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(15 * time.Second):
		t.Fatalf("deadlock: %d resent, %d refused", resent.Load(), refused.Load())
	}
	if resentOK.Load() != limit || refused.Load() == 0 {
		t.Fatalf("%d resends succeeded (want %d), %d refused", resentOK.Load(), limit, refused.Load())
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if m := p.Metrics(); m.BufferedRecords != 0 || m.BufferedBytes != 0 {
		t.Fatalf("buffer not empty after Close: %+v", m)
	}
}

// TestSendBatchContextEndsWhileDelivering runs SendBatch with a context
// that ends about when the broker answers, over and over: results the
// actors complete and results the context cuts short meet on the same
// messages. Under -race this used to report SendBatch reading a result
// while the batcher wrote it.
func TestSendBatchContextEndsWhileDelivering(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
	rt := newRuntime(t, []string{b.Addr()}, ca, nil)
	p := newProducer(t, rt, "t", rmq.ProducerConfig{Linger: -1})
	b.SetResponseDelay(3 * time.Millisecond)
	msgs := make([]*rmq.Message, 40)
	for i := range msgs {
		msgs[i] = &rmq.Message{Payload: []byte("batch message")}
	}
	cut, whole := 0, 0
	for i := range 60 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%5)*time.Millisecond)
		results, err := p.SendBatch(ctx, msgs)
		cancel()
		if len(results) != len(msgs) {
			t.Fatalf("%d results for %d messages (%v)", len(results), len(msgs), err)
		}
		for j, r := range results {
			switch {
			case r == nil || r.Message != msgs[j]:
				t.Fatalf("result %d: %+v", j, r)
			case r.Err == nil:
				whole++
			case errors.Is(r.Err, context.DeadlineExceeded):
				cut++
			default:
				t.Fatalf("result %d: %v", j, r.Err)
			}
		}
	}
	if cut == 0 {
		t.Fatal("no result was cut short by its context: the race window was never reached")
	}
	t.Logf("%d results cut short, %d complete", cut, whole)
	b.SetResponseDelay(0)
}
