package broker

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestDurableRestartRecovers(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Topics: map[string]int{"t": 2}, AutoCreateTopics: true, IdempotenceReorderWindow: 50 * time.Millisecond}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, b, b.Addr())
	for seq := uint64(0); seq < 6; seq += 2 {
		r := c.mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: idem(records(fmt.Sprint(seq), fmt.Sprint(seq+1)), 5, seq), Acks: wire.Acks{Level: wire.AckAll}})
		wantCode(t, "durable produce", r.ErrorCode, r.ErrorMessage, 0)
	}
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "auto", Records: records("x"), Acks: wire.Acks{Level: wire.AckAll}})
	wantCode(t, "auto-created", r.ErrorCode, r.ErrorMessage, 0)
	if _, err := os.Stat(filepath.Join(dir, "broker-0", "t-1")); err != nil {
		t.Fatalf("partition directory: %v", err)
	}
	c.close()
	addr := b.Addr()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.Listen = addr
	cfg.AutoCreateTopics = false
	b = startBroker(t, cfg)
	if got := b.Topics(); got["t"] != 2 || got["auto"] != 1 {
		t.Fatalf("topics after restart %v", got)
	}
	if got := b.Records("t", 1); len(got) != 6 || string(got[5].Value) != "5" {
		t.Fatalf("t/1 after restart: %d records", len(got))
	}
	c = dial(t, b, b.Addr())
	// The idempotence state was rebuilt: a resent batch is a duplicate...
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: idem(records("2", "3"), 5, 2), Acks: wire.Acks{Level: wire.AckAll}})
	if r.ErrorCode != 0 || r.Offset != 2 {
		t.Fatalf("duplicate after restart %+v", r)
	}
	// ... a gap is still a gap, and the next sequence appends.
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: idem(records("x"), 5, 7), Acks: wire.Acks{Level: wire.AckAll}})
	wantCode(t, "gap after restart", r.ErrorCode, r.ErrorMessage, 45)
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: idem(records("6"), 5, 6), Acks: wire.Acks{Level: wire.AckAll}})
	if r.ErrorCode != 0 || r.Offset != 6 {
		t.Fatalf("next after restart %+v", r)
	}
}

func TestDurableConfigFewerPartitionsThanOnDisk(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir, Topics: map[string]int{"t": 3}})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), Config{DataDir: dir, Topics: map[string]int{"t": 2}}); err == nil || !strings.Contains(err.Error(), "holds 3 partitions") {
		t.Fatalf("shrinking a topic: %v", err)
	}
}

