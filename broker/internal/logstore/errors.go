package logstore

import (
	"errors"
	"fmt"
)

// ErrOffsetOutOfRange is returned by [Log.Read] for an offset beyond the high
// watermark.
var ErrOffsetOutOfRange = errors.New("logstore: offset out of range")

// ErrClosed is returned by every operation on a [Log] after [Log.Close].
var ErrClosed = errors.New("logstore: log closed")

// ErrEmptyBatch is returned by [Log.Append] when it is given no records: a
// batch always holds at least one record, so every batch owns an offset.
var ErrEmptyBatch = errors.New("logstore: empty batch")

// ErrBatchTooLarge is returned by [Log.Append] when a batch does not fit one
// frame (more than 2^32-1 records or payload bytes).
var ErrBatchTooLarge = errors.New("logstore: batch too large for one frame")

// ErrInUse is returned by [Open] when this process already has the directory
// open through another [Log] that has not been closed.
var ErrInUse = errors.New("logstore: directory already open in this process")

// ErrFailed is wrapped by [Log.Append] once a write or fsync has failed in a
// way that leaves the segment's contents uncertain. The log then refuses
// further appends; reopening it runs recovery.
var ErrFailed = errors.New("logstore: log failed, reopen to recover")

// CorruptError reports a situation [Open] cannot repair: a directory or
// segment that cannot be read or written, or a log whose first segment does
// not start at offset 0. File is the path concerned, Offset the byte position
// within it (0 when not meaningful), Reason a short description and Err the
// underlying error, if any.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
	Err    error
}

// Error implements error.
func (e *CorruptError) Error() string {
	msg := fmt.Sprintf("logstore: %s: %s", e.File, e.Reason)
	if e.Offset != 0 {
		msg = fmt.Sprintf("logstore: %s at byte %d: %s", e.File, e.Offset, e.Reason)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error, so errors.Is(err, fs.ErrPermission)
// and the like work.
func (e *CorruptError) Unwrap() error { return e.Err }
