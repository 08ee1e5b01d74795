package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// writeLog appends batches of makeRecords(i, sizes[i]) to a fresh durable log
// in dir, closes it and returns the batches as appended.
func writeLog(t *testing.T, dir string, segBytes int64, sizes []int) []appended {
	t.Helper()
	l, err := Open(dir, Options{SegmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	var want []appended
	for i, n := range sizes {
		base, err := l.Append(makeRecords(i, n), i%3 == 0)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, appended{base: base, records: makeRecords(i, n)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// segmentFiles lists the segment file names in dir, sorted.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if _, ok := parseSegmentName(e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// sameBatches fails unless got equals want exactly.
func sameBatches(t *testing.T, got, want []appended) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].base != want[i].base || !reflect.DeepEqual(got[i].records, want[i].records) {
			t.Fatalf("batch %d (base %d) differs from the one appended (base %d)", i, got[i].base, want[i].base)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for a slog
// text handler whose output a test inspects.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// warnLogger returns a logger that records Warn and above into buf.
func warnLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestSegmentRollOverAndReopen(t *testing.T) {
	dir := t.TempDir()
	sizes := make([]int, 60)
	for i := range sizes {
		sizes[i] = 1 + i%9
	}
	want := writeLog(t, dir, 2048, sizes)
	names := segmentFiles(t, dir)
	if len(names) < 5 {
		t.Fatalf("only %d segments with SegmentBytes 2048", len(names))
	}
	// Each segment is named by its first batch's base and stays within the
	// limit unless it holds a single batch.
	for _, n := range names {
		base, _ := parseSegmentName(n)
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		bs, valid, reason := decodeSegment(data, base)
		if reason != "" || valid != len(data) || len(bs) == 0 {
			t.Fatalf("segment %s: %d batches, valid %d of %d, %q", n, len(bs), valid, len(data), reason)
		}
		if len(data) > 2048 && len(bs) > 1 {
			t.Fatalf("segment %s is %d bytes with %d batches", n, len(data), len(bs))
		}
	}
	l := mustOpen(t, dir, Options{SegmentBytes: 2048})
	sameBatches(t, collect(l), want)
	// Appends continue after recovery, and survive another reopen.
	more := makeRecords(99, 4)
	base, err := l.Append(more, true)
	if err != nil {
		t.Fatal(err)
	}
	last := want[len(want)-1]
	if base != last.base+uint64(len(last.records)) {
		t.Fatalf("base after reopen %d", base)
	}
	want = append(want, appended{base: base, records: makeRecords(99, 4)})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, Options{SegmentBytes: 1 << 20})
	sameBatches(t, collect(l2), want)
	got, err := l2.Read(want[10].base+1, 1<<30)
	if err != nil || len(got) != int(l2.HighWatermark()-want[10].base-1) {
		t.Fatalf("read across segments: %d records, %v", len(got), err)
	}
}

func TestOversizedBatchGetsOwnSegment(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentBytes: 100})
	big := []wire.Record{{Value: bytes.Repeat([]byte("x"), 1000)}}
	for range 3 {
		if _, err := l.Append(big, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segmentFiles(t, dir)); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
}

// frameEnds returns the byte offsets at which each frame of data ends.
func frameEnds(t *testing.T, data []byte) []int {
	t.Helper()
	var ends []int
	pos := 0
	for pos < len(data) {
		pos += frameHeaderLen + int(binary.LittleEndian.Uint32(data[pos:]))
		ends = append(ends, pos)
	}
	if pos != len(data) {
		t.Fatalf("frames end at %d, file is %d bytes", pos, len(data))
	}
	return ends
}

// prefixBefore returns the batches of want whose frames end at or before cut.
func prefixBefore(want []appended, ends []int, cut int) []appended {
	n := 0
	for n < len(ends) && ends[n] <= cut {
		n++
	}
	return want[:n]
}

// reopenDamaged writes data as the only segment of a fresh directory, opens
// it and checks that exactly wantPrefix survived, that the file was cut to
// the valid length, and that the log takes appends afterwards.
func reopenDamaged(t *testing.T, data []byte, wantPrefix []appended, validLen int) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, segmentName(0))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	l, err := Open(dir, Options{Logger: warnLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sameBatches(t, collect(l), wantPrefix)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(validLen) {
		t.Fatalf("segment is %d bytes after recovery, want %d", fi.Size(), validLen)
	}
	if validLen < len(data) && !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("nothing logged at Warn for a damaged tail; log: %q", logs.String())
	}
	if validLen == len(data) && logs.String() != "" {
		t.Fatalf("warnings for an intact segment: %q", logs.String())
	}
	base, err := l.Append(makeRecords(500, 2), true)
	if err != nil {
		t.Fatal(err)
	}
	if base != l.HighWatermark()-2 {
		t.Fatalf("append after recovery at %d, HW %d", base, l.HighWatermark())
	}
}

func TestRecoverTornTail(t *testing.T) {
	dir := t.TempDir()
	want := writeLog(t, dir, 1<<20, []int{1, 3, 2, 7, 1, 4, 5, 2, 1, 6})
	data, err := os.ReadFile(filepath.Join(dir, segmentName(0)))
	if err != nil {
		t.Fatal(err)
	}
	ends := frameEnds(t, data)
	cuts := []int{0, 1, 7, 8, 9, len(data) - 1, len(data)}
	for _, e := range ends {
		cuts = append(cuts, e-1, e, e+1, e+frameHeaderLen, e+frameHeaderLen+batchHeaderLen)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 60 {
		cuts = append(cuts, rnd.IntN(len(data)+1))
	}
	for _, cut := range cuts {
		if cut < 0 || cut > len(data) {
			continue
		}
		prefix := prefixBefore(want, ends, cut)
		valid := 0
		if len(prefix) > 0 {
			valid = ends[len(prefix)-1]
		}
		reopenDamaged(t, bytes.Clone(data[:cut]), prefix, valid)
	}
}

func TestRecoverCorruptBytes(t *testing.T) {
	dir := t.TempDir()
	want := writeLog(t, dir, 1<<20, []int{2, 1, 4, 3, 1, 2, 5, 1})
	data, err := os.ReadFile(filepath.Join(dir, segmentName(0)))
	if err != nil {
		t.Fatal(err)
	}
	ends := frameEnds(t, data)
	starts := append([]int{0}, ends[:len(ends)-1]...)
	rnd := rand.New(rand.NewPCG(3, 4))
	for f := range ends {
		// One position in each part of the frame: length, CRC, batch
		// header, records.
		positions := []int{
			starts[f] + rnd.IntN(4),
			starts[f] + 4 + rnd.IntN(4),
			starts[f] + frameHeaderLen + rnd.IntN(batchHeaderLen),
			starts[f] + frameHeaderLen + batchHeaderLen + rnd.IntN(ends[f]-starts[f]-frameHeaderLen-batchHeaderLen),
		}
		for _, pos := range positions {
			damaged := bytes.Clone(data)
			damaged[pos] ^= byte(1 + rnd.IntN(255))
			reopenDamaged(t, damaged, want[:f], starts[f])
		}
	}
}

// TestRecoverBaseDiscontinuity: a frame with a valid checksum but the wrong
// base offset (here a batch written twice) ends the valid log.
func TestRecoverBaseDiscontinuity(t *testing.T) {
	dir := t.TempDir()
	want := writeLog(t, dir, 1<<20, []int{2, 3, 1})
	data, err := os.ReadFile(filepath.Join(dir, segmentName(0)))
	if err != nil {
		t.Fatal(err)
	}
	ends := frameEnds(t, data)
	dup := append(bytes.Clone(data[:ends[1]]), data[ends[0]:ends[1]]...)
	dup = append(dup, data[ends[1]:]...)
	reopenDamaged(t, dup, want[:2], ends[1])
}

// TestRecoverMultiSegment: damage in a middle segment truncates it and
// deletes every later segment.
func TestRecoverMultiSegment(t *testing.T) {
	dir := t.TempDir()
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 2 + i%5
	}
	want := writeLog(t, dir, 1500, sizes)
	names := segmentFiles(t, dir)
	if len(names) < 4 {
		t.Fatalf("%d segments", len(names))
	}
	victim := names[1]
	p := filepath.Join(dir, victim)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	vbase, _ := parseSegmentName(victim)
	ends := frameEnds(t, data)
	// Flip a payload byte of the victim's second frame.
	data[ends[0]+frameHeaderLen+batchHeaderLen+1] ^= 0x40
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	l, err := Open(dir, Options{SegmentBytes: 1500, Logger: warnLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := 0
	for n < len(want) && want[n].base <= vbase {
		n++
	}
	sameBatches(t, collect(l), want[:n])
	if got := segmentFiles(t, dir); !reflect.DeepEqual(got, names[:2]) {
		t.Fatalf("segments after recovery %v, want %v", got, names[:2])
	}
	for _, gone := range names[2:] {
		if !strings.Contains(logs.String(), gone) {
			t.Fatalf("deletion of %s not logged: %s", gone, logs.String())
		}
	}
}

// TestRecoverMissingSegment: a segment deleted from the middle leaves a gap;
// the segments after it are dropped.
func TestRecoverMissingSegment(t *testing.T) {
	dir := t.TempDir()
	sizes := make([]int, 30)
	for i := range sizes {
		sizes[i] = 3
	}
	want := writeLog(t, dir, 400, sizes)
	names := segmentFiles(t, dir)
	if len(names) < 4 {
		t.Fatalf("%d segments", len(names))
	}
	if err := os.Remove(filepath.Join(dir, names[2])); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, dir, Options{SegmentBytes: 400})
	end, _ := parseSegmentName(names[2])
	n := 0
	for n < len(want) && want[n].base < end {
		n++
	}
	sameBatches(t, collect(l), want[:n])
	if l.HighWatermark() != end {
		t.Fatalf("HW %d, want %d", l.HighWatermark(), end)
	}
	if got := segmentFiles(t, dir); !reflect.DeepEqual(got, names[:2]) {
		t.Fatalf("segments %v, want %v", got, names[:2])
	}
}

func TestOpenUnrecoverable(t *testing.T) {
	t.Run("dir is a file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(p, Options{})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.File != p {
			t.Fatalf("Open on a file: %v, want *CorruptError for %s", err, p)
		}
	})
	t.Run("segment is a directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, segmentName(0)), 0o755); err != nil {
			t.Fatal(err)
		}
		var ce *CorruptError
		if _, err := Open(dir, Options{}); !errors.As(err, &ce) {
			t.Fatalf("Open: %v, want *CorruptError", err)
		}
		// The failed Open must not keep the directory claimed.
		if _, err := Open(dir, Options{}); errors.Is(err, ErrInUse) {
			t.Fatal("failed Open left the directory in use")
		}
	})
	t.Run("first segment missing", func(t *testing.T) {
		dir := t.TempDir()
		writeLog(t, dir, 500, []int{5, 5, 5, 5, 5, 5})
		names := segmentFiles(t, dir)
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			t.Fatal(err)
		}
		var ce *CorruptError
		_, err := Open(dir, Options{})
		if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "not 0") {
			t.Fatalf("Open: %v, want *CorruptError about the first segment", err)
		}
	})
	t.Run("unreadable directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("permissions do not bind root")
		}
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o000); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o755)
		var ce *CorruptError
		if _, err := Open(dir, Options{}); !errors.As(err, &ce) || !errors.Is(err, os.ErrPermission) {
			t.Fatalf("Open: %v, want *CorruptError wrapping a permission error", err)
		}
	})
}

func TestForeignFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"README", "0.log", "0000000000000000000x.log", "00000000000000000000.log.bak"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := writeLog(t, dir, 0, []int{3, 4})
	l := mustOpen(t, dir, Options{})
	sameBatches(t, collect(l), want)
}
