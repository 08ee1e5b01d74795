package actors

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// ErrUnreachable is matched by every *[UnreachableError]: no bootstrap
// broker could be reached, and the runtime never was connected.
var ErrUnreachable = errors.New("rustmq: no broker reachable")

// ErrUpstreamBroker says a broker behaves like upstream RustMQ (Metadata
// lists no topics, extensions go unanswered) while the runtime is not in
// upstream mode: the error tells the user to switch it on.
var ErrUpstreamBroker = errors.New("rustmq: the broker behaves like upstream RustMQ")

// ErrInvalidMetadata is matched by every *[MetadataError].
var ErrInvalidMetadata = errors.New("rustmq: invalid metadata")

// BrokerFailure is one broker's part of an [UnreachableError].
type BrokerFailure struct {
	Addr string
	// Dials is how many dials in a row failed; 0 when the failure is not
	// a dial's (a broker that answered with an error).
	Dials int
	// Err is the last dial's failure.
	Err error
}

// UnreachableError fails the messages waiting for metadata when every
// bootstrap broker failed its dials, before the runtime ever connected: a
// broker that is not running, a wrong host or port, a certificate the
// client does not trust. It lists each broker's last failure;
// errors.Is matches ErrUnreachable and each failure (syscall.ECONNREFUSED,
// a *net.DNSError, ...).
type UnreachableError struct {
	Brokers []BrokerFailure
}

// Error implements the error interface.
func (e *UnreachableError) Error() string {
	var b strings.Builder
	b.WriteString(ErrUnreachable.Error())
	for i, f := range e.Brokers {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if f.Dials > 0 {
			fmt.Fprintf(&b, "%s: %d dials failed, the last with: %v", f.Addr, f.Dials, f.Err)
		} else {
			fmt.Fprintf(&b, "%s: %v", f.Addr, f.Err)
		}
	}
	return b.String()
}

// Unwrap returns ErrUnreachable and each broker's failure.
func (e *UnreachableError) Unwrap() []error {
	errs := make([]error, 0, 1+len(e.Brokers))
	errs = append(errs, ErrUnreachable)
	for _, f := range e.Brokers {
		if f.Err != nil {
			errs = append(errs, f.Err)
		}
	}
	return errs
}

// MetadataError says a broker's metadata about Topic cannot be believed:
// partition ids that are not 0..n-1, more partitions than the runtime
// accepts, a leader that is not among the listed brokers, or a leader
// listed with an unusable address. The metadata in force before stays in
// force; a topic with none fails its waiting messages with it. It matches
// ErrInvalidMetadata.
type MetadataError struct {
	Topic  string
	Broker string // the broker that answered
	Reason string
}

// Error implements the error interface.
func (e *MetadataError) Error() string {
	return fmt.Sprintf("%v for topic %q from %s: %s", ErrInvalidMetadata, e.Topic, e.Broker, e.Reason)
}

// Unwrap returns ErrInvalidMetadata.
func (e *MetadataError) Unwrap() error { return ErrInvalidMetadata }

// quoteShort quotes a name a broker sent for an error text, cut so that a
// hostile broker cannot make the text long.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return fmt.Sprintf("%q…", wire.TruncateErrorText(s[:limit]))
	}
	return fmt.Sprintf("%q", s)
}
