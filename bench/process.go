package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rustmq/rustmq-go/broker"
)

// The runner can start the development broker in a process of its own, so
// that the producer's CPU time and memory can be measured apart from the
// broker's. The child is this same program, started with childFlag: it
// starts a broker, writes one JSON line (brokerInfo) to stdout, and serves
// until its stdin is closed, which the parent does when it is done (or
// dies).

// childFlag is the argument that makes the program a broker child.
const childFlag = "-internal-broker-child"

// brokerInfo is what a broker child reports.
type brokerInfo struct {
	Addr string `json:"addr"`
	CA   string `json:"ca"` // PEM
	Err  string `json:"err,omitempty"`
}

// runBrokerChild is main for a broker child: args are its partitions.
func runBrokerChild(partitions int) int {
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{benchTopic: partitions}})
	enc := json.NewEncoder(os.Stdout)
	if err != nil {
		_ = enc.Encode(brokerInfo{Err: err.Error()})
		return 1
	}
	_ = enc.Encode(brokerInfo{Addr: b.Addr(), CA: string(b.CACertPEM())})
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	_ = b.Close()
	return 0
}

// brokerProcess is a broker child seen from the parent.
type brokerProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	info  brokerInfo
	pool  *x509.CertPool
}

// startBrokerProcess starts a broker child holding benchTopic with
// partitions partitions and waits for its address.
func startBrokerProcess(ctx context.Context, partitions int) (*brokerProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, childFlag, fmt.Sprint(partitions))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	bp := &brokerProcess{cmd: cmd, stdin: stdin}
	line := make(chan error, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Buffer(make([]byte, 0, 64<<10), 1<<20)
		if !s.Scan() {
			line <- errors.New("broker process ended without its address")
			return
		}
		line <- json.Unmarshal(s.Bytes(), &bp.info)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-line:
	case <-time.After(30 * time.Second):
		err = errors.New("broker process did not report its address within 30s")
	}
	if err == nil && bp.info.Err != "" {
		err = errors.New(bp.info.Err)
	}
	if err != nil {
		bp.close()
		return nil, fmt.Errorf("broker process: %w", err)
	}
	bp.pool = x509.NewCertPool()
	if !bp.pool.AppendCertsFromPEM([]byte(bp.info.CA)) {
		bp.close()
		return nil, errors.New("broker process: bad CA certificate")
	}
	return bp, nil
}

func (bp *brokerProcess) close() error {
	_ = bp.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- bp.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		_ = bp.cmd.Process.Kill()
		return <-done
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration { return processCPU() }

// rssBytes returns the resident set size of this process, from
// /proc/self/status (0 where there is none).
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
