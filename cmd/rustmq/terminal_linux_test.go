package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestIsTerminal: a pseudo-terminal is one; /dev/null, a character
// device, and a pipe are not.
func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if isTerminal(null) || isTerminal(pw) {
		t.Errorf("isTerminal(/dev/null) = %v, isTerminal(pipe) = %v", isTerminal(null), isTerminal(pw))
	}
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer pty.Close()
	if !isTerminal(pty) {
		t.Errorf("isTerminal(/dev/ptmx) = false")
	}
}

// openPTY returns the two ends of a new pseudo-terminal, or skips.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	var unlock int32
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("unlockpt: %v", e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open the pty's slave: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestTerminalOutput runs produce and consume with stderr on a
// pseudo-terminal: produce draws its progress line there (and clears it
// before the summary), consume ends with a count of the records; with
// stderr on a pipe, neither appears.
func TestTerminalOutput(t *testing.T) {
	b := startBrokerBin(t, "--topic", "tty:1")
	master, slave := openPTY(t)
	var term syncBuffer
	go func() { _, _ = io.Copy(&term, master) }()
	run := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bins(t), "rustmq"), args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), io.Discard, slave
		if err := cmd.Run(); err != nil {
			t.Fatalf("rustmq %q: %v\n%s", args, err, term.String())
		}
	}
	// A slow input, so that the progress line (twice a second) shows.
	pr, pw := io.Pipe()
	cmd := exec.Command(filepath.Join(bins(t), "rustmq"), append([]string{"produce"}, conn(b, "tty")...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, io.Discard, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(pw, "a\nb\n")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(term.String(), "acknowledged 2"); {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line on the terminal:\n%q", term.String())
		}
		time.Sleep(20 * time.Millisecond) // polling what the child draws
	}
	pw.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	run("", append([]string{"consume"}, conn(b, "tty")...)...)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(term.String(), "rustmq consume: 2 records from tty"); {
		if time.Now().After(deadline) {
			t.Fatalf("no consume summary on the terminal:\n%q", term.String())
		}
		time.Sleep(20 * time.Millisecond) // the terminal's output arrives through the master
	}
	if out := term.String(); !strings.Contains(out, "\r\033[Kproduced 2 messages to tty") {
		t.Errorf("the progress line was not cleared before the summary:\n%q", out)
	}
	// The same on a pipe: no progress line, no consume summary.
	r := rustmq(t, "c\n", append([]string{"produce"}, conn(b, "tty")...)...).ok(t, "produce")
	if strings.Contains(r.stderr, "\033[K") {
		t.Errorf("progress line on a pipe: %q", r.stderr)
	}
	r = rustmq(t, "", append([]string{"consume"}, conn(b, "tty")...)...).ok(t, "consume")
	if r.stderr != "" {
		t.Errorf("consume wrote to a pipe's stderr: %q", r.stderr)
	}
}
