package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Ping asks every bootstrap broker for its metadata, through the runtime's
// own connections (dialling them if they are not up), and reports whether
// they answer: nil as soon as one has answered. When none could, the error
// is an *UnreachableError (errors.Is ErrUnreachable) listing each broker's
// failure as a message waiting for metadata would get it: the dial's
// error (connection refused, no such host, a TLS verification failure) or
// the broker's answer. A broker whose connection is being re-dialled after
// a failure is asked once its next dial ends. If ctx ends first, Ping
// returns its cause, joined with the failures seen until then. After
// Close it returns ErrClosed.
//
// Ping suits readiness checks and start-up diagnostics; producers need no
// Ping before sending.
func (r *Runtime) Ping(ctx context.Context) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	type answer struct {
		addr string
		err  error
	}
	body := (&wire.MetadataRequest{}).Append(nil)
	answers := make(chan answer, len(r.cfg.Brokers))
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, addr := range r.cfg.Brokers {
		go func() {
			_, err := r.queryMetadata(qctx, addr, body)
			answers <- answer{addr: addr, err: err}
		}()
	}
	failures := make(map[string]error, len(r.cfg.Brokers))
	for range r.cfg.Brokers {
		select {
		case a := <-answers:
			if a.err == nil {
				return nil
			}
			failures[a.addr] = a.err
		case <-ctx.Done():
			errs := []error{fmt.Errorf("rustmq: ping: %w", context.Cause(ctx))}
			for _, addr := range r.cfg.Brokers {
				if err := failures[addr]; err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", addr, err))
				}
			}
			return errors.Join(errs...)
		}
	}
	ue := &UnreachableError{}
	dials := make(map[string]int)
	for _, h := range r.health.Snapshot() {
		dials[h.Addr] = h.DialFailures
	}
	for _, addr := range r.cfg.Brokers {
		ue.Brokers = append(ue.Brokers, BrokerFailure{Addr: addr, Dials: dials[addr], Err: failures[addr]})
	}
	return ue
}
