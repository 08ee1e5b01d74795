package logstore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// segmentSuffix ends every segment file name.
const segmentSuffix = ".log"

// segmentNameDigits is the width of the base offset in a segment file name.
const segmentNameDigits = 20

// segmentName is the file name of the segment whose first offset is base.
func segmentName(base uint64) string {
	return fmt.Sprintf("%0*d%s", segmentNameDigits, base, segmentSuffix)
}

// parseSegmentName returns the base offset a segment file name stands for.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != segmentNameDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	return base, err == nil
}

// segmentFile is one segment found in the directory.
type segmentFile struct {
	base uint64
	path string
}

// listSegments returns the directory's segment files ordered by base offset.
// Files with other names are left alone.
func listSegments(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &CorruptError{File: dir, Reason: "cannot list directory", Err: err}
	}
	var segs []segmentFile
	for _, e := range entries {
		base, ok := parseSegmentName(e.Name())
		if !ok {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if !e.Type().IsRegular() {
			return nil, &CorruptError{File: p, Reason: "segment is not a regular file"}
		}
		segs = append(segs, segmentFile{base: base, path: p})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].base < segs[j].base })
	return segs, nil
}

// recovered is what recoverDir found: the surviving batches and the segment
// that appends continue in.
type recovered struct {
	batches    []batch
	next       uint64 // offset the next batch gets
	activeBase uint64
	activePath string
	activeSize int64
	created    bool // the active segment was created by recovery (dir not yet synced)
}

// recoverDir reads every segment of dir, repairs a torn or corrupt tail and
// returns the log's state. The repair truncates the first bad segment at its
// last valid frame and deletes every later segment; both are synced before
// recoverDir returns.
func recoverDir(dir string, logger *slog.Logger) (*recovered, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	r := &recovered{}
	if len(segs) == 0 {
		p := filepath.Join(dir, segmentName(0))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, &CorruptError{File: p, Reason: "cannot create first segment", Err: err}
		}
		if err := f.Close(); err != nil {
			return nil, &CorruptError{File: p, Reason: "cannot create first segment", Err: err}
		}
		r.activePath, r.created = p, true
		return r, nil
	}
	if segs[0].base != 0 {
		return nil, &CorruptError{File: segs[0].path, Reason: fmt.Sprintf("first segment starts at offset %d, not 0 (earlier segments missing)", segs[0].base)}
	}
	kept := 0 // segments that survive: segs[:kept]
	for _, s := range segs {
		if s.base != r.next {
			logger.Warn("logstore: segment does not continue the log; dropping it and every later segment",
				"file", s.path, "segment_base", s.base, "expected_base", r.next)
			break
		}
		data, err := os.ReadFile(s.path)
		if err != nil {
			return nil, &CorruptError{File: s.path, Reason: "cannot read segment", Err: err}
		}
		bs, valid, reason := decodeSegment(data, s.base)
		r.batches = append(r.batches, bs...)
		if n := len(bs); n > 0 {
			last := bs[n-1]
			r.next = last.base + uint64(last.count)
		}
		kept++
		r.activeBase, r.activePath, r.activeSize = s.base, s.path, int64(valid)
		if reason != "" {
			logger.Warn("logstore: torn or corrupt frame; truncating the segment there",
				"file", s.path, "byte_offset", valid, "reason", reason,
				"dropped_bytes", len(data)-valid, "kept_batches_in_segment", len(bs))
			if err := truncateSynced(s.path, int64(valid)); err != nil {
				return nil, err
			}
			break
		}
	}
	if kept < len(segs) {
		for _, s := range segs[kept:] {
			size := int64(-1)
			if fi, err := os.Stat(s.path); err == nil {
				size = fi.Size()
			}
			logger.Warn("logstore: deleting segment after the end of the valid log",
				"file", s.path, "segment_base", s.base, "bytes", size)
			if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, &CorruptError{File: s.path, Reason: "cannot delete segment after a corrupt one", Err: err}
			}
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// truncateSynced cuts the file at size and syncs it.
func truncateSynced(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return &CorruptError{File: path, Offset: size, Reason: "cannot open segment to truncate it", Err: err}
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return &CorruptError{File: path, Offset: size, Reason: "cannot truncate segment", Err: err}
	}
	if err := f.Sync(); err != nil {
		return &CorruptError{File: path, Offset: size, Reason: "cannot sync truncated segment", Err: err}
	}
	return nil
}

// syncDir fsyncs a directory, making file creations and removals in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return &CorruptError{File: dir, Reason: "cannot open directory to sync it", Err: err}
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isUnsupported(err) {
		return &CorruptError{File: dir, Reason: "cannot sync directory", Err: err}
	}
	return nil
}

// isUnsupported reports whether a directory fsync failed only because the
// platform or file system does not support syncing directories (some report
// EINVAL for it).
func isUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EINVAL)
}

// mkdirDurable creates dir and any missing parents, and fsyncs the parent of
// every directory it creates, so that a new partition's directory entry
// survives a machine crash and not only a killed process: without it an
// acknowledged write could sit in a file whose directory was never recorded.
func mkdirDurable(dir string) error {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return syncDir(parent)
}
