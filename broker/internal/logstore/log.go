package logstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// Log is the append-only log of one partition. Offsets start at 0 and count
// records; every appended batch takes the next len(records) offsets.
//
// A *Log is safe for concurrent use. After Close, Append and Read return
// [ErrClosed]. Append may also return [ErrEmptyBatch], [ErrBatchTooLarge], or
// (durable mode) an I/O error, wrapping [ErrFailed] once the log can no longer
// vouch for its segment. Read may return [ErrOffsetOutOfRange].
type Log struct {
	dir    string // "" in memory mode
	opts   Options
	logger *slog.Logger

	// appendMu serialises Append and Close and guards the fields below it.
	// Fields under mu are written only while appendMu is held too, so Append
	// may read them without mu.
	appendMu   sync.Mutex
	active     *os.File // segment appends go to; nil in memory mode
	activePath string
	activeSize int64
	dirDirty   bool  // a segment was created since the directory was last synced
	failed     error // sticky: set when the segment's contents are uncertain

	mu      sync.RWMutex
	batches []batch // in offset order; entries are never modified
	hw      uint64
	closed  bool
}

// Open opens the log kept in dir, creating the directory if needed, and
// recovers it (see the package documentation). An empty dir gives a log that
// lives in memory only. Open returns a *[CorruptError] for what recovery
// cannot repair, [ErrInUse] if dir is already open in this process, and an
// error naming the field for invalid Options.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Log{opts: opts, logger: opts.Logger}
	if dir == "" {
		return l, nil
	}
	if err := mkdirDurable(dir); err != nil {
		return nil, &CorruptError{File: dir, Reason: "cannot create directory", Err: err}
	}
	key, err := dirKey(dir)
	if err != nil {
		return nil, &CorruptError{File: dir, Reason: "cannot resolve directory", Err: err}
	}
	if !claimDir(key) {
		return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
	}
	l.dir = key
	r, err := recoverDir(key, l.logger)
	if err != nil {
		releaseDir(key)
		return nil, err
	}
	f, err := os.OpenFile(r.activePath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		releaseDir(key)
		return nil, &CorruptError{File: r.activePath, Reason: "cannot open active segment", Err: err}
	}
	l.active, l.activePath, l.activeSize, l.dirDirty = f, r.activePath, r.activeSize, r.created
	l.batches, l.hw = r.batches, r.next
	l.logger.Debug("logstore: opened", "dir", key, "batches", len(r.batches), "high_watermark", r.next, "active_segment", r.activePath)
	return l, nil
}

// Append adds records to the log as one batch and returns the offset of its
// first record. The records are copied; the caller may reuse their memory as
// soon as Append returns. In durable mode, with sync set, the batch is on
// stable storage (fsync) before Append returns; without it, it is written to
// the operating system but may be lost in a machine crash (not a process
// crash). Either way the batch is visible to Read once Append returns.
func (l *Log) Append(records []wire.Record, sync bool) (base uint64, err error) {
	if len(records) == 0 {
		return 0, ErrEmptyBatch
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if l.failed != nil {
		return 0, l.failed
	}
	base = l.hw
	frame, b, err := encodeBatch(base, records)
	if err != nil {
		return 0, err
	}
	if l.active != nil {
		if err := l.write(base, frame, sync); err != nil {
			return 0, err
		}
	}
	l.mu.Lock()
	l.batches = append(l.batches, b)
	l.hw = base + uint64(b.count)
	l.mu.Unlock()
	return base, nil
}

// write puts one frame into the active segment, rolling first if the frame
// would take the segment past SegmentBytes. Called with appendMu held.
func (l *Log) write(base uint64, frame []byte, sync bool) error {
	if l.activeSize > 0 && l.activeSize+int64(len(frame)) > l.opts.SegmentBytes {
		if err := l.roll(base); err != nil {
			return err
		}
	}
	if _, err := l.active.Write(frame); err != nil {
		// Cut off whatever part of the frame reached the file, so that later
		// frames do not land behind garbage that recovery would stop at.
		if terr := l.active.Truncate(l.activeSize); terr != nil {
			l.failed = fmt.Errorf("%w: %s: write failed (%v) and truncating it back failed: %w", ErrFailed, l.activePath, err, terr)
			return l.failed
		}
		return fmt.Errorf("logstore: write %s: %w", l.activePath, err)
	}
	l.activeSize += int64(len(frame))
	if !sync {
		return nil
	}
	if err := l.active.Sync(); err != nil {
		// After a failed fsync the page cache can no longer be trusted to
		// hold what was written, so the log stops taking appends.
		l.failed = fmt.Errorf("%w: fsync %s: %w", ErrFailed, l.activePath, err)
		return l.failed
	}
	if l.dirDirty {
		if err := syncDir(l.dir); err != nil {
			l.failed = fmt.Errorf("%w: %w", ErrFailed, err)
			return l.failed
		}
		l.dirDirty = false
	}
	return nil
}

// roll starts a new segment at base. The old segment is synced before it is
// left, so a synced batch in the new segment never follows a lost one.
func (l *Log) roll(base uint64) error {
	p := filepath.Join(l.dir, segmentName(base))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("logstore: create segment: %w", err)
	}
	if err := l.active.Sync(); err != nil {
		f.Close()
		os.Remove(p)
		l.failed = fmt.Errorf("%w: fsync %s: %w", ErrFailed, l.activePath, err)
		return l.failed
	}
	if err := l.active.Close(); err != nil {
		l.logger.Warn("logstore: closing full segment", "file", l.activePath, "err", err)
	}
	l.logger.Debug("logstore: new segment", "file", p, "previous_bytes", l.activeSize)
	l.active, l.activePath, l.activeSize, l.dirDirty = f, p, 0, true
	return nil
}

