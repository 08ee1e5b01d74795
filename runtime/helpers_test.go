package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		brokerBin.Remove()
		os.Exit(code)
	}))
}

// startBroker starts a development broker and returns it with the path of
// its CA certificate file; both go away with the test.
func startBroker(t testing.TB, cfg broker.Config) (*broker.Broker, string) {
	t.Helper()
	b, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, writeCA(t, b)
}

func writeCA(t testing.TB, b *broker.Broker) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, b.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// newRuntime starts a runtime against addrs trusting ca; edit adjusts the
// config. The runtime is closed with the test.
func newRuntime(t testing.TB, addrs []string, ca string, edit func(*rmq.Config)) *rmq.Runtime {
	t.Helper()
	cfg := rmq.Config{Brokers: addrs, TLS: rmq.TLSConfig{CAFile: ca}, ConnectTimeout: 3 * time.Second, RequestTimeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	rt, err := rmq.New(cfg)
	if err != nil {
		t.Fatalf("rmq.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx)
	})
	return rt
}

func newProducer(t testing.TB, rt *rmq.Runtime, topic string, cfg rmq.ProducerConfig) *rmq.Producer {
	t.Helper()
	p, err := rt.CreateProducer(topic, cfg)
	if err != nil {
		t.Fatalf("CreateProducer: %v", err)
	}
	return p
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// header returns the value of key in hs.
func header(hs []wire.Header, key string) (string, bool) {
	v, ok := wire.HeaderValue(hs, key)
	return string(v), ok
}
