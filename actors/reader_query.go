package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// NewQueryProps returns the props of an actor that sends req to the
// connection actor conn with itself as the reply-to, hands the *[Response]
// to deliver, and stops. deliver runs on the actor's goroutine and must not
// block. It serves one-off requests made on behalf of a caller, such as the
// runtime's Metadata query; stop the actor to abandon the request.
func NewQueryProps(conn *actor.PID, req Request, deliver func(*Response)) *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			r := req
			r.ReplyTo = c.Self()
			c.Send(conn, &r)
		case *Response:
			deliver(m)
			c.Stop(c.Self())
		}
	})
}
