package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a rustmq process the test talks to while it runs.
type proc struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

// startRustmq starts the rustmq binary with args, stdin a pipe the test
// writes, and returns at once.
func startRustmq(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(bins(t), "rustmq"), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitOutput waits until stderr (or stdout) of p contains what.
func (p *proc) waitOutput(t *testing.T, stream *syncBuffer, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stream.String(), what); {
		select {
		case <-p.done:
			t.Fatalf("rustmq exited (%d) before printing %q\nstdout:\n%s\nstderr:\n%s", p.code, what, p.stdout, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rustmq printed no %q\nstdout:\n%s\nstderr:\n%s", what, p.stdout, p.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling a child process's output
	}
}

// wait waits at most d for p to exit and returns its exit status.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("rustmq still running %v later\nstdout:\n%s\nstderr:\n%s", d, p.stdout, p.stderr)
		return -1
	}
}

// TestProduceInterrupted: an interrupt ends produce while its stdin stays
// open with nothing to read; what it had read is delivered, the summary
// printed, and the exit status is 130.
func TestProduceInterrupted(t *testing.T) {
	b := startBrokerBin(t, "--topic", "in:1")
	p := startRustmq(t, append([]string{"produce"}, conn(b, "-progress", "always", "in")...)...)
	if _, err := io.WriteString(p.stdin, "one\ntwo\n"); err != nil {
		t.Fatal(err)
	}
	p.waitOutput(t, p.stderr, "acknowledged 2")
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t, 10*time.Second); code != exitInterrupted {
		t.Fatalf("exit %d after SIGINT, want %d\n%s", code, exitInterrupted, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "produced 2 messages to in: 2 acknowledged, 0 failed") ||
		!strings.Contains(p.stderr.String(), "interrupted after line 2, before the end of the input") {
		t.Fatalf("stderr after SIGINT:\n%s", p.stderr)
	}
	r := rustmq(t, "", append([]string{"consume"}, conn(b, "in")...)...).ok(t, "consume")
	if r.stdout != "one\ntwo\n" {
		t.Fatalf("consume after the interrupted produce:\n%s", r.stdout)
	}
}

