package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSmoke builds the example, runs it as a user would and checks that it
// exits by itself and prints create and send spans, the span tree of one
// message and the batch's links, and the messaging metrics.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	bin := filepath.Join(t.TempDir(), "tracing")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runIt := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("tracing %q: %v\nstderr:\n%s", args, err, stderr.String())
		}
		return stdout.String()
	}

	// By default: the span tree summary only, short, no JSON.
	out := runIt()
	for _, want := range []string{
		"== one message", "== one batch of 5 messages ==", "create orders (producer)", "checkout (internal)",
		"rustmq.batch.close_reason", "rustmq.connection.response",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(out, `"Name":`) || strings.Count(out, "\n") > 200 {
		t.Errorf("default output should be the summary alone, got %d lines", strings.Count(out, "\n"))
	}
	checkLinks(t, out, "orders", 5)
	if t.Failed() {
		t.Logf("stdout:\n%s", out)
	}

	// -raw adds the exporters' JSON; the flags are honoured.
	raw := runIt("-raw", "-messages", "3", "-topic", "payments")
	for _, want := range []string{
		`"Name": "create payments"`, `"Name": "send payments"`, `"Name": "checkout"`, "== one batch of 3 messages ==",
		"messaging.client.operation.duration", "messaging.client.sent.messages",
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("-raw output lacks %q", want)
		}
	}
	checkLinks(t, raw, "payments", 3)
	if t.Failed() {
		t.Logf("-raw stdout tail:\n%s", tail(raw, 3000))
	}
}

// checkLinks checks that the batch summary has one send span linked to
// each of the batch's n create spans.
func checkLinks(t *testing.T, out, topic string, n int) {
	t.Helper()
	i := strings.Index(out, "== one batch")
	if i < 0 {
		t.Errorf("no batch summary")
		return
	}
	batch := out[i:]
	send := "send " + topic + " (client)"
	if c := strings.Count(batch, send); c != 1 {
		t.Errorf("%d send spans in the batch summary:\n%s", c, batch)
		return
	}
	sendPart := batch[strings.Index(batch, send):]
	if c := strings.Count(sendPart, "→ link"); c != n {
		t.Errorf("batch send span has %d links, want %d:\n%s", c, n, sendPart)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
