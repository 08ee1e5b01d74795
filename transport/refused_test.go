package transport_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/transport"
)

// TestDialRefusedPortFailsFast dials a loopback UDP port where nothing
// listens: the dial must fail within a fraction of its timeout with a
// retriable *ConnError that wraps syscall.ECONNREFUSED, not run into the
// handshake timeout. A broker on the same address afterwards is dialled as
// usual (the watch's datagram does not disturb a listening server).
func TestDialRefusedPortFailsFast(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()

	d, err := transport.NewDialer(transport.Config{DialTimeout: 5 * time.Second, TLS: transport.TLSConfig{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = d.Dial(context.Background(), addr)
	took := time.Since(start)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v after %v, want connection refused", addr, err, took)
	}
	if _, ok := errors.AsType[*transport.ConnError](err); !ok || !transport.IsRetriable(err) {
		t.Fatalf("dial error %T %v: want a retriable *ConnError", err, err)
	}
	if took > 2*time.Second {
		t.Fatalf("refused dial took %v, want well under the 5s dial timeout", took)
	}
	t.Logf("refused after %v: %v", took.Round(time.Microsecond), err)

	b, caFile := startBroker(t, broker.Config{})
	d2, err := transport.NewDialer(transport.Config{TLS: transport.TLSConfig{CAFile: caFile}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d2.Dial(context.Background(), b.Addr())
	if err != nil {
		t.Fatalf("dial a listening broker: %v", err)
	}
	if err := metadata(c); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	_ = c.Close()
}
