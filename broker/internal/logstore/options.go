package logstore

import (
	"fmt"
	"log/slog"
)

// DefaultSegmentBytes is the segment size used when Options.SegmentBytes is 0.
const DefaultSegmentBytes int64 = 64 << 20

// Options configures a [Log]. The zero value is ready to use.
type Options struct {
	// SegmentBytes is the size at which the active segment file is closed and
	// a new one started. A batch larger than this gets a segment of its own.
	// Zero means DefaultSegmentBytes (64 MiB); negative values are rejected.
	// Ignored in memory mode.
	SegmentBytes int64

	// Logger receives recovery warnings (what was truncated or deleted) and
	// debug notes. Nil means no logging.
	Logger *slog.Logger
}

// withDefaults validates o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.SegmentBytes < 0 {
		return o, fmt.Errorf("logstore: Options.SegmentBytes %d: must be >= 0", o.SegmentBytes)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
