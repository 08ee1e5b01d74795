package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// A QUIC dial to a port where nothing listens gets no answer: the kernel
// answers its packets with ICMP "port unreachable", but quic-go reads from
// an unconnected socket, which is not told, so the dial retransmits until
// its timeout and reports "no recent network activity". The refusal watch
// below sends one empty datagram to the broker from a connected socket of
// its own, which is told: a refusal ends the dial at once with an error
// wrapping syscall.ECONNREFUSED. A QUIC server drops the datagram (it is no
// QUIC packet). Where ICMP is filtered or rate-limited nothing comes back
// and the dial runs its course as before.

// refusedError is the cause a refusal ends a dial with.
type refusedError struct {
	addr string
	err  error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("nothing listens on UDP %s: %v", e.addr, e.err)
}

func (e *refusedError) Unwrap() error { return e.err }

// watchRefused starts the refusal watch of a dial to addr and calls
// refused once if the kernel reports the port unreachable. stop ends the
// watch and waits for it.
func watchRefused(addr string, refused func(error)) (stop func()) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return func() {} // the dial reports the resolution failure itself
	}
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.Write(nil); err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				refused(&refusedError{addr: raddr.String(), err: err})
			}
			return
		}
		var buf [1]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					refused(&refusedError{addr: raddr.String(), err: err})
				}
				return
			}
		}
	}()
	return func() {
		_ = c.Close()
		<-done
	}
}

// dialContext returns a context for one handshake attempt to addr that
// ends, with the refusal as its cause, when the refusal watch hears that
// nothing listens there. finish releases both.
func dialContext(ctx context.Context, addr string) (context.Context, func()) {
	dctx, cancel := context.WithCancelCause(ctx)
	stop := watchRefused(addr, cancel)
	return dctx, func() {
		stop()
		cancel(nil)
	}
}

// refusal returns the refusal that ended dctx, nil if none did.
func refusal(dctx context.Context) error {
	if re, ok := errors.AsType[*refusedError](context.Cause(dctx)); ok {
		return re
	}
	return nil
}
