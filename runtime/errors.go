package runtime

import (
	"errors"
	"fmt"

	"github.com/rustmq/rustmq-go/actors"
)

// Sentinel errors for errors.Is. Results and returned errors wrap them.
var (
	// ErrClosed: the producer or runtime is closed (Send after Close), or a
	// message was still pending when Close's context ended.
	ErrClosed = actors.ErrClosed
	// ErrBufferFull: the producer's buffer is full and FailWhenFull is set.
	ErrBufferFull = errors.New("rustmq: producer buffer full")
	// ErrDeliveryTimeout: the message was not acknowledged within the
	// producer's DeliveryTimeout.
	ErrDeliveryTimeout = actors.ErrDeliveryTimeout
	// ErrEmptyTopic: neither the message nor the producer names a topic.
	ErrEmptyTopic = errors.New("rustmq: empty topic")
	// ErrNilMessage: a nil *Message was given.
	ErrNilMessage = errors.New("rustmq: nil message")
	// ErrMessageTooLarge is matched by every *MessageTooLargeError.
	ErrMessageTooLarge = errors.New("rustmq: message too large")
	// ErrInvalidConfig is matched by every *ConfigError.
	ErrInvalidConfig = errors.New("rustmq: invalid configuration")
	// ErrInvalidPayload: the message's payload could not be built (for
	// instance, PayloadJSON failed to marshal); matched by *PayloadError.
	ErrInvalidPayload = errors.New("rustmq: invalid payload")
	// ErrInvalidPartition: an explicit partition the topic does not have.
	ErrInvalidPartition = actors.ErrInvalidPartition
	// ErrUnknownTopic: the brokers' metadata does not list the topic, it
	// has no static partition count, and Config.UnknownTopicGrace has
	// passed. The error names the topic.
	ErrUnknownTopic = actors.ErrUnknownTopic
	// ErrUpstreamBroker: a broker behaves like upstream RustMQ (its
	// Metadata lists no topics and it left the capabilities probe
	// unanswered) while Config.Upstream is off. Messages for a topic it
	// does not list fail with an error matching it and ErrUnknownTopic,
	// saying to set Config.Upstream and StaticPartitions.
	ErrUpstreamBroker = actors.ErrUpstreamBroker
	// ErrUnreachable is matched by every *UnreachableError: no bootstrap
	// broker could be reached (see Config.UnreachableDials).
	ErrUnreachable = actors.ErrUnreachable
	// ErrInvalidMetadata is matched by every *MetadataError.
	ErrInvalidMetadata = actors.ErrInvalidMetadata
	// ErrActorFailed: an actor of the producer panicked while it held the
	// message and could not hand it on (the message it was routing, or a
	// batcher its supervisor gave up on), or the producer's router was
	// stopped after repeated failures.
	ErrActorFailed = actors.ErrActorFailed
	// ErrInvalidMessage: a message breaks a rule of the wire format: a
	// topic name that is not UTF-8 or longer than wire.MaxTopicNameBytes
	// (wrapping a *wire.NameError matching wire.ErrInvalidTopic), a header
	// key that is empty or not UTF-8 (wire.ErrInvalidHeaderKey), a
	// timestamp before 1970. Such a message is refused at Send and never
	// reaches a request, where the broker would refuse the whole request.
	ErrInvalidMessage = errors.New("rustmq: invalid message")
)

// ConfigError names a configuration field whose value cannot be used.
type ConfigError struct {
	Field  string
	Value  any
	Reason string
	// Err is the underlying validation error, if any.
	Err error
}

// Error implements the error interface.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("rustmq: invalid configuration: %s = %v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns ErrInvalidConfig and the underlying error.
func (e *ConfigError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidConfig, e.Err}
	}
	return []error{ErrInvalidConfig}
}

// MessageTooLargeError says a message exceeds the producer's
// MaxMessageBytes. errors.Is(err, ErrMessageTooLarge) matches it.
type MessageTooLargeError struct {
	// Size is the message's size as written in a produce request (see
	// ProducerConfig.MaxMessageBytes); Max is the limit.
	Size, Max int
}

// Error implements the error interface.
func (e *MessageTooLargeError) Error() string {
	return fmt.Sprintf("rustmq: message too large: %d bytes as written (key, value, headers and record framing), limit %d", e.Size, e.Max)
}

// Is reports whether target is ErrMessageTooLarge.
func (e *MessageTooLargeError) Is(target error) bool { return target == ErrMessageTooLarge }

// PayloadError says a message's payload could not be built.
type PayloadError struct {
	Err error
}

// Error implements the error interface.
func (e *PayloadError) Error() string { return "rustmq: invalid payload: " + e.Err.Error() }

// Unwrap returns ErrInvalidPayload and the cause.
func (e *PayloadError) Unwrap() []error { return []error{ErrInvalidPayload, e.Err} }

// AuthorizationError says the broker refused an operation on a topic
// (error code 29). Err is the broker's answer.
type AuthorizationError struct {
	Topic string
	// Op is the refused operation ("WRITE" for produce).
	Op string
	// Principal is the identity the connection authenticated as, "" when
	// unknown or anonymous.
	Principal string
	Err       error
}

// Error implements the error interface.
func (e *AuthorizationError) Error() string {
	who := e.Principal
	if who == "" {
		who = "anonymous"
	}
	return fmt.Sprintf("rustmq: not authorized: %s may not %s topic %q: %v", who, e.Op, e.Topic, e.Err)
}

// Unwrap returns the broker's answer.
func (e *AuthorizationError) Unwrap() error { return e.Err }

// UnreachableError fails messages when no bootstrap broker could be
// reached before the runtime ever connected (see Config.UnreachableDials),
// and is what Ping returns then. It lists each broker's last dial failure;
// errors.Is matches ErrUnreachable and each failure (for instance
// syscall.ECONNREFUSED, or a *net.DNSError via errors.As).
type UnreachableError = actors.UnreachableError

// BrokerFailure is one broker's entry in an *UnreachableError.
type BrokerFailure = actors.BrokerFailure

// UpstreamRefusal is, in upstream mode (Config.Upstream), upstream
// RustMQ's error text for a failed Produce as the runtime classified it:
// whether the broker applied nothing (Retriable) and why. It unwraps to
// the *transport.BrokerError holding the text and, for "Partition not
// found" and "Not leader for partition", to wire.ErrUnknownTopicOrPartition
// and wire.ErrNotLeader.
type UpstreamRefusal = actors.UpstreamRefusal

// MetadataError says a broker's metadata about a topic was not believed
// (see Config.MaxPartitions); errors.Is matches ErrInvalidMetadata.
type MetadataError = actors.MetadataError

// ProduceError is the failure of a produce request as it reaches a message:
// the broker or transport error with topic, partition and broker address.
// errors.Is matches the wire package's error-code values through it.
type ProduceError = actors.ProduceError

// BatchError is SendBatch's error when some of its messages failed: Failed
// counts them, and errors.Is/As see every distinct failure. Each message's
// own error is in its Result.Err.
type BatchError struct {
	Failed, Total int
	Errs          []error // distinct failures, in order of first occurrence
}

// Error implements the error interface.
func (e *BatchError) Error() string {
	return fmt.Sprintf("rustmq: %d of %d messages failed; first: %v", e.Failed, e.Total, e.Errs[0])
}

// Unwrap returns the distinct failures.
func (e *BatchError) Unwrap() []error { return e.Errs }
