package actors

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
)

// NewQueryProps returns the props of an actor that asks the connections
// supervisor conns for the connection actor of addr, sends it req with
// itself as the reply-to, hands the *[Response] to deliver, and stops.
// deliver runs on the actor's goroutine and must not block. It serves
// one-off requests made on behalf of a caller, such as the runtime's
// Metadata query; stop the actor to abandon the request. (It asks the
// supervisor first because a request sent to a connection actor not yet
// spawned would reach the dead letters and never be answered.)
func NewQueryProps(conns *actor.PID, addr string, req Request, deliver func(*Response)) *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.Send(conns, &EnsureConn{Addr: addr, ReplyTo: c.Self(), Once: true})
		case *ConnReady:
			if m.Err != nil || m.PID == nil {
				deliver(&Response{Addr: addr, Err: fmt.Errorf("%w: %s: %v", ErrNotConnected, addr, m.Err)})
				c.Stop(c.Self())
				return
			}
			r := req
			r.ReplyTo = c.Self()
			c.Send(m.PID, &r)
		case *Response:
			deliver(m)
			c.Stop(c.Self())
		}
	})
}
