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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		`"Name": "create orders"`, `"Name": "send orders"`, `"Name": "checkout"`,
		"== one message", "== one batch ==", "rustmq.router.routed", "rustmq.batcher.batch_closed",
		"rustmq.connection.response", "messaging.client.operation.duration", "messaging.client.sent.messages",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The batch's send span links to each of its five create spans.
	batch := out[strings.Index(out, "== one batch =="):]
	if n := strings.Count(batch, "send orders (client)"); n != 1 {
		t.Errorf("%d send spans in the batch summary:\n%s", n, batch)
	}
	sendPart := batch[strings.Index(batch, "send orders (client)"):]
	if n := strings.Count(sendPart, "→ link"); n != 5 {
		t.Errorf("batch send span has %d links, want 5:\n%s", n, sendPart)
	}
	if t.Failed() {
		t.Logf("stdout tail:\n%s", tail(out, 3000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
