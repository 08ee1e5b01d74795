package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestUpstreamFlag runs the CLI with -upstream against the development
// broker without ALPN (as upstream's server has none): the settings
// upstream mode cannot honour are refused up front, naming the runtime's
// field and the flag, and with -static-partitions lines are produced and
// read back.
func TestUpstreamFlag(t *testing.T) {
	b := startBrokerBin(t, "--no-alpn", "--topic", "orders:2")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no static partitions", []string{"produce", "-upstream", "orders"},
			[]string{"-static-partitions", "StaticPartitions[orders]"}},
		{"ALPN rustmq", []string{"produce", "-upstream", "-alpn", "rustmq", "-static-partitions", "orders=2", "orders"},
			[]string{"-alpn", "TLS.ALPN"}},
		{"idempotence on", []string{"produce", "-upstream", "-idempotence", "on", "-static-partitions", "orders=2", "orders"},
			[]string{"-idempotence", "Idempotence"}},
		{"SASL", []string{"produce", "-upstream", "-sasl", "plain", "-user", "u", "-password", "p", "-static-partitions", "orders=2", "orders"},
			[]string{"-sasl or -jwt-token-file", "Auth"}},
	} {
		r := rustmq(t, "a:1\n", append(tc.args[:1:1], conn(b, tc.args[1:]...)...)...)
		if r.code != 2 {
			t.Errorf("%s: exit %d, want 2 (usage)\nstderr:\n%s", tc.name, r.code, r.stderr)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr does not name %q:\n%s", tc.name, w, r.stderr)
			}
		}
	}

	in := "alice:one\nbob:two\ncarol:three\n"
	r := rustmq(t, in, append([]string{"produce"}, conn(b, "-upstream", "-static-partitions", "orders=2", "-key-separator", ":", "orders")...)...).ok(t, "produce -upstream")
	if !strings.Contains(r.stderr, "produced 3 messages to orders: 3 acknowledged") {
		t.Fatalf("produce -upstream:\n%s", r.stderr)
	}
	r = rustmq(t, "", append([]string{"consume"}, conn(b, "-upstream", "-static-partitions", "orders=2", "-messages", "3", "-format", `%k=%s\n`, "orders")...)...).ok(t, "consume -upstream")
	got := strings.Fields(r.stdout)
	if len(got) != 3 || !strings.Contains(r.stdout, "alice=one") || !strings.Contains(r.stdout, "bob=two") || !strings.Contains(r.stdout, "carol=three") {
		t.Fatalf("consume -upstream read:\n%s", r.stdout)
	}
}

// TestTopicsHintsUpstream lists a broker that has no topics, as upstream
// RustMQ's Metadata always answers: the listing says what to use instead.
func TestTopicsHintsUpstream(t *testing.T) {
	b := startBrokerBin(t)
	r := rustmq(t, "", append([]string{"topics"}, conn(b)...)...).ok(t, "topics")
	if !strings.Contains(r.stdout, "no topics listed") || !strings.Contains(r.stdout, "-upstream and -static-partitions") {
		t.Fatalf("topics of a broker without topics:\n%s", r.stdout)
	}
}

// upstreamLike starts an in-process development broker that looks like
// upstream RustMQ where a client can tell: no ALPN, the capabilities probe
// left unanswered, Metadata listing no topics. It counts the probes and
// the Produce requests read while another of the same connection was
// still being handled, and returns the broker's address and CA file.
func upstreamLike(t *testing.T, topics map[string]int) (addr, ca string, probes, overlapped *atomic.Int64) {
	t.Helper()
	probes, overlapped = &atomic.Int64{}, &atomic.Int64{}
	b, err := broker.Start(context.Background(), broker.Config{Topics: topics, NoALPN: true, OnRequest: func(s broker.RequestSeen) {
		switch {
		case s.Type == wire.TypeCapabilities:
			probes.Add(1)
		case s.Type == wire.TypeProduce && s.Concurrent > 1:
			overlapped.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	b.FailNext(broker.Fault{RequestType: wire.TypeCapabilities, NoAnswer: true, Count: -1})
	empty := broker.AnswerFrame(wire.TypeMetadata, &wire.MetadataResponse{Brokers: []wire.BrokerInfo{{ID: "upstream", Host: "127.0.0.1", PortQUIC: 1}}})
	b.FailNext(broker.Fault{RequestType: wire.TypeMetadata, Count: -1, Answer: empty})
	ca = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, b.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return b.Addr(), ca, probes, overlapped
}

// TestUpstreamLikeBroker: against a broker that behaves like upstream,
// produce without -upstream fails naming the mode and the CLI's flags for
// it; with -upstream and -static-partitions every line is delivered, no
// probe is sent and no two Produce requests of the connection overlap, and
// consume -upstream reads them all back.
func TestUpstreamLikeBroker(t *testing.T) {
	addr, ca, probes, overlapped := upstreamLike(t, map[string]int{"orders": 2})
	base := []string{"-brokers", addr, "-ca", ca}

	r := rustmq(t, "", append([]string{"topics"}, base...)...).ok(t, "topics")
	if !strings.Contains(r.stdout, "no topics listed") || !strings.Contains(r.stdout, "-upstream") {
		t.Fatalf("topics of an upstream-like broker:\n%s", r.stdout)
	}

	r = rustmq(t, "one\ntwo\n", append(append([]string{"produce"}, base...), "orders")...)
	if r.code != 1 || !strings.Contains(r.stderr, "Config.Upstream") ||
		strings.Count(r.stderr, "run with -upstream and -static-partitions") != 1 {
		t.Fatalf("produce without -upstream: exit %d, want 1 with one hint naming -upstream\nstderr:\n%s", r.code, r.stderr)
	}

	probes.Store(0)
	var in strings.Builder
	for i := range 300 {
		fmt.Fprintf(&in, "k%d:%s\n", i%17, strings.Repeat("v", 10+i%700))
	}
	r = rustmq(t, in.String(), append(append([]string{"produce"}, base...), "-upstream", "-static-partitions", "orders=2", "-key-separator", ":", "orders")...).ok(t, "produce -upstream")
	if !strings.Contains(r.stderr, "produced 300 messages to orders: 300 acknowledged, 0 failed") {
		t.Fatalf("produce -upstream:\n%s", r.stderr)
	}
	if n := probes.Load(); n != 0 {
		t.Errorf("%d capabilities probes sent with -upstream, want none", n)
	}
	if n := overlapped.Load(); n != 0 {
		t.Errorf("%d Produce requests overlapped another on their connection with -upstream, want none", n)
	}
	r = rustmq(t, "", append(append([]string{"consume"}, base...), "-upstream", "-static-partitions", "orders=2", "-messages", "300", "-format", `%k\n`, "orders")...).ok(t, "consume -upstream")
	if n := strings.Count(r.stdout, "\n"); n != 300 {
		t.Fatalf("consume -upstream printed %d records, want 300", n)
	}
	if n := probes.Load(); n != 0 {
		t.Errorf("%d capabilities probes sent by consume -upstream, want none", n)
	}
}
