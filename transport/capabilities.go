package transport

import (
	"context"
	"errors"
	"fmt"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Capabilities is a broker's answer to the capabilities probe (request
// type 33, an extension of this project; see package wire).
type Capabilities struct {
	// Supported reports whether the broker answered the probe. False means
	// it does not know request type 33, as upstream RustMQ does not: it
	// ended the stream without an answer, reset it, or answered with an
	// error frame. Such a broker serves none of this project's extensions
	// reliably and should be treated like upstream.
	Supported bool
	// Version is the broker's version of the exchange (0 when not
	// Supported).
	Version uint32
	// Features are the feature names the broker listed (the wire.Feature*
	// constants, and possibly names this package does not know); nil when
	// not Supported.
	Features []string
	// Declined says, when Supported is false, how the broker declined, for
	// logs: "empty answer", "stream reset: ..." or the text of its error
	// frame.
	Declined string
}

// Has reports whether the broker listed feature (a wire.Feature* name).
func (c Capabilities) Has(feature string) bool {
	for _, f := range c.Features {
		if f == feature {
			return true
		}
	}
	return false
}

// Capabilities probes which extensions the broker serves. It sends a
// CapabilitiesRequest with wire.CapabilitiesVersion on its own stream (not
// subject to Config.MaxRequestBytes) and needs no prior authentication.
//
// A broker that does not know the request type (upstream RustMQ drops the
// stream unanswered, so the client reads an empty answer or sees the
// stream reset) yields Capabilities{Supported: false} and a nil error as
// soon as that answer arrives, and the connection stays usable. An error
// is returned only when the probe itself failed: the caller's context
// ended (the broker neither answered nor dropped the stream in time), the
// connection is lost ([*ConnError]), the answer outgrew the limit
// ([ErrResponseTooLarge]), or it is not a CapabilitiesResponse
// ([ErrMalformedResponse]).
func (c *Conn) Capabilities(ctx context.Context) (Capabilities, error) {
	req := wire.CapabilitiesRequest{Version: wire.CapabilitiesVersion}
	frame, err := c.exchange(ctx, wire.TypeCapabilities, req.Append(make([]byte, 0, req.Size())))
	if err != nil {
		if se, ok := errors.AsType[*StreamError](err); ok {
			return Capabilities{Declined: "stream reset: " + se.Err.Error()}, nil
		}
		return Capabilities{}, err
	}
	if len(frame) == 0 {
		return Capabilities{Declined: "empty answer"}, nil
	}
	body, err := parseResponse(c.addr, wire.TypeCapabilities, frame)
	if err != nil {
		if be, ok := errors.AsType[*BrokerError](err); ok {
			return Capabilities{Declined: "error frame: " + be.Message}, nil
		}
		return Capabilities{}, err
	}
	var resp wire.CapabilitiesResponse
	if err := resp.Unmarshal(body); err != nil {
		return Capabilities{}, fmt.Errorf("%w: capabilities response from %s: %w", ErrMalformedResponse, c.addr, err)
	}
	return Capabilities{Supported: true, Version: resp.Version, Features: resp.Features}, nil
}
