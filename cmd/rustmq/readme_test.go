package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlocks returns the lines of every ```sh block of the README.
func readmeBlocks(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "```sh":
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, cur)
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// freeAddr returns a loopback UDP address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	_ = c.Close()
	return addr
}

// TestREADME runs the README's shell commands as a user would, with only
// these changes: binaries go to a temporary GOBIN put first on PATH, the
// broker listens on a free port that the rustmq commands get as -brokers,
// files under /tmp go to a temporary directory, and background servers
// and followers are stopped with a signal once they did their part. Every
// other command of the README must be one of the make targets CI runs or
// that exist in the Makefile.
func TestREADME(t *testing.T) {
	bins(t) // skips with -short
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	tmp := t.TempDir()
	gobin := filepath.Join(tmp, "bin")
	env := append(os.Environ(), "GOBIN="+gobin, "PATH="+gobin+string(os.PathListSeparator)+os.Getenv("PATH"))
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}

	var addr string
	subst := func(line string) string {
		if i := strings.Index(line, "  #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "&"))
		line = strings.ReplaceAll(line, "/tmp/rustmq-ca.pem", filepath.Join(tmp, "ca.pem"))
		line = strings.ReplaceAll(line, "/tmp/rustmq-data", filepath.Join(tmp, "data"))
		line = strings.ReplaceAll(line, "127.0.0.1:9092", addr)
		line = regexp.MustCompile(`^rustmq-broker `).ReplaceAllString(line, "rustmq-broker -listen "+addr+" ")
		return regexp.MustCompile(`rustmq (produce|consume|tail|topics|perf) `).ReplaceAllString(line, "rustmq $1 -brokers "+addr+" ")
	}
	shell := func(ctx context.Context, line string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "bash", "-c", line)
		cmd.Dir, cmd.Env = root, env
		return cmd
	}
	run := func(line string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := shell(ctx, line).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}
	// background starts line and returns it with its merged output.
	background := func(line string) (*exec.Cmd, *syncBuffer) {
		t.Helper()
		cmd := shell(context.Background(), "exec "+line)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
			}
		})
		return cmd, out
	}
	waitFor := func(out *syncBuffer, what string, ok func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(out.String()); {
			if time.Now().After(deadline) {
				t.Fatalf("no %s; output:\n%s", what, out.String())
			}
			time.Sleep(20 * time.Millisecond) // polling a child process's output
		}
	}

	ran := 0
	for _, block := range readmeBlocks(t) {
		var broker *exec.Cmd
		for _, raw := range block {
			line := strings.TrimSpace(raw)
			if line == "" {
				continue
			}
			cmdName := strings.Fields(line)[0]
			switch {
			case cmdName == "make":
				target := strings.Fields(line)[1]
				if !regexp.MustCompile(`(?m)^` + target + `:`).Match(makefile) {
					t.Errorf("README runs `make %s`, which the Makefile lacks", target)
				}
				if target == "demo" {
					out := run(line)
					if !strings.Contains(out, "partition=") {
						t.Errorf("make demo printed no partitions:\n%s", out)
					}
					ran++
				}
				continue // test and interop are what CI runs; the others are checked to exist
			case cmdName == "rustmq-broker":
				if broker != nil {
					_ = broker.Process.Signal(syscall.SIGTERM)
					_ = broker.Wait()
				}
				addr = freeAddr(t)
				var out *syncBuffer
				broker, out = background(subst(line))
				waitFor(out, "broker banner", func(s string) bool { return strings.Contains(s, "connect: dial") })
			case strings.Contains(line, "rustmq consume") && strings.Contains(line, " -f "):
				cmd, out := background(subst(line))
				waitFor(out, "ten lines from consume -f", func(s string) bool { return strings.Count(s, "hello ") >= 10 })
				_ = cmd.Process.Signal(syscall.SIGINT)
				if err := cmd.Wait(); err != nil {
					t.Fatalf("consume -f after Ctrl-C: %v\n%s", err, out.String())
				}
				got := strings.Split(strings.TrimSpace(out.String()), "\n")
				slices.Sort(got)
				want := []string{"hello 1", "hello 10", "hello 2", "hello 3", "hello 4", "hello 5", "hello 6", "hello 7", "hello 8", "hello 9"}
				if !slices.Equal(got, want) {
					t.Fatalf("consume -f printed:\n%s", out.String())
				}
			default:
				out := run(subst(line))
				switch {
				case strings.Contains(line, "rustmq produce"):
					if !strings.Contains(out, "produced 10 messages to orders: 10 acknowledged, 0 failed") {
						t.Fatalf("produce:\n%s", out)
					}
				case strings.Contains(line, "rustmq topics"):
					if strings.Count(out, "  orders  ") != 3 {
						t.Fatalf("topics does not list orders' 3 partitions:\n%s", out)
					}
				case strings.Contains(line, "rustmq perf"):
					if !regexp.MustCompile(`(?m)^100000 +0 +[\d.]+ +\d+ +[\d.]+`).MatchString(out) {
						t.Fatalf("perf table:\n%s", out)
					}
				case strings.Contains(line, "simple_producer"):
					if strings.Count(out, "partition=") != 10 {
						t.Fatalf("simple_producer:\n%s", out)
					}
				case cmdName == "go" && strings.Contains(line, "install"):
				default:
					t.Errorf("README command %q ran but nothing checks its output", line)
				}
			}
			ran++
		}
		if broker != nil {
			_ = broker.Process.Signal(syscall.SIGTERM)
			_ = broker.Wait()
		}
	}
	if ran < 8 {
		t.Fatalf("ran %d README commands; the quick start alone has 6", ran)
	}
}
