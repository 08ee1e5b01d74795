package broker

import (
	"github.com/rustmq/rustmq-go/broker/internal/logstore"
)

// Sentinels of the log store the handlers branch on.
var (
	errOffsetOutOfRange = logstore.ErrOffsetOutOfRange
	errLogClosed        = logstore.ErrClosed
)

// openLog opens one partition's log: in memory for dir "", else in dir,
// recovering what a previous run left there.
func openLog(dir string, segmentBytes int64, cfg *Config) (partitionLog, error) {
	return logstore.Open(dir, logstore.Options{SegmentBytes: segmentBytes, Logger: cfg.Logger})
}

var _ partitionLog = (*logstore.Log)(nil)
