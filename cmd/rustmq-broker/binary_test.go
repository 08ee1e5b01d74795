package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// The tests in this file build the binary and run it in child processes,
// so that SIGKILL and restarts are real.

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// brokerBinary builds rustmq-broker once per test run.
func brokerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "rustmq-broker-test-*"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "rustmq-broker")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = &buildError{err: err, out: string(out)}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func cleanupBinary() {
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}

// process is the binary running in a child process.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	stdout []string
	stderr *syncBuffer
	done   chan struct{}
}

// startProcess runs the binary with args and waits for its banner.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(brokerBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		p.stdout = append(p.stdout, line)
		if _, after, ok := strings.Cut(line, "listening on "); ok && p.addr == "" {
			p.addr = strings.Fields(after)[0]
		}
		if strings.Contains(line, "connect: dial") {
			break
		}
	}
	if p.addr == "" {
		p.kill()
		t.Fatalf("no banner on stdout %q; stderr:\n%s", p.stdout, p.stderr.String())
	}
	go func() { // drain stdout, then reap the process
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("process %d not gone 10 s after SIGKILL", p.cmd.Process.Pid)
	}
}

// dialer returns a transport.Dialer trusting caFile.
func dialer(t *testing.T, caFile string, cfg transport.Config) *transport.Dialer {
	t.Helper()
	cfg.TLS.CAFile = caFile
	d, err := transport.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dialAndProbe dials addr and runs one Metadata request.
func dialAndProbe(t *testing.T, d *transport.Dialer, addr string) (*transport.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Do(ctx, wire.TypeMetadata, (&wire.MetadataRequest{}).Append(nil)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// metadataOn runs a Metadata request on c. It names a topic with a long
// name so that its packet is larger than quic-go's smallest packet that a
// server answers with a stateless reset (42 bytes): a request for no topic
// travels in packets of about 30 bytes, which a restarted broker drops
// without a reset, and only an MTU probe that happened to go out with it
// would then end the old connection.
func metadataOn(c *transport.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Do(ctx, wire.TypeMetadata, (&wire.MetadataRequest{Topics: []string{strings.Repeat("reset-probe-", 8)}}).Append(nil))
	return err
}

// produceOne appends one record to t/0 with acks All and returns its
// offset.
func produceOne(c *transport.Conn) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := wire.ProduceRequest{Topic: "t", Records: []wire.Record{{Value: []byte("v"), Timestamp: time.Now().UnixMilli()}}, Acks: wire.Acks{Level: wire.AckAll}, TimeoutMs: 5000}
	body, err := c.Do(ctx, wire.TypeProduce, req.Append(nil))
	if err != nil {
		return 0, err
	}
	var resp wire.ProduceResponse
	if err := resp.Unmarshal(body); err != nil {
		return 0, err
	}
	if err := resp.Err(); err != nil {
		return 0, err
	}
	return resp.BaseOffset(1)
}

// highWatermark fetches t/0 from offset 0 and returns its high watermark.
func highWatermark(c *transport.Conn) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := wire.FetchRequest{Topic: "t", MaxBytes: 1 << 20}
	body, err := c.Do(ctx, wire.TypeFetch, req.Append(nil))
	if err != nil {
		return 0, err
	}
	var resp wire.FetchResponse
	if err := resp.Unmarshal(body); err != nil {
		return 0, err
	}
	return resp.HighWatermark, resp.Err()
}
