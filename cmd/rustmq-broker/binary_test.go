package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/internal/proctest"

	"github.com/rustmq/rustmq-go/transport"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// The tests in this file build the binary and run it in child processes,
// so that SIGKILL and restarts are real.

// bin is the binary, built on first use and removed by TestMain.
var bin = proctest.Build(proctest.BrokerPkg)

// startProcess runs the binary with args and waits for its banner; it is
// killed with the test.
func startProcess(t *testing.T, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, bin.Path(t, "rustmq-broker"), args...)
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
