package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Application error codes the broker uses on QUIC connections and streams.
const (
	codeShutdown      quic.ApplicationErrorCode = 0x0
	codeDropped       quic.ApplicationErrorCode = 0x1
	codeTooLarge      quic.StreamErrorCode      = 0x10
	codeStreamAborted quic.StreamErrorCode      = 0x11
)

// errRefused is what the QUIC layer hears while RefuseConnections is on.
var errRefused = errors.New("broker: refusing connections (fault injection)")

// connection is one client's QUIC connection and what the broker knows of
// it: its principal, from the client certificate or from Authenticate.
type connection struct {
	c    *quic.Conn
	node *node

	mu          sync.Mutex
	principal   string    // "" = anonymous
	viaCert     bool      // principal came from a verified client certificate
	authExpires time.Time // zero = never
	authMech    string    // mechanism of an unfinished Authenticate exchange
	authSess    authSession
	active      map[byte]int // requests being handled, by type (Config.OnRequest only)
}

// authenticated reports whether the connection has a principal that has
// not expired.
func (c *connection) authenticated(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.principal != "" && (c.authExpires.IsZero() || now.Before(c.authExpires))
}

// principalName returns the principal used for ACL checks.
func (c *connection) principalName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.principal == "" || (!c.authExpires.IsZero() && time.Now().After(c.authExpires)) {
		return anonymousPrincipal
	}
	return c.principal
}

func (n *node) quicConfig() *quic.Config {
	return &quic.Config{
		MaxIncomingStreams:    1024,
		MaxIncomingUniStreams: -1,
	}
}

// start binds the node's UDP port and starts accepting connections.
func (n *node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return ErrNodeRunning
	}
	ua, err := net.ResolveUDPAddr("udp", n.listen)
	if err != nil {
		return fmt.Errorf("broker: %s: resolve %q: %w", n.id, n.listen, err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("broker: %s: listen on %s: %w", n.id, n.listen, err)
	}
	b := n.b
	tr := &quic.Transport{
		Conn:              udp,
		StatelessResetKey: &b.reset,
		ConnContext: func(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
			if b.faults.refusing(time.Now()) {
				return nil, errRefused
			}
			return n.trackHandshake(ctx), nil
		},
	}
	ln, err := tr.Listen(b.tlsConf, n.quicConfig())
	if err != nil {
		_ = tr.Close()
		_ = udp.Close()
		return fmt.Errorf("broker: %s: start QUIC listener: %w", n.id, err)
	}
	n.udp, n.tr, n.ln = udp, tr, ln
	n.listen = udp.LocalAddr().String()
	n.running = true
	n.wg.Add(1)
	go n.acceptLoop(ln)
	b.log.Info("node listening", "node", n.id, "addr", n.listen)
	return nil
}

// stopNode closes the listener and every connection, then waits for the
// node's goroutines to finish. With crash, the UDP socket is closed first,
// so that no CONNECTION_CLOSE (nor anything else) reaches the clients.
func (n *node) stopNode(crash bool) error {
	n.mu.Lock()
	if !n.running {
		n.mu.Unlock()
		return ErrNodeStopped
	}
	n.running = false
	for h := range n.handshakes {
		h.dropped = true
		delete(n.handshakes, h)
	}
	ln, tr, udp := n.ln, n.tr, n.udp
	conns := n.conns
	n.conns = map[*connection]struct{}{}
	n.mu.Unlock()

	var err error
	if crash {
		err = udp.Close()
	}
	_ = ln.Close()
	for c := range conns {
		_ = c.c.CloseWithError(codeShutdown, "broker node stopping")
	}
	_ = tr.Close()
	if !crash {
		err = udp.Close()
	}
	n.wg.Wait()
	n.b.log.Info("node stopped", "node", n.id, "crash", crash)
	return err
}

// handshake tracks a connection between ConnContext and Accept, so that
// DropConnections also ends connections whose client has finished the
// handshake but which the accept loop has not picked up yet.
type handshake struct{ dropped bool }

type handshakeKey struct{}

// trackHandshake registers a connection attempt until its handshake ends.
func (n *node) trackHandshake(ctx context.Context) context.Context {
	h := &handshake{}
	n.mu.Lock()
	n.handshakes[h] = struct{}{}
	n.mu.Unlock()
	context.AfterFunc(ctx, func() {
		n.mu.Lock()
		delete(n.handshakes, h)
		n.mu.Unlock()
	})
	return context.WithValue(ctx, handshakeKey{}, h)
}

// dropConnections closes every current connection of the node, including
// those still completing their handshake.
func (n *node) dropConnections(reason string) {
	n.mu.Lock()
	conns := n.conns
	n.conns = map[*connection]struct{}{}
	for h := range n.handshakes {
		h.dropped = true
		delete(n.handshakes, h)
	}
	n.mu.Unlock()
	for c := range conns {
		_ = c.c.CloseWithError(codeDropped, reason)
	}
	if len(conns) > 0 {
		n.b.log.Info("connections dropped", "node", n.id, "count", len(conns), "reason", reason)
	}
}

