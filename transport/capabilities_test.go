package transport

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// capsHandler answers type 33 with answer (a raw frame; nil means the
// handler dealt with the stream) and echoes everything else.
func capsHandler(answer func(r *request) []byte) handler {
	return func(r *request) []byte {
		if r.Type != wire.TypeCapabilities {
			return echo(r)
		}
		return answer(r)
	}
}

func TestCapabilitiesAnswered(t *testing.T) {
	s := startServer(t, serverOpts{handler: capsHandler(func(r *request) []byte {
		var req wire.CapabilitiesRequest
		if err := req.Unmarshal(r.Body); err != nil || req.Version != wire.CapabilitiesVersion {
			return wire.AppendErrorFrame(nil, "bad probe")
		}
		resp := wire.CapabilitiesResponse{Version: 3, Features: []string{wire.FeatureIdempotence, "from-the-future"}}
		return resp.Append([]byte{wire.TypeCapabilities})
	})})
	// A MaxRequestBytes below the probe's size does not refuse it.
	c := dial(t, testDialer(t, s, Config{MaxRequestBytes: 1}), s)
	caps, err := c.Capabilities(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Capabilities{Supported: true, Version: 3, Features: []string{"idempotence", "from-the-future"}}
	if !reflect.DeepEqual(caps, want) {
		t.Fatalf("Capabilities = %+v, want %+v", caps, want)
	}
	if !caps.Has(wire.FeatureIdempotence) || caps.Has(wire.FeatureAuthenticate) {
		t.Fatalf("Has wrong for %v", caps.Features)
	}
}

// TestCapabilitiesUnsupported plays the ways a broker that does not know
// type 33 can end the probe's stream. Upstream RustMQ fails to parse the
// request type and drops both halves of the stream: quinn then finishes
// the send half (the client reads an empty answer and FIN) and stops the
// receive half. Each must come back as "not supported" with a nil error,
// not as a failure or a timeout, and leave the connection usable.
func TestCapabilitiesUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name, declined string
		answer         func(r *request) []byte
	}{
		{"empty answer", "empty answer", func(*request) []byte { return []byte{} }},
		{"dropped like quinn", "empty answer", func(r *request) []byte {
			r.Stream.CancelRead(0)
			return []byte{}
		}},
		{"stream reset", "stream reset", func(r *request) []byte {
			r.Stream.CancelRead(0)
			r.Stream.CancelWrite(0)
			return nil
		}},
		{"error frame", "error frame: unknown request type 33", func(*request) []byte {
			return wire.AppendErrorFrame(nil, "unknown request type 33")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverOpts{handler: capsHandler(tc.answer)})
			c := dial(t, testDialer(t, s, Config{}), s)
			// testCtx bounds the call: a probe that waited for a timeout
			// would fail with the context's error, not return nil.
			caps, err := c.Capabilities(testCtx(t))
			if err != nil {
				t.Fatalf("Capabilities: %v", err)
			}
			if caps.Supported || caps.Features != nil || caps.Version != 0 || !bytes.HasPrefix([]byte(caps.Declined), []byte(tc.declined)) {
				t.Fatalf("Capabilities = %+v, want unsupported, declined %q", caps, tc.declined)
			}
			if c.Context().Err() != nil {
				t.Fatalf("the probe ended the connection: %v", c.Context().Err())
			}
			got, err := c.Do(testCtx(t), wire.TypeProduce, []byte("after the probe"))
			if err != nil || string(got) != "after the probe" {
				t.Fatalf("Do after the probe: %q, %v", got, err)
			}
		})
	}
}

func TestCapabilitiesFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(r *request) []byte
	}{
		{"wrong type", func(*request) []byte { return []byte{wire.TypeMetadata, 0} }},
		{"undecodable body", func(*request) []byte { return []byte{wire.TypeCapabilities, 1, 0} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverOpts{handler: capsHandler(tc.answer)})
			c := dial(t, testDialer(t, s, Config{}), s)
			_, err := c.Capabilities(testCtx(t))
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("got %v, want ErrMalformedResponse", err)
			}
		})
	}
	t.Run("connection lost", func(t *testing.T) {
		s := startServer(t, serverOpts{handler: capsHandler(func(r *request) []byte {
			_ = r.Conn.CloseWithError(5, "gone")
			return nil
		})})
		c := dial(t, testDialer(t, s, Config{}), s)
		_, err := c.Capabilities(testCtx(t))
		errAs[*ConnError](t, err)
	})
}