// TestProduceInterruptedTwice: against a broker that does not answer,
// the first interrupt waits for the pending messages, the second gives
// up on them: they fail, the summary counts them, and produce exits 130
// at once.
func TestProduceInterruptedTwice(t *testing.T) {
	p := startRustmq(t, "produce", "-brokers", silentAddr(t), "-insecure", "-progress", "always", "t")
	if _, err := io.WriteString(p.stdin, "one\ntwo\nthree\n"); err != nil {
		t.Fatal(err)
	}
	p.waitOutput(t, p.stderr, "pending 3")
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	p.waitOutput(t, p.stderr, "delivering the 3 messages still pending (interrupt again")
	select {
	case <-p.done:
		t.Fatalf("produce exited after one interrupt with messages pending:\n%s", p.stderr)
	case <-time.After(300 * time.Millisecond):
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t, 5*time.Second); code != exitInterrupted {
		t.Fatalf("exit %d after the second SIGINT\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "produced 3 messages to t: 0 acknowledged, 3 failed") {
		t.Fatalf("stderr:\n%s", p.stderr)
	}
}

// TestProduceInputLines sends lines a shell can produce: empty ones,
// invalid UTF-8, CRLF endings, a last line without a newline, one longer
// than -max-line-bytes in the middle, keys cut at a separator that is
// missing, first or last; consume -format json gives them back exactly.
func TestProduceInputLines(t *testing.T) {
	b := startBrokerBin(t, "--topic", "lines:1")
	long := strings.Repeat("L", 300)
	in := "k1|plain\n\n|empty key\nno separator\nk2|\r\n\xff\xfe|\x00bin\n" + long + "\nk3|a|b\nk4|last"
	r := rustmq(t, in, append([]string{"produce"}, conn(b, "-key-separator", "|", "-max-line-bytes", "100", "lines")...)...)
	if r.code != exitFailed || !strings.Contains(r.stderr, "line 7: 300 bytes, longer than -max-line-bytes 100: not sent") ||
		!strings.Contains(r.stderr, "produced 9 messages to lines: 8 acknowledged, 1 failed") {
		t.Fatalf("produce: exit %d\n%s", r.code, r.stderr)
	}
	type kv struct {
		key   []byte // nil: keyless
		value string
	}
	want := []kv{{[]byte("k1"), "plain"}, {nil, ""}, {[]byte{}, "empty key"}, {nil, "no separator"}, {[]byte("k2"), ""},
		{[]byte("\xff\xfe"), "\x00bin"}, {[]byte("k3"), "a|b"}, {[]byte("k4"), "last"}}
	r = rustmq(t, "", append([]string{"consume"}, conn(b, "-format", "json", "lines")...)...).ok(t, "consume -format json")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("consume printed %d lines, want %d:\n%s", len(lines), len(want), r.stdout)
	}
	for i, line := range lines {
		var j struct {
			Key, KeyB64, Value, ValueB64 *string
		}
		dec := json.NewDecoder(strings.NewReader(strings.NewReplacer(`"key_b64"`, `"KeyB64"`, `"value_b64"`, `"ValueB64"`).Replace(line)))
		if err := dec.Decode(&j); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
		}
		bytesOf := func(s, b64 *string) []byte {
			switch {
			case s != nil:
				return []byte(*s)
			case b64 != nil:
				v, err := base64.StdEncoding.DecodeString(*b64)
				if err != nil {
					t.Fatalf("line %d: bad base64 %q", i, *b64)
				}
				return v
			}
			return nil
		}
		key, value := bytesOf(j.Key, j.KeyB64), bytesOf(j.Value, j.ValueB64)
		if (key == nil) != (want[i].key == nil) || !bytes.Equal(key, want[i].key) || string(value) != want[i].value {
			t.Errorf("record %d: key %q (nil %v) value %q, want key %q (nil %v) value %q\n%s", i, key, key == nil, value,
				want[i].key, want[i].key == nil, want[i].value, line)
		}
	}
}

// TestConfigErrorsAreUsage: a flag value the runtime refuses exits 2 with
// a message naming the flag.
func TestConfigErrorsAreUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"produce", "-batch-size", "-1", "t"}, "-batch-size: "},
		{[]string{"produce", "-acks", "none", "-idempotence", "on", "t"}, "-idempotence: "},
		{[]string{"perf", "-brokers", "no-port", "t"}, "-brokers: "},
		{[]string{"consume", "-connect-timeout", "-1s", "t"}, "-connect-timeout: "},
		{[]string{"topics", "-ca", "/nonexistent/ca.pem"}, "-ca, -cert or -key: "},
		{[]string{"produce", "-delivery-timeout", "0s", "t"}, "-delivery-timeout 0s"},
		{[]string{"consume", "-timeout", "0s", "t"}, "-timeout 0s"},
		{[]string{"consume", "-partition", "0,0", "t"}, "-partition: "},
		{[]string{"consume", "-poll", "2h", "t"}, "-poll: "},
		{[]string{"produce", "-header", "rmq-seq=1", "t"}, "idempotence header"},
	} {
		r := rustmq(t, "x\n", tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "(broker ") {
			t.Errorf("rustmq %q: exit %d\n%s\nwant exit 2 mentioning %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestBrokerDown: against an address nobody serves, consume and topics
// fail at once naming the refused dial; against a broker that takes
// packets and never answers, they give up after their -timeout and say
// which broker did not answer.
func TestBrokerDown(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"refused", freeAddr(t), "connection refused"},
		{"silent", silentAddr(t), " connecting"},
	} {
		for _, args := range [][]string{{"consume", "-timeout", "2s", "t"}, {"topics", "-timeout", "2s"}} {
			start := time.Now()
			r := rustmq(t, "", append(append([]string{args[0]}, "-brokers", tc.addr, "-insecure"), args[1:]...)...)
			if r.code != exitFailed || !strings.Contains(r.stderr, tc.addr) || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("rustmq %s against a %s broker: exit %d\n%s\nwant exit %d naming %s and %q", args[0], tc.name, r.code, r.stderr, exitFailed, tc.addr, tc.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("rustmq %s against a %s broker took %v with -timeout 2s", args[0], tc.name, d)
			}
		}
	}
}

// silentAddr returns the address of a UDP socket that reads every packet
// and answers none, as a broker host whose process hangs: dials to it get
// no refusal and run into their timeout.
func silentAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = c.Close() })
	return c.LocalAddr().String()
}