func (n *node) acceptLoop(ln *quic.Listener) {
	defer n.wg.Done()
	for {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		c := &connection{c: qc, node: n}
		if st := qc.ConnectionState().TLS; len(st.PeerCertificates) > 0 && len(st.VerifiedChains) > 0 {
			c.principal = st.PeerCertificates[0].Subject.CommonName
			c.viaCert = c.principal != ""
		}
		n.mu.Lock()
		h, _ := qc.Context().Value(handshakeKey{}).(*handshake)
		if h != nil {
			delete(n.handshakes, h)
		}
		if !n.running || (h != nil && h.dropped) {
			n.mu.Unlock()
			_ = qc.CloseWithError(codeDropped, "connection dropped")
			continue
		}
		n.conns[c] = struct{}{}
		n.wg.Add(1)
		n.mu.Unlock()
		n.b.log.Debug("connection accepted", "node", n.id, "remote", qc.RemoteAddr().String(), "principal", c.principal, "alpn", qc.ConnectionState().TLS.NegotiatedProtocol)
		go n.serveConn(c)
	}
}

func (n *node) serveConn(c *connection) {
	defer n.wg.Done()
	defer func() {
		n.mu.Lock()
		delete(n.conns, c)
		n.mu.Unlock()
	}()
	ctx := c.c.Context()
	for {
		s, err := c.c.AcceptStream(ctx)
		if err != nil {
			return
		}
		n.wg.Add(1)
		go n.serveStream(ctx, c, s)
	}
}

// serveStream reads one request to FIN (bounded by MaxRequestBytes) into a
// pooled buffer (reqbuf.go), answers it and closes the stream.
func (n *node) serveStream(ctx context.Context, c *connection, s *quic.Stream) {
	defer n.wg.Done()
	limit := n.b.cfg.MaxRequestBytes
	frame, buf, err := readRequest(s, limit)
	if err != nil {
		buf.release()
		s.CancelRead(codeStreamAborted)
		s.CancelWrite(codeStreamAborted)
		return
	}
	// The buffer goes back to the pool on every way out below, all of them
	// after the handler has returned and the answer (never built in the
	// request's memory) has been written or given up.
	if len(frame) == 0 || int64(len(frame)) > limit || recyclableRequest(frame[0]) {
		defer buf.release()
	}
	answered := func() {}
	if seen := n.b.cfg.OnRequest; seen != nil && len(frame) > 0 {
		typ := frame[0]
		c.mu.Lock()
		if c.active == nil {
			c.active = make(map[byte]int)
		}
		c.active[typ]++
		k, all := c.active[typ], 0
		for _, n := range c.active {
			all += n
		}
		c.mu.Unlock()
		// Counted out before the answer leaves, so that a client sending
		// its next request on the answer never overlaps this one.
		answered = func() {
			c.mu.Lock()
			c.active[typ]--
			c.mu.Unlock()
		}
		seen(RequestSeen{Type: typ, Bytes: len(frame), Concurrent: k, Others: all - k})
	}
	var rep reply
	if int64(len(frame)) > limit {
		rep.frame = wire.AppendErrorFrame(nil, fmt.Sprintf("request too large: more than %d bytes (the broker's maximum request size)", limit))
		s.CancelRead(codeTooLarge)
	} else {
		rep = n.dispatch(ctx, c, frame)
	}
	if d := n.b.faults.responseDelay() + rep.delay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	answered()
	switch {
	case rep.drop:
		_ = c.c.CloseWithError(codeDropped, "request dropped by fault injection")
		return
	case rep.reset:
		s.CancelRead(codeStreamAborted)
		s.CancelWrite(codeStreamAborted)
		return
	case len(rep.frame) == 0: // no answer: what quinn does with a dropped stream
		s.CancelRead(codeStreamAborted)
		_ = s.Close()
		return
	}
	if _, err := s.Write(rep.frame); err != nil {
		s.CancelWrite(codeStreamAborted)
		return
	}
	_ = s.Close()
}

// dispatch routes a request frame to its handler.
func (n *node) dispatch(ctx context.Context, c *connection, frame []byte) reply {
	typ, body, err := wire.SplitFrame(frame)
	if err != nil {
		return reply{frame: wire.AppendErrorFrame(nil, "empty request: a request is a type byte and a body")}
	}
	switch typ {
	case wire.TypeProduce:
		return n.handleProduce(ctx, c, body)
	case wire.TypeFetch:
		return n.handleFetch(ctx, c, body)
	case wire.TypeMetadata:
		return n.handleMetadata(c, body)
	case wire.TypeAuthenticate:
		return n.handleAuthenticate(c, body)
	case wire.TypeCapabilities:
		return n.handleCapabilities(body)
	default:
		return n.handleUnsupported(typ)
	}
}

// decodeError answers a request whose body does not decode.
func decodeError(what string, err error) reply {
	return reply{frame: wire.AppendErrorFrame(nil, fmt.Sprintf("cannot decode %s: %v", what, err))}
}
