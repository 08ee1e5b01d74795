// Package proctest runs the module's commands in child processes for tests:
// it builds them once per test binary, starts the development broker
// binary and waits for its banner, and holds a child's output in a buffer
// that is safe to read while the child writes it. Tests that need a real
// process (SIGKILL, restarts on the same port and data directory, the CLI
// as a user runs it) share it instead of each keeping a copy.
package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Module is the import path of this module, for Build's packages.
const Module = "github.com/rustmq/rustmq-go"

// BrokerPkg is the import path of the development broker's command.
const BrokerPkg = Module + "/cmd/rustmq-broker"

// Binaries is a set of the module's commands built once, on first use, into
// a temporary directory (without -race, for speed). Declare one per test
// binary and Remove it from TestMain.
type Binaries struct {
	pkgs []string
	once sync.Once
	dir  string
	err  error
}

// Build returns the set of the commands with the import paths pkgs; nothing
// is built before the first call of Dir.
func Build(pkgs ...string) *Binaries { return &Binaries{pkgs: pkgs} }

// Dir builds the commands on its first call and returns their directory,
// each binary named for its package's last element. It skips the test with
// -short or when no go tool is on PATH, and fails it if the build fails.
func (b *Binaries) Dir(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds and runs the module's binaries; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go tool on PATH")
	}
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "rustmq-test-bin-*"); b.err != nil {
			return
		}
		args := append([]string{"build", "-o", b.dir + string(filepath.Separator)}, b.pkgs...)
		if out, err := exec.Command(goBin, args...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.dir
}

// Path returns the binary of the command named name (built by Dir).
func (b *Binaries) Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(b.Dir(tb), name)
}

// Remove deletes the directory of the binaries, if they were built.
func (b *Binaries) Remove() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// Proc is one run of the development broker binary.
type Proc struct {
	// Addr is the address the banner says the first node listens on.
	Addr string
	// Up is when the banner named Addr.
	Up time.Time
	// Banner holds the lines printed on stdout up to the end of the
	// banner; later ones are read and dropped.
	Banner []string
	// Stderr is everything the process wrote on stderr.
	Stderr *SyncBuffer

	tb   testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs the broker binary bin with args and returns once its banner
// says where it listens (the line naming the address, then the one showing
// how to connect). The process is killed when the test ends.
func Start(tb testing.TB, bin string, args ...string) *Proc {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proc{Stderr: &SyncBuffer{}, tb: tb, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = p.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Kill)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		p.Banner = append(p.Banner, line)
		if _, after, ok := strings.Cut(line, "listening on "); ok && p.Addr == "" {
			p.Addr = strings.Fields(after)[0]
			p.Up = time.Now()
		}
		if strings.Contains(line, "connect: dial") {
			break
		}
	}
	if p.Addr == "" {
		p.Kill()
		tb.Fatalf("%s %q printed no banner on stdout %q; stderr:\n%s", filepath.Base(bin), args, p.Banner, p.Stderr)
	}
	go func() { // drain stdout, then reap the process
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	return p
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait("SIGKILL")
}

// Stop sends SIGTERM and waits up to 10 s for the process to exit; if it
// has not, it kills it. It reports whether SIGTERM was enough.
func (p *Proc) Stop() bool {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(10 * time.Second):
		p.Kill()
		return false
	}
}

func (p *Proc) wait(after string) {
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.tb.Errorf("broker process %d still there 10 s after %s", p.cmd.Process.Pid, after)
	}
}

// SyncBuffer is a bytes.Buffer safe to read while a process writes it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
