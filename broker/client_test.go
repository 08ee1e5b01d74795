package broker

// A minimal client written from docs/protocol.md with quic-go and the wire
// codec only: one bidirectional stream per request, [type][body] then FIN,
// the answer read to FIN. It doubles as the independent client the broker's
// tests go through (the transport package is not used here).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rustmq/rustmq-go/transport/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testClient struct {
	conn *quic.Conn
}

// errorFrame is a 0xFF answer.
type errorFrame struct{ text string }

func (e *errorFrame) Error() string { return "error frame: " + e.text }

func clientTLS(pool *x509.CertPool, alpn ...string) *tls.Config {
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: alpn, MinVersion: tls.VersionTLS13}
}

func dialTLS(ctx context.Context, addr string, tc *tls.Config) (*testClient, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, addr, tc, &quic.Config{HandshakeIdleTimeout: 3 * time.Second})
	if err != nil {
		return nil, err
	}
	return &testClient{conn: c}, nil
}

// dial connects to addr trusting b's generated CA, offering ALPN "rustmq".
func dial(t testing.TB, b *Broker, addr string) *testClient {
	t.Helper()
	c, err := dialTLS(context.Background(), addr, clientTLS(b.CAPool(), ALPN))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *testClient) close() { _ = c.conn.CloseWithError(0, "") }

// roundTrip sends one raw frame and returns the raw answer.
func (c *testClient) roundTrip(frame []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	// A write refused by the broker (STOP_SENDING after a request that is too
	// large) still leaves its answer to read.
	var se *quic.StreamError
	if _, err := s.Write(frame); err != nil && !errors.As(err, &se) {
		return nil, err
	}
	// Close fails too when the STOP_SENDING comes between the write and
	// it ("close called for canceled stream", not a *quic.StreamError):
	// the answer is still there to read, and only without one does the
	// send side's error count.
	closeErr := s.Close()
	resp, err := io.ReadAll(s)
	if err != nil && closeErr != nil && !errors.As(closeErr, &se) {
		return nil, closeErr
	}
	return resp, err
}

// do sends a typed request and returns the answer's body, or *errorFrame.
func (c *testClient) do(typ byte, body []byte) ([]byte, error) {
	resp, err := c.roundTrip(append([]byte{typ}, body...))
	if err != nil {
		return nil, err
	}
	rt, rb, err := wire.SplitFrame(resp)
	if err != nil {
		return nil, err
	}
	if rt == wire.TypeError {
		return nil, &errorFrame{text: string(rb)}
	}
	if rt != typ {
		return nil, fmt.Errorf("answer type %d to request type %d", rt, typ)
	}
	return rb, nil
}

func (c *testClient) produce(req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
	body, err := c.do(wire.TypeProduce, req.Append(nil))
	if err != nil {
		return nil, err
	}
	var r wire.ProduceResponse
	return &r, r.Unmarshal(body)
}

func (c *testClient) fetch(req *wire.FetchRequest) (*wire.FetchResponse, error) {
	body, err := c.do(wire.TypeFetch, req.Append(nil))
	if err != nil {
		return nil, err
	}
	var r wire.FetchResponse
	return &r, r.Unmarshal(body)
}

func (c *testClient) metadata(topics ...string) (*wire.MetadataResponse, error) {
	req := wire.MetadataRequest{Topics: topics}
	body, err := c.do(wire.TypeMetadata, req.Append(nil))
	if err != nil {
		return nil, err
	}
	var r wire.MetadataResponse
	return &r, r.Unmarshal(body)
}

func (c *testClient) authenticate(mech string, payload []byte) (*wire.AuthenticateResponse, error) {
	req := wire.AuthenticateRequest{Mechanism: mech, Payload: payload}
	body, err := c.do(wire.TypeAuthenticate, req.Append(nil))
	if err != nil {
		return nil, err
	}
	var r wire.AuthenticateResponse
	return &r, r.Unmarshal(body)
}

// mustProduce produces and fails the test on a transport error.
func (c *testClient) mustProduce(t testing.TB, req *wire.ProduceRequest) *wire.ProduceResponse {
	t.Helper()
	r, err := c.produce(req)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return r
}

func records(values ...string) []wire.Record {
	out := make([]wire.Record, len(values))
	for i, v := range values {
		out[i] = wire.Record{Value: []byte(v), Timestamp: 1700000000000}
	}
	return out
}

// idem stamps the idempotence headers on a batch's first record.
func idem(recs []wire.Record, pid, seq uint64) []wire.Record {
	p, s := make([]byte, 8), make([]byte, 8)
	binary.BigEndian.PutUint64(p, pid)
	binary.BigEndian.PutUint64(s, seq)
	recs[0].Headers = append(recs[0].Headers, wire.Header{Key: wire.HeaderProducerID, Value: p}, wire.Header{Key: wire.HeaderSequence, Value: s})
	return recs
}

func startBroker(t testing.TB, cfg Config) *Broker {
	t.Helper()
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func wantCode(t testing.TB, what string, got uint32, msg *string, want uint32) {
	t.Helper()
	if got != want {
		m := "<nil>"
		if msg != nil {
			m = *msg
		}
		t.Fatalf("%s: error_code %d (%s), want %d", what, got, m, want)
	}
}

func isErrorFrame(err error) (string, bool) {
	var ef *errorFrame
	if errors.As(err, &ef) {
		return ef.text, true
	}
	return "", false
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func (c *testClient) capabilities() (*wire.CapabilitiesResponse, error) {
	req := wire.CapabilitiesRequest{Version: wire.CapabilitiesVersion}
	body, err := c.do(wire.TypeCapabilities, req.Append(nil))
	if err != nil {
		return nil, err
	}
	var r wire.CapabilitiesResponse
	return &r, r.Unmarshal(body)
}
