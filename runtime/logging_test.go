package runtime_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// lockedBuffer is an io.Writer safe for the concurrent writes of a slog
// handler shared by goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// produceAndClose runs a runtime logging at level: it produces to four
// partitions, flushes, closes, and returns the log.
func produceAndClose(t *testing.T, addr, ca string, level slog.Level) string {
	t.Helper()
	var out lockedBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))
	rt, err := rmq.New(rmq.Config{Brokers: []string{addr}, TLS: rmq.TLSConfig{CAFile: ca}, Logger: logger, HealthInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p, err := rt.CreateProducer("t", rmq.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	c := newCounter(n)
	for i := range n {
		if err := p.SendAsync(context.Background(), msg(i), c.cb(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 10*time.Second)
	if err := rt.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestActorSystemQuietAtInfo: with a logger at INFO, a normal run (produce,
// flush, close) logs nothing of protoactor's: its own lines go one level
// down, and the runtime sends no mail to actors that have stopped, which
// protoactor reported as "[DeadLetter]" at INFO (a connection supervisor's
// ConnGone to the stopped metadata actor, batcher timers firing after
// Close). At DEBUG, protoactor's lines appear but no dead letters.
func TestActorSystemQuietAtInfo(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"t": 4}})
	log := produceAndClose(t, b.Addr(), ca, slog.LevelInfo)
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "lib=protoactor") || strings.Contains(line, "DeadLetter") {
			t.Errorf("protoactor line at INFO: %s", line)
		}
	}
	if !strings.Contains(log, "rustmq: connected") {
		t.Errorf("the runtime's own INFO lines are missing:\n%s", log)
	}
	for range 3 {
		log = produceAndClose(t, b.Addr(), ca, slog.LevelDebug)
		if !strings.Contains(log, "lib=protoactor") {
			t.Fatalf("protoactor's lines are missing at DEBUG:\n%s", log)
		}
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "DeadLetter") {
				t.Errorf("dead letter: %s", line)
			}
		}
	}
}
