package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rustmq/rustmq-go/internal/devcert"
)

// rawQUIC is the baseline: a bare quic-go server and client on loopback with
// the same TLS setup the runtime uses (TLS 1.3, a development CA and leaf,
// ALPN "rustmq"). It measures what the runtime cannot beat: the cost of one
// request on its own bidirectional stream, and the bulk rate of one stream.
type rawQUIC struct {
	ln     *quic.Listener
	client *quic.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func startRawQUIC() (*rawQUIC, error) {
	ca, err := devcert.NewCA("bench-ca")
	if err != nil {
		return nil, err
	}
	leaf, err := ca.IssueServer()
	if err != nil {
		return nil, err
	}
	srvTLS := &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"rustmq"}, MinVersion: tls.VersionTLS13}
	ln, err := quic.ListenAddr("127.0.0.1:0", srvTLS, &quic.Config{MaxIdleTimeout: time.Minute})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rawQUIC{ln: ln, cancel: cancel, done: make(chan struct{})}
	go r.serve(ctx)
	cliTLS := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", NextProtos: []string{"rustmq"}, MinVersion: tls.VersionTLS13}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	r.client, err = quic.DialAddr(dctx, ln.Addr().String(), cliTLS, &quic.Config{MaxIdleTimeout: time.Minute})
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// serve answers every stream like the broker frames a response: it reads the
// request to FIN and writes back a 14-byte produce-response-sized frame, or,
// for a request whose first byte is 0, just counts the bytes (bulk mode).
func (r *rawQUIC) serve(ctx context.Context) {
	defer close(r.done)
	for {
		conn, err := r.ln.Accept(ctx)
		if err != nil {
			return
		}
		go func() {
			for {
				s, err := conn.AcceptStream(ctx)
				if err != nil {
					return
				}
				go func() {
					var first [1]byte
					if _, err := io.ReadFull(s, first[:]); err != nil {
						s.CancelWrite(1)
						return
					}
					if first[0] == 0 {
						// Bulk: count without keeping the bytes.
						n, err := io.Copy(io.Discard, s)
						if err != nil {
							s.CancelWrite(1)
							return
						}
						_, _ = fmt.Fprintf(s, "%d", n+1)
					} else {
						if _, err := io.Copy(io.Discard, s); err != nil {
							s.CancelWrite(1)
							return
						}
						_, _ = s.Write(make([]byte, 14))
					}
					_ = s.Close()
				}()
			}
		}()
	}
}

// roundTrip performs one request: open a stream, write, FIN, read to FIN.
func (r *rawQUIC) roundTrip(ctx context.Context, req []byte) error {
	s, err := r.client.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := s.Write(req); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	resp, err := io.ReadAll(s)
	if err != nil {
		return err
	}
	if len(resp) == 0 {
		return errors.New("empty response")
	}
	return nil
}

// latency measures n sequential round trips with a request of size bytes,
// after as many unmeasured ones (up to 200) to warm the connection up, as
// the runtime's latency run does.
func (r *rawQUIC) latency(ctx context.Context, n, size int) (latencies, error) {
	req := make([]byte, size)
	req[0] = 1
	for range min(n, 200) {
		if err := r.roundTrip(ctx, req); err != nil {
			return nil, err
		}
	}
	lat := make(latencies, 0, n)
	for range n {
		start := time.Now()
		if err := r.roundTrip(ctx, req); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

// timedRoundTrip is one round trip with a request of size bytes, timed.
func (r *rawQUIC) timedRoundTrip(ctx context.Context, size int) (time.Duration, error) {
	req := make([]byte, size)
	req[0] = 1
	start := time.Now()
	err := r.roundTrip(ctx, req)
	return time.Since(start), err
}

// bulk writes total bytes on one stream and returns the rate in MB/s.
func (r *rawQUIC) bulk(ctx context.Context, total int) (float64, error) {
	chunk := make([]byte, 64<<10)
	s, err := r.client.OpenStreamSync(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for sent := 0; sent < total; sent += len(chunk) {
		if _, err := s.Write(chunk); err != nil {
			return 0, err
		}
	}
	if err := s.Close(); err != nil {
		return 0, err
	}
	if _, err := io.ReadAll(s); err != nil {
		return 0, err
	}
	return float64(total) / 1e6 / time.Since(start).Seconds(), nil
}

func (r *rawQUIC) Close() {
	if r.client != nil {
		_ = r.client.CloseWithError(0, "")
	}
	r.cancel()
	_ = r.ln.Close()
	<-r.done
}

// latencies is a sample of durations with percentile helpers.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	idx := int(p / 100 * float64(len(s)-1))
	return s[idx]
}