// Read returns records starting exactly at offset, which may fall inside a
// batch. When offset is below the high watermark it returns at least one
// record, then adds records while their total size as encoded in a
// FetchResponse ([wire.Record.Size]) stays within maxBytes, so maxBytes <= 0
// yields exactly one record. At the high watermark it returns no records and no error; beyond it,
// [ErrOffsetOutOfRange].
//
// The returned slice is the caller's, but the records' byte slices and
// header slices share the log's memory and must not be modified.
func (l *Log) Read(offset uint64, maxBytes int) ([]wire.Record, error) {
	l.mu.RLock()
	closed, hw, bs := l.closed, l.hw, l.batches
	l.mu.RUnlock()
	// The decoding below runs without the lock: bs[:len(bs)] is never
	// written again (Append only adds past it, and Close drops the slice
	// without touching what it held), so an Append need not wait for it.
	if closed {
		return nil, ErrClosed
	}
	if offset > hw {
		return nil, fmt.Errorf("%w: offset %d, high watermark %d", ErrOffsetOutOfRange, offset, hw)
	}
	if offset == hw {
		return nil, nil
	}
	i := sort.Search(len(bs), func(i int) bool { return bs[i].base > offset }) - 1
	var out []wire.Record
	total := 0
	j := offset - bs[i].base // record within bs[i] to start at
	d := bs[i].seek(j)
	for {
		for ; j < uint64(bs[i].count); j++ {
			var r wire.Record
			if err := d.record(&r); err != nil {
				bs[i].corrupt(err)
			}
			s := r.Size()
			if len(out) > 0 && total+s > maxBytes {
				return out, nil
			}
			total += s
			out = append(out, r)
		}
		if i++; i == len(bs) {
			return out, nil
		}
		// The next batch's records share the header arrays of this one's.
		j, d.b, d.pos = 0, bs[i].payload, batchHeaderLen
	}
}

// HighWatermark returns the offset the next appended record will get: the
// number of records in the log. It keeps its last value after Close.
func (l *Log) HighWatermark() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hw
}

// Batches calls fn for every batch in the log, in offset order, with the
// batch's base offset and records, until fn returns false. It walks the
// batches present when it is called; fn runs without any lock held, so it may
// call other methods of the log. Each batch's records are decoded for the
// call: the slice is fn's to keep, but the records' byte slices and header
// slices share the log's memory and must not be modified. After Close it
// calls fn for nothing.
func (l *Log) Batches(fn func(base uint64, records []wire.Record) bool) {
	l.mu.RLock()
	bs := l.batches
	l.mu.RUnlock()
	for _, b := range bs {
		if !fn(b.base, b.records()) {
			return
		}
	}
}

// Close syncs the active segment and the directory, closes the segment file
// and frees the in-memory batches. Later calls to Append and Read return
// [ErrClosed]; a second Close returns nil. Close reports the first sync or
// close error, after releasing everything regardless.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.batches = nil
	if l.active == nil {
		return nil
	}
	var errs []error
	if l.failed == nil {
		if err := l.active.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("logstore: fsync %s: %w", l.activePath, err))
		}
		if l.dirDirty {
			if err := syncDir(l.dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := l.active.Close(); err != nil {
		errs = append(errs, fmt.Errorf("logstore: close %s: %w", l.activePath, err))
	}
	l.active = nil
	releaseDir(l.dir)
	return errors.Join(errs...)
}

// openDirs holds the directories open in this process, so two Logs never
// write the same segments.
var openDirs = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// dirKey is the canonical name of dir: absolute, symbolic links resolved.
func dirKey(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// claimDir marks key open; false if it already is.
func claimDir(key string) bool {
	openDirs.Lock()
	defer openDirs.Unlock()
	if openDirs.m[key] {
		return false
	}
	openDirs.m[key] = true
	return true
}

// releaseDir marks key closed.
func releaseDir(key string) {
	openDirs.Lock()
	defer openDirs.Unlock()
	delete(openDirs.m, key)
}