// brokerProcess is the rustmq-broker binary running in a child process.
type brokerProcess struct {
	cmd  *exec.Cmd
	addr string
	pool *x509.CertPool
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rustmq-broker")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/rustmq/rustmq-go/cmd/rustmq-broker").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBinary(t *testing.T, bin string, args ...string) *brokerProcess {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cmd := exec.Command(bin, append(args, "--write-ca", caFile)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &brokerProcess{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	connectLine := false
	for sc.Scan() {
		line := sc.Text()
		if _, after, ok := strings.Cut(line, "listening on "); ok && p.addr == "" {
			p.addr = strings.Fields(after)[0]
		}
		if strings.Contains(line, "connect: dial") {
			connectLine = true
			break
		}
	}
	if p.addr == "" || !connectLine {
		t.Fatalf("no banner on stdout; stderr:\n%s", stderr.String())
	}
	go func() { // drain the rest of stdout until the process exits
		for sc.Scan() {
		}
	}()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	if !p.pool.AppendCertsFromPEM(pem) {
		t.Fatal("--write-ca wrote no certificate")
	}
	return p
}

// TestBinarySIGKILLKeepsAcknowledgedRecords streams acks=All idempotent
// batches to the binary, kills it with SIGKILL mid-stream, restarts it on the
// same data directory and port, resends the unacknowledged tail with the
// same sequences, and checks every batch is in the log exactly once, in
// order, acknowledged ones at their acknowledged offsets.
func TestBinarySIGKILLKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	p := runBinary(t, bin, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--topic", "events:1")

	const pid, perBatch = 0xfeedface, 3
	batch := func(seq uint64) *wire.ProduceRequest {
		vals := make([]string, perBatch)
		for i := range vals {
			vals[i] = fmt.Sprintf("r%06d", seq+uint64(i))
		}
		return &wire.ProduceRequest{Topic: "events", Records: idem(records(vals...), pid, seq), Acks: wire.Acks{Level: wire.AckAll}, TimeoutMs: 5000}
	}

	c, err := dialTLS(context.Background(), p.addr, clientTLS(p.pool, ALPN))
	if err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]uint64{} // seq -> base offset
	var next uint64              // sequence of the first batch not acknowledged
	killAfter := 40
	killed := make(chan struct{})
	for {
		if len(acked) == killAfter {
			// Kill from another goroutine while the next request is in flight.
			go func() {
				_ = p.cmd.Process.Signal(syscall.SIGKILL)
				close(killed)
			}()
		}
		r, err := c.produce(batch(next))
		if err != nil {
			break // the broker died mid-stream
		}
		wantCode(t, "stream", r.ErrorCode, r.ErrorMessage, 0)
		acked[next] = r.Offset
		next += perBatch
		if len(acked) > killAfter+1000 {
			t.Fatal("broker still answering long after SIGKILL")
		}
	}
	<-killed
	_ = p.cmd.Wait()
	c.close()
	if len(acked) < killAfter {
		t.Fatalf("only %d batches acknowledged before the kill", len(acked))
	}

	p2 := runBinary(t, bin, "--listen", p.addr, "--data-dir", dataDir, "--topic", "events:1")
	if p2.addr != p.addr {
		t.Fatalf("restarted on %s, want %s", p2.addr, p.addr)
	}
	c, err = dialTLS(context.Background(), p2.addr, clientTLS(p2.pool, ALPN))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	// Resending an acknowledged batch answers its original offset.
	last := next - perBatch
	if r, err := c.produce(batch(last)); err != nil || r.ErrorCode != 0 || r.Offset != acked[last] {
		t.Fatalf("resend of acknowledged seq %d: %v %+v, want offset %d", last, err, r, acked[last])
	}
	// Resend the unacknowledged tail (the batch in flight at the kill), then
	// two more; each is appended or recognised, never doubled.
	for i := 0; i < 3; i++ {
		r, err := c.produce(batch(next))
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "tail", r.ErrorCode, r.ErrorMessage, 0)
		acked[next] = r.Offset
		if r2, _ := c.produce(batch(next)); r2 == nil || r2.ErrorCode != 0 || r2.Offset != r.Offset {
			t.Fatalf("immediate resend of seq %d: %+v, want offset %d", next, r2, r.Offset)
		}
		next += perBatch
	}

	var got []wire.Record
	for off := uint64(0); ; {
		f, err := c.fetch(&wire.FetchRequest{Topic: "events", FetchOffset: off, MaxBytes: 64 << 10})
		if err != nil || f.ErrorCode != 0 {
			t.Fatalf("fetch at %d: %v %+v", off, err, f)
		}
		got = append(got, f.Records...)
		off += uint64(len(f.Records))
		if off >= f.HighWatermark {
			break
		}
	}
	if uint64(len(got)) != next {
		t.Fatalf("log holds %d records, want %d (every batch exactly once)", len(got), next)
	}
	for i, r := range got {
		if want := fmt.Sprintf("r%06d", i); string(r.Value) != want {
			t.Fatalf("record %d = %q, want %q (order or duplicates broken)", i, r.Value, want)
		}
	}
	for seq, off := range acked {
		if off != seq {
			t.Fatalf("batch seq %d acknowledged at offset %d, but the log holds it at %d", seq, off, seq)
		}
	}
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p2.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SIGTERM exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not stop on SIGTERM")
	}
}
