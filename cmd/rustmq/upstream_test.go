package main

import (
	"strings"
	"testing"
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
