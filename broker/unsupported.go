package broker

// Request types this broker does not serve: the consumer-group requests
// 4..9 that upstream implements (join, sync, heartbeat, leave, offset
// commit and fetch) and every unknown type. Both are answered with an error
// frame, 0xFF "Error: <message>", which is also what upstream answers for a
// type it does not know.
//
// Departure from upstream: upstream serves types 4..9; this broker is a
// producer-side test peer and does not.

import (
	"fmt"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func (n *node) handleUnsupported(typ byte) reply {
	if inj := n.b.faults.take(typ, nil, -1); inj != nil {
		return injectedReply(inj, typ)
	}
	if typ >= 4 && typ <= 9 {
		return reply{frame: wire.AppendErrorFrame(nil, fmt.Sprintf("unsupported request type %d: consumer-group requests are not served by the development broker", typ))}
	}
	return reply{frame: wire.AppendErrorFrame(nil, fmt.Sprintf("unknown request type %d", typ))}
}
