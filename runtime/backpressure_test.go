package runtime_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// TestBackpressure: against a broker that holds its responses, the bytes
// buffered never exceed MaxBufferedBytes; Send blocks until its context
// ends, or fails at once with ErrBufferFull when configured to.
func TestBackpressure(t *testing.T) {
	t.Parallel()
	for _, failFast := range []bool{false, true} {
		name := "block"
		if failFast {
			name = "fail-fast"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 2}})
			rt := newRuntime(t, []string{b.Addr()}, ca, nil)
			const limit = 64 << 10
			p := newProducer(t, rt, "t", rmq.ProducerConfig{MaxBufferedBytes: limit, MaxMessageBytes: 4 << 10, FailWhenFull: failFast})
			if _, err := p.Send(ctxTimeout(t, 10*time.Second), &rmq.Message{Payload: []byte("warm up")}); err != nil {
				t.Fatal(err)
			}
			b.SetResponseDelay(time.Hour)
			payload := make([]byte, 1000)
			var wg sync.WaitGroup
			var mu sync.Mutex
			maxSeen := int64(0)
			stop := make(chan struct{})
			go func() { // watch the buffer while producers push
				for {
					select {
					case <-stop:
						return
					default:
					}
					m := p.Metrics()
					mu.Lock()
					maxSeen = max(maxSeen, m.BufferedBytes)
					mu.Unlock()
					time.Sleep(time.Millisecond)
				}
			}()
			results := make(chan error, 1000)
			workers := 4
			if !failFast {
				workers = 1
			}
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 100; i++ {
						if !failFast && p.Metrics().BufferedBytes+int64(len(payload)) > limit {
							return // full: the next send would block
						}
						err := p.SendAsync(context.Background(), &rmq.Message{Payload: payload}, func(_ *rmq.Result, err error) { results <- err })
						if err != nil {
							if !failFast || !errors.Is(err, rmq.ErrBufferFull) {
								results <- err
							}
							return
						}
					}
					results <- errors.New("100 messages of 1000 bytes fit in a 64 KiB buffer")
				}()
			}
			wg.Wait()
			m := p.Metrics()
			if m.BufferedBytes > limit || m.BufferedBytes < limit/2 {
				t.Fatalf("buffered %d bytes, limit %d", m.BufferedBytes, limit)
			}
			// Fail-fast gets a long deadline, so "at once" is told apart from
			// "blocked until the deadline" without a tight timing bound.
			wait := 200 * time.Millisecond
			if failFast {
				wait = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			start := time.Now()
			_, err := p.Send(ctx, &rmq.Message{Payload: make([]byte, 4000)})
			cancel()
			if failFast {
				if !errors.Is(err, rmq.ErrBufferFull) || time.Since(start) > 5*time.Second {
					t.Fatalf("Send on a full buffer: %v after %v, want ErrBufferFull at once", err, time.Since(start))
				}
			} else if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 200*time.Millisecond {
				t.Fatalf("Send on a full buffer: %v after %v, want a block until the deadline", err, time.Since(start))
			}
			close(stop)
			mu.Lock()
			seen := maxSeen
			mu.Unlock()
			if seen > limit {
				t.Fatalf("buffer reached %d bytes, limit %d", seen, limit)
			}
			// Unblock the broker: everything buffered completes and frees space.
			b.SetResponseDelay(0)
			b.DropConnections()
			if err := p.Flush(ctxTimeout(t, 20*time.Second)); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			close(results)
			for err := range results {
				if err != nil {
					t.Fatalf("result: %v", err)
				}
			}
			if m := p.Metrics(); m.BufferedBytes != 0 || m.BufferedRecords != 0 {
				t.Fatalf("after flush: %+v", m)
			}
		})
	}
}
