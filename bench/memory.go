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

// measureHeap sends 2n messages of size bytes (one shared *Message, so
// that the caller's own allocations are not counted) to an in-process
// broker that holds every answer back, so that all of them stay buffered,
// and measures the live heap they add per message and the allocations
// SendAsync made for the second n.
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
	p, err := rt.CreateProducer(benchTopic, rmq.ProducerConfig{Acks: rmq.AcksLeader, MaxInFlight: 1, MaxBufferedRecords: 2*int64(n) + 1, MaxBufferedBytes: 1 << 30})
	if err != nil {
		return res, err
	}
	msg := &rmq.Message{Payload: payloadOf(s.size)}
	if err := warmUp(ctx, p, msg.Payload); err != nil {
		return res, err
	}
	b.SetResponseDelay(time.Hour)
	var done sync.WaitGroup
	done.Add(2 * n)
	cb := func(*rmq.Result, error) { done.Done() }
	// The heap is read after n and after 2n buffered messages: the slope
	// between the two leaves out what the first readings hold apart from
	// the messages (pools, warm-up batches, the collector's timing).
	send := func() (heap, mallocs uint64, err error) {
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		m0 := ms.Mallocs
		for range n {
			if err := p.SendAsync(ctx, msg, cb); err != nil {
				return 0, 0, err
			}
		}
		// Let the router and batchers take everything in.
		time.Sleep(300 * time.Millisecond)
		goruntime.ReadMemStats(&ms)
		mallocs = ms.Mallocs - m0
		goruntime.GC()
		goruntime.GC()
		goruntime.ReadMemStats(&ms)
		return ms.HeapAlloc, mallocs, nil
	}
	goruntime.GC()
	h1, _, err := send()
	if err != nil {
		return res, err
	}
	h2, mallocs, err := send()
	if err != nil {
		return res, err
	}
	res.allocsPerMsg = float64(mallocs) / float64(n)
	res.bytesPerMsg = (float64(h2) - float64(h1)) / float64(n)
	res.bufferedPerMsg = float64(p.Metrics().BufferedBytes) / float64(2*n)
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
