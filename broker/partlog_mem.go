package broker

import (
	"errors"
	"sync"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// This file is a stand-in for broker/internal/logstore while that package is
// being written; it is deleted when openLog switches to logstore.Open.

var errOffsetOutOfRange = errors.New("offset out of range")

type memLog struct {
	mu      sync.RWMutex
	records []wire.Record
	batches []int // start index of each batch
}

func openLog(dir string, segmentBytes int64, cfg *Config) (partitionLog, error) {
	if dir != "" {
		return nil, errors.New("durable mode not available yet")
	}
	return &memLog{}, nil
}

func (l *memLog) Append(records []wire.Record, sync bool) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	base := uint64(len(l.records))
	l.batches = append(l.batches, len(l.records))
	for _, r := range records {
		l.records = append(l.records, copyRecord(r))
	}
	return base, nil
}

func (l *memLog) Read(offset uint64, maxBytes int) ([]wire.Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if offset > uint64(len(l.records)) {
		return nil, errOffsetOutOfRange
	}
	var out []wire.Record
	size := 0
	for i := offset; i < uint64(len(l.records)); i++ {
		s := l.records[i].Size()
		if len(out) > 0 && size+s > maxBytes {
			break
		}
		out = append(out, l.records[i])
		size += s
	}
	return out, nil
}

func (l *memLog) HighWatermark() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return uint64(len(l.records))
}

func (l *memLog) Batches(fn func(base uint64, records []wire.Record) bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i, start := range l.batches {
		end := len(l.records)
		if i+1 < len(l.batches) {
			end = l.batches[i+1]
		}
		if !fn(uint64(start), l.records[start:end]) {
			return
		}
	}
}

func (l *memLog) Close() error { return nil }

var errLogClosed = errors.New("log closed")
