package wire

import (
	"errors"
	"strconv"
)

// Error is one protocol error code of docs/protocol.md's table. The table's values are
// exported as Err* variables; a broker's answer is wrapped in a
// *ResponseError that unwraps to them, so errors.Is(err, wire.ErrNotLeader)
// works on anything the runtime returns.
type Error struct {
	Code        uint32
	Name        string // Kafka-style upper-case name, e.g. NOT_LEADER_FOR_PARTITION
	Retriable   bool   // the "R" column of docs/protocol.md
	Description string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Name + ": " + e.Description }

// The error-code table of docs/protocol.md, line by line.
var (
	ErrUnknownServerError       = &Error{1, "UNKNOWN_SERVER_ERROR", true, "unknown server error"}
	ErrCorruptMessage           = &Error{2, "CORRUPT_MESSAGE", false, "corrupt message"}
	ErrUnknownTopicOrPartition  = &Error{3, "UNKNOWN_TOPIC_OR_PARTITION", true, "unknown topic or partition"}
	ErrNotLeader                = &Error{6, "NOT_LEADER_FOR_PARTITION", true, "not leader for partition"}
	ErrRequestTimedOut          = &Error{7, "REQUEST_TIMED_OUT", true, "request timed out"}
	ErrMessageTooLarge          = &Error{10, "MESSAGE_TOO_LARGE", false, "message too large"}
	ErrNotEnoughReplicas        = &Error{19, "NOT_ENOUGH_REPLICAS", true, "not enough replicas"}
	ErrTopicAuthorizationFailed = &Error{29, "TOPIC_AUTHORIZATION_FAILED", false, "topic authorization failed"}
	ErrUnsupportedSASLMechanism = &Error{33, "UNSUPPORTED_SASL_MECHANISM", false, "unsupported SASL mechanism"}
	ErrOutOfOrderSequence       = &Error{45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false, "out of order sequence number"}
	ErrSASLAuthenticationFailed = &Error{58, "SASL_AUTHENTICATION_FAILED", false, "SASL authentication failed"}
	ErrInvalidRecord            = &Error{87, "INVALID_RECORD", false, "invalid record"}
)

var codeTable = map[uint32]*Error{}

func init() {
	for _, e := range []*Error{
		ErrUnknownServerError, ErrCorruptMessage, ErrUnknownTopicOrPartition,
		ErrNotLeader, ErrRequestTimedOut, ErrMessageTooLarge, ErrNotEnoughReplicas,
		ErrTopicAuthorizationFailed, ErrUnsupportedSASLMechanism,
		ErrOutOfOrderSequence, ErrSASLAuthenticationFailed, ErrInvalidRecord,
	} {
		codeTable[e.Code] = e
	}
}

// ErrorForCode returns the table entry for code, nil for 0, and for a code
// the table does not know a new *Error named UNKNOWN_CODE_<n> that is not
// retriable (an unknown answer is not one we can reason about).
func ErrorForCode(code uint32) *Error {
	if code == 0 {
		return nil
	}
	if e, ok := codeTable[code]; ok {
		return e
	}
	return &Error{Code: code, Name: "UNKNOWN_CODE_" + strconv.FormatUint(uint64(code), 10), Description: "error code not known to this client"}
}

// ResponseError is a non-zero error_code answered by a broker, with the
// broker's own message when it sent one. It unwraps to the table's *Error.
type ResponseError struct {
	Err *Error
	// Message is error_message, "" when the broker sent None, cut to
	// MaxErrorTextBytes by ResponseErr (see TruncateErrorText).
	Message string
}

// Error implements the error interface.
func (e *ResponseError) Error() string {
	if e.Message == "" {
		return "rustmq: broker answered " + e.Err.Name
	}
	return "rustmq: broker answered " + e.Err.Name + ": " + e.Message
}

// Unwrap returns the table entry, so errors.Is matches Err* values.
func (e *ResponseError) Unwrap() error { return e.Err }

// ResponseErr turns an error_code/error_message pair into an error: nil for
// code 0, a *ResponseError otherwise, whose Message is error_message cut
// to MaxErrorTextBytes (TruncateErrorText).
func ResponseErr(code uint32, message *string) error {
	if code == 0 {
		return nil
	}
	re := &ResponseError{Err: ErrorForCode(code)}
	if message != nil {
		re.Message = TruncateErrorText(*message)
	}
	return re
}

// IsRetriable reports whether err carries a protocol error code that docs/protocol.md
// marks retriable. Errors without a protocol code report false; transport
// failures are classified by the transport package.
func IsRetriable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retriable
}
