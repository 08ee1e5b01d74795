package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// heapResult is the memory a producer holds for buffered messages.
type heapResult struct {
	n              int
	bytesPerMsg    float64 // live heap per buffered message
	allocsPerMsg   float64 // allocations per SendAsync
	bufferedPerMsg float64 // what MaxBufferedBytes counts per message
}

// measureHeap sends n messages of size bytes (one shared *Message, so that
// the caller's own allocations are not counted) to an in-process broker
// that holds every answer back, so that all n stay buffered, and measures
// the live heap they add and the allocations SendAsync made.
func measureHeap(ctx context.Context, s setup, n int) (heapResult, error) {
	res := heapResult{n: n}
	b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{benchTopic: s.partitions}})
	if err != nil {
		return res, err
	}
	defer func() { _ = b.Close() }()
	rt, err := rmq.New(rmq.Config{Brokers: []string{b.Addr()}, TLS: rmq.TLSConfig{Config: &tls.Config{RootCAs: b.CAPool()}}, HealthInterval: -1})
	if err != nil {
		return res, err
	}
	defer func() { _ = rt.Close(context.Background()) }()
	p, err := rt.CreateProducer(benchTopic, rmq.ProducerConfig{Acks: rmq.AcksLeader, MaxInFlight: 1, MaxBufferedRecords: int64(n) + 1, MaxBufferedBytes: 1 << 30})
	if err != nil {
		return res, err
	}
	msg := &rmq.Message{Payload: payloadOf(s.size)}
	if err := warmUp(ctx, p, msg.Payload); err != nil {
		return res, err
	}
	b.SetResponseDelay(time.Hour)
	var done sync.WaitGroup
	done.Add(n)
	cb := func(*rmq.Result, error) { done.Done() }
	// Twice: the first collection moves what sync.Pools hold to their
	// victim caches, the second frees it, so that nothing allocated before
	// is reused (and left out of the count).
	goruntime.GC()
	goruntime.GC()
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	for range n {
		if err := p.SendAsync(ctx, msg, cb); err != nil {
			return res, err
		}
	}
	// Let the router and batchers take everything in.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := p.Metrics(); m.RecordsSent > 0 && m.InFlight > 0 {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	goruntime.ReadMemStats(&after)
	res.allocsPerMsg = float64(after.Mallocs-before.Mallocs) / float64(n)
	goruntime.GC()
	goruntime.ReadMemStats(&after)
	res.bytesPerMsg = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
	res.bufferedPerMsg = float64(p.Metrics().BufferedBytes) / float64(n)
	b.SetResponseDelay(0)
	b.DropConnections() // the held requests are retried and answered
	wait := make(chan struct{})
	go func() { done.Wait(); close(wait) }()
	select {
	case <-wait:
	case <-time.After(time.Minute):
		return res, errors.New("buffered messages were never completed")
	}
	return res, nil
}

// Base RSS: each side runs in a fresh child process of this program, so
// that nothing else lives in it, and reports its resident set size after a
// collection.

const rssChildFlag = "-internal-rss-child"

// rssReport is what an RSS child writes to stdout.
type rssReport struct {
	RSS int64  `json:"rss"`
	Err string `json:"err,omitempty"`
}

// runRSSChild is main for an RSS child: kind is "runtime" or "quic"; the
// broker's address and CA come from the environment.
func runRSSChild(kind string) int {
	addr, ca := os.Getenv("BENCH_BROKER_ADDR"), os.Getenv("BENCH_BROKER_CA")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var closeFn func()
	var err error
	switch kind {
	case "runtime":
		closeFn, err = connectRuntime(ctx, addr, pool)
	case "quic":
		closeFn, err = connectQUIC(ctx, addr, pool)
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	rep := rssReport{}
	if err != nil {
		rep.Err = err.Error()
	} else {
		goruntime.GC()
		debug.FreeOSMemory()
		time.Sleep(100 * time.Millisecond)
		rep.RSS = rssBytes()
		closeFn()
	}
	_ = json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// connectRuntime starts a runtime with one producer that has sent one
// message.
func connectRuntime(ctx context.Context, addr string, pool *x509.CertPool) (func(), error) {
	rt, err := rmq.New(rmq.Config{Brokers: []string{addr}, TLS: rmq.TLSConfig{Config: &tls.Config{RootCAs: pool}}})
	if err != nil {
		return nil, err
	}
	p, err := rt.CreateProducer(benchTopic, rmq.ProducerConfig{})
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	if _, err := p.Send(ctx, &rmq.Message{Payload: payloadOf(100)}); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	return func() { _ = rt.Close(context.Background()) }, nil
}

// connectQUIC dials the broker with bare quic-go (the same TLS) and runs
// one Metadata request on a stream.
func connectQUIC(ctx context.Context, addr string, pool *x509.CertPool) (func(), error) {
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"rustmq"}, MinVersion: tls.VersionTLS13}, &quic.Config{})
	if err != nil {
		return nil, err
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	req := wire.MetadataRequest{}
	if _, err := str.Write(append([]byte{wire.TypeMetadata}, req.Append(nil)...)); err != nil {
		return nil, err
	}
	_ = str.Close()
	if _, err := io.ReadAll(str); err != nil {
		return nil, err
	}
	return func() { _ = conn.CloseWithError(0, "") }, nil
}

// measureRSS returns the base RSS of a connected runtime with one producer
// and of a bare quic-go client, each in its own process, against a broker
// process.
func measureRSS(ctx context.Context, partitions int) (runtimeRSS, quicRSS int64, err error) {
	bp, err := startBrokerProcess(ctx, partitions)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = bp.close() }()
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	run := func(kind string) (int64, error) {
		cmd := exec.CommandContext(ctx, exe, rssChildFlag, kind)
		cmd.Env = append(os.Environ(), "BENCH_BROKER_ADDR="+bp.info.Addr, "BENCH_BROKER_CA="+bp.info.CA)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return 0, fmt.Errorf("%s child: %w", kind, err)
		}
		var rep rssReport
		if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &rep); err != nil {
			return 0, fmt.Errorf("%s child: %w", kind, err)
		}
		if rep.Err != "" {
			return 0, fmt.Errorf("%s child: %s", kind, rep.Err)
		}
		return rep.RSS, nil
	}
	if runtimeRSS, err = run("runtime"); err != nil {
		return 0, 0, err
	}
	quicRSS, err = run("quic")
	return runtimeRSS, quicRSS, err
}
