package broker

// Capabilities (request type 33, this project's extension) tells a client
// which extensions this broker serves: "idempotence" (rmq-pid/rmq-seq are
// honoured), "reorder-window" (while Config.IdempotenceReorderWindow is
// not negative), "authenticate" (when Config.Auth is set) and
// "whole-requests" (every request is read to its FIN). The answer carries
// wire.CapabilitiesVersion whatever version the client sent.
//
// It is served before authentication, also when Auth.Required, like
// Authenticate itself: a client probes first and then knows whether to
// authenticate. A body that does not decode is answered 0xFF.
//
// Departures from upstream: upstream does not know type 33 and drops the
// stream without an answer; a client tells the two brokers apart that way.

import (
	"github.com/rustmq/rustmq-go/transport/wire"
)

// features lists what this broker serves, in a stable order.
func (b *Broker) features() []string {
	out := []string{wire.FeatureIdempotence}
	if b.cfg.IdempotenceReorderWindow >= 0 {
		out = append(out, wire.FeatureReorderWindow)
	}
	if b.cfg.Auth != nil {
		out = append(out, wire.FeatureAuthenticate)
	}
	return append(out, wire.FeatureWholeRequests)
}

func (n *node) handleCapabilities(body []byte) reply {
	var req wire.CapabilitiesRequest
	if err := req.Unmarshal(body); err != nil {
		return decodeError("CapabilitiesRequest", err)
	}
	b := n.b
	if inj := b.faults.take(wire.TypeCapabilities, nil, -1); inj != nil {
		return injectedReply(inj, wire.TypeCapabilities)
	}
	resp := wire.CapabilitiesResponse{Version: wire.CapabilitiesVersion, Features: b.features()}
	return reply{frame: resp.Append(wire.AppendFrame(make([]byte, 0, 1+resp.Size()), wire.TypeCapabilities))}
}
