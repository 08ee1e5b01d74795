package wire

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// MaxTopicNameBytes is the longest topic name ValidateTopic accepts, as
// Kafka bounds it.
const MaxTopicNameBytes = 249

// Sentinels matched by the errors of the validators below.
var (
	// ErrInvalidTopic: a topic name a broker cannot be asked about (see
	// ValidateTopic).
	ErrInvalidTopic = errors.New("invalid topic name")
	// ErrInvalidHeaderKey: a record header key a broker refuses (see
	// ValidateHeaderKey).
	ErrInvalidHeaderKey = errors.New("invalid header key")
	// ErrOffsetOverflow: a broker answered an offset that does not fit in
	// an int64 (see ProduceResponse.BaseOffset).
	ErrOffsetOverflow = errors.New("offset beyond int64")
)

// NameError reports a topic name or header key that breaks the protocol's
// rules. It matches ErrInvalidTopic or ErrInvalidHeaderKey (Err).
type NameError struct {
	Err    error  // ErrInvalidTopic or ErrInvalidHeaderKey
	Name   string // the offending name, printed quoted (invalid UTF-8 escaped)
	Reason string
}

// Error implements the error interface.
func (e *NameError) Error() string {
	return "rustmq: " + e.Err.Error() + " " + strconv.Quote(e.Name) + ": " + e.Reason
}

// Unwrap returns the sentinel.
func (e *NameError) Unwrap() error { return e.Err }

// ValidateTopic checks a topic name before it goes into a request: it must
// be non-empty, valid UTF-8 (a String field; a broker refuses the whole
// request otherwise, so one bad name would poison every Metadata request
// that lists it) and at most MaxTopicNameBytes bytes long. Brokers may
// restrict names further (the development broker creates only names of
// [a-zA-Z0-9._-]); those are answered as unknown topics, not refused.
// The error is a *NameError matching ErrInvalidTopic.
func ValidateTopic(name string) error {
	var reason string
	switch {
	case name == "":
		reason = "empty"
	case !utf8.ValidString(name):
		reason = "not valid UTF-8"
	case len(name) > MaxTopicNameBytes:
		reason = strconv.Itoa(len(name)) + " bytes, more than " + strconv.Itoa(MaxTopicNameBytes)
	default:
		return nil
	}
	if len(name) > MaxTopicNameBytes {
		name = cutAtRune(name, MaxTopicNameBytes) + "..."
	}
	return &NameError{Err: ErrInvalidTopic, Name: name, Reason: reason}
}

// ValidateHeaderKey checks a record header key: it must be valid UTF-8 (a
// String field, refused with the whole request otherwise) and non-empty
// (the development broker refuses empty keys with code 87, failing every
// record of the batch). The error is a *NameError matching
// ErrInvalidHeaderKey.
func ValidateHeaderKey(key string) error {
	var reason string
	switch {
	case key == "":
		reason = "empty"
	case !utf8.ValidString(key):
		reason = "not valid UTF-8"
	default:
		return nil
	}
	if len(key) > MaxErrorTextBytes {
		key = cutAtRune(key, MaxErrorTextBytes) + "..."
	}
	return &NameError{Err: ErrInvalidHeaderKey, Name: key, Reason: reason}
}

// OffsetError reports a base offset that cannot be represented: the
// offset of the batch's last record, Base + Records - 1, exceeds
// math.MaxInt64, so it would turn negative (and -1 means "no offset"). It
// matches ErrOffsetOverflow.
type OffsetError struct {
	Base    uint64 // the offset the broker answered
	Records int    // records in the batch
}

// Error implements the error interface.
func (e *OffsetError) Error() string {
	return "rustmq: broker answered base offset " + strconv.FormatUint(e.Base, 10) + " for " +
		strconv.Itoa(e.Records) + " records: " + ErrOffsetOverflow.Error()
}

// Unwrap returns ErrOffsetOverflow.
func (e *OffsetError) Unwrap() error { return ErrOffsetOverflow }

// BaseOffset returns the answered base offset as an int64 after checking
// that the offsets of all records records of the batch (Offset up to
// Offset + records - 1) fit in an int64; otherwise it returns an
// *OffsetError. A records count below 1 is treated as 1.
func (m *ProduceResponse) BaseOffset(records int) (int64, error) {
	return CheckOffset(m.Offset, records)
}

// CheckOffset is BaseOffset for an offset from any answer (a Fetch's
// high watermark, say: pass records 1).
func CheckOffset(base uint64, records int) (int64, error) {
	n := uint64(1)
	if records > 1 {
		n = uint64(records)
	}
	if base > math.MaxInt64 || n-1 > math.MaxInt64-base {
		return 0, &OffsetError{Base: base, Records: records}
	}
	return int64(base), nil
}
