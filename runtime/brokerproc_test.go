package runtime_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The development broker as a program in a child process, for the tests
// that SIGKILL it and start it again on the same port and data directory.

var (
	brokerBinOnce sync.Once
	brokerBinPath string
	brokerBinErr  error
)

// brokerBinary builds cmd/rustmq-broker once per test binary run into a
// directory removed by TestMain.
func brokerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the broker binary")
	}
	brokerBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rustmq-runtime-test-*")
		if err != nil {
			brokerBinErr = err
			return
		}
		brokerBinDir = dir
		path := filepath.Join(dir, "rustmq-broker")
		out, err := exec.Command("go", "build", "-o", path, "github.com/rustmq/rustmq-go/cmd/rustmq-broker").CombinedOutput()
		if err != nil {
			brokerBinErr = &buildError{err: err, out: string(out)}
			return
		}
		brokerBinPath = path
	})
	if brokerBinErr != nil {
		t.Fatal(brokerBinErr)
	}
	return brokerBinPath
}

var brokerBinDir string

func removeBrokerBinary() {
	if brokerBinDir != "" {
		_ = os.RemoveAll(brokerBinDir)
	}
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// brokerProc is one run of the broker binary.
type brokerProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{}
	// up is when the banner said the broker listens.
	up time.Time
}

// startBrokerProc runs the broker binary with args and returns once its
// banner says where it listens.
func startBrokerProc(t *testing.T, args ...string) *brokerProc {
	t.Helper()
	cmd := exec.Command(brokerBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &brokerProc{t: t, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if _, after, ok := strings.Cut(line, "listening on "); ok && p.addr == "" {
			p.addr = strings.Fields(after)[0]
			p.up = time.Now()
		}
		if strings.Contains(line, "connect: dial") {
			break
		}
	}
	if p.addr == "" {
		p.kill()
		t.Fatalf("broker binary printed no address; stderr:\n%s", p.stderr.String())
	}
	go func() {
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	return p
}

// kill sends SIGKILL and waits until the process is gone.
func (p *brokerProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("broker process %d still there 10 s after SIGKILL", p.cmd.Process.Pid)
	}
}
