package runtime_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// freeUDPAddr returns a loopback UDP address where nothing listens.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

// TestSetupMistakes makes the five mistakes a new user makes most (no
// broker running, the wrong port, an unknown host, a port out of range, a
// topic the broker does not have) with the default configuration and
// records what Send says and how long it takes to say it. Each error must
// name the cause (errors.Is/As) well before the 2-minute delivery timeout.
// Run with -v to see the table.
func TestSetupMistakes(t *testing.T) {
	t.Parallel()
	b, ca := startBroker(t, broker.Config{Topics: map[string]int{"orders": 1}})
	_, port, _ := net.SplitHostPort(b.Addr())
	wrongPort := freeUDPAddr(t)
	cases := []struct {
		mistake string
		broker  string
		topic   string
		check   func(err error) bool
	}{
		{"broker not running", freeUDPAddr(t), "orders", func(err error) bool {
			return errors.Is(err, rmq.ErrUnreachable) && errors.Is(err, syscall.ECONNREFUSED)
		}},
		{"wrong port (broker on " + port + ")", wrongPort, "orders", func(err error) bool {
			return errors.Is(err, rmq.ErrUnreachable) && errors.Is(err, syscall.ECONNREFUSED)
		}},
		{"unknown host", "no-such-broker.invalid:9092", "orders", func(err error) bool {
			var dns *net.DNSError
			return errors.Is(err, rmq.ErrUnreachable) && errors.As(err, &dns)
		}},
		{"port 99999", "127.0.0.1:99999", "orders", func(err error) bool {
			var ce *rmq.ConfigError
			return errors.As(err, &ce) && ce.Field == "Brokers[0]"
		}},
		{"unknown topic", b.Addr(), "ordres", func(err error) bool {
			return errors.Is(err, rmq.ErrUnknownTopic) && strings.Contains(err.Error(), `"ordres"`)
		}},
	}
	type row struct {
		mistake string
		took    time.Duration
		err     error
	}
	rows := make([]row, len(cases))
	for i, c := range cases {
		start := time.Now()
		err := func() error {
			rt, err := rmq.New(rmq.Config{Brokers: []string{c.broker}, TLS: rmq.TLSConfig{CAFile: ca}})
			if err != nil {
				return err
			}
			defer rt.Close(context.Background())
			p, err := rt.CreateProducer(c.topic, rmq.ProducerConfig{})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = p.Send(ctx, &rmq.Message{Key: []byte("customer-7"), Payload: []byte("hello")})
			return err
		}()
		rows[i] = row{c.mistake, time.Since(start), err}
		if err == nil || !c.check(err) {
			t.Errorf("%s: Send returned %v, which does not name the cause", c.mistake, err)
		}
		// A resolver without network may take its own timeouts to say
		// "no such host"; the others are local and quick.
		if limit := 5 * time.Second; rows[i].took > limit && !strings.HasPrefix(c.mistake, "unknown host") {
			t.Errorf("%s: the error took %v", c.mistake, rows[i].took)
		}
	}
	for _, r := range rows {
		t.Logf("| %s | %v | %v |", r.mistake, r.took.Round(time.Millisecond), r.err)
	}
}