// TestPerfInterrupted: an interrupt ends a long perf run early; it waits
// for what it sent, prints its table and exits 0.
func TestPerfInterrupted(t *testing.T) {
	b := startBrokerBin(t, "--topic", "pi:1")
	p := startRustmq(t, append([]string{"perf"}, conn(b, "-duration", "60s", "-rate", "2000", "-report", "200ms", "pi")...)...)
	p.waitOutput(t, p.stdout, "records sent")
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("perf exit %d after SIGINT\n%s\n%s", code, p.stdout, p.stderr)
	}
	lines := strings.Split(strings.TrimSpace(p.stdout.String()), "\n")
	row := strings.Fields(lines[len(lines)-1])
	if len(row) != 11 || row[1] != "0" || row[0] == "0" {
		t.Fatalf("perf table after SIGINT:\n%s", p.stdout)
	}
}

// TestPerfRateAndDuration: with -rate and -duration, perf sends exactly
// rate × duration records.
func TestPerfRateAndDuration(t *testing.T) {
	b := startBrokerBin(t, "--topic", "pr:1")
	r := rustmq(t, "", append([]string{"perf"}, conn(b, "-duration", "1s", "-rate", "300", "-workers", "3", "-report", "0", "pr")...)...).ok(t, "perf")
	row := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1])
	if row[0] != "300" {
		t.Fatalf("-rate 300 -duration 1s sent %s records:\n%s", row[0], r.stdout)
	}
}

// TestConsumeUndecodableValue: a value whose rmq-codec header lies is
// reported on stderr and printed as fetched, the records around it as
// usual, and consume exits 1.
func TestConsumeUndecodableValue(t *testing.T) {
	b := startBrokerBin(t, "--topic", "lie:1")
	rustmq(t, "before\n", append([]string{"produce"}, conn(b, "lie")...)...).ok(t, "produce")
	rustmq(t, "not zstd\n", append([]string{"produce"}, conn(b, "-header", "rmq-codec=zstd", "lie")...)...).ok(t, "produce with a lying codec header")
	rustmq(t, "after\n", append([]string{"produce"}, conn(b, "lie")...)...).ok(t, "produce")
	r := rustmq(t, "", append([]string{"consume"}, conn(b, "-format", "%o %s [%h]\n", "lie")...)...)
	if r.code != exitFailed || r.stdout != "0 before []\n1 not zstd [rmq-codec=zstd]\n2 after []\n" ||
		!strings.Contains(r.stderr, "record lie/0@1") || !strings.Contains(r.stderr, "printed as fetched") {
		t.Fatalf("consume: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestProduceUnknownTopic: every line sent to a topic the broker does not
// have fails within -delivery-timeout with an error naming the topic.
func TestProduceUnknownTopic(t *testing.T) {
	b := startBrokerBin(t, "--topic", "known:1")
	start := time.Now()
	r := rustmq(t, "a\nb\n", append([]string{"produce"}, conn(b, "-delivery-timeout", "2s", "unknown")...)...)
	if r.code != exitFailed || !strings.Contains(r.stderr, `"unknown"`) || !strings.Contains(r.stderr, "2 failed") {
		t.Fatalf("produce to an unknown topic: exit %d\n%s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v with -delivery-timeout 2s", d)
	}
}
