package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/rustmq/rustmq-go/transport/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		// The crash child is killed by its parent; goleak has nothing to add.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// makeRecords returns n records derived from seed, covering nil and empty
// keys and values, headers with nil and empty values, and negative
// timestamps.
func makeRecords(seed, n int) []wire.Record {
	out := make([]wire.Record, n)
	for i := range out {
		k := seed*1000 + i
		r := wire.Record{Timestamp: int64(k*7919) - 500000}
		switch k % 3 {
		case 0:
			r.Key = nil
		case 1:
			r.Key = []byte{}
		default:
			r.Key = []byte(fmt.Sprintf("key-%d", k))
		}
		if k%5 != 0 {
			r.Value = bytes.Repeat([]byte{byte(k)}, k%200)
		}
		for h := 0; h < k%4; h++ {
			var v []byte
			if h != 1 {
				v = []byte(fmt.Sprintf("hv-%d-%d", k, h))
			}
			r.Headers = append(r.Headers, wire.Header{Key: fmt.Sprintf("h%d", h), Value: v})
		}
		out[i] = r
	}
	return out
}

// appended is a batch as the Log's API shows it: its base offset and
// records (the log itself keeps only the encoded payload).
type appended struct {
	base    uint64
	records []wire.Record
}

// collect returns every batch of l.
func collect(l *Log) []appended {
	var out []appended
	l.Batches(func(base uint64, records []wire.Record) bool {
		out = append(out, appended{base: base, records: records})
		return true
	})
	return out
}

// mustOpen opens dir or fails the test, closing the log at cleanup.
func mustOpen(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// modes runs fn against a memory log and a durable one.
func modes(t *testing.T, fn func(t *testing.T, open func() *Log)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, func() *Log { return mustOpen(t, "", Options{}) })
	})
	t.Run("durable", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, func() *Log { return mustOpen(t, dir, Options{SegmentBytes: 4096}) })
	})
}

func TestAppendReadSemantics(t *testing.T) {
	modes(t, func(t *testing.T, open func() *Log) {
		l := open()
		if hw := l.HighWatermark(); hw != 0 {
			t.Fatalf("empty log high watermark %d", hw)
		}
		if recs, err := l.Read(0, 1<<20); err != nil || len(recs) != 0 {
			t.Fatalf("Read at HW of empty log = %v, %v; want none, nil", recs, err)
		}
		var all []wire.Record
		for i, n := range []int{1, 5, 3, 10} {
			recs := makeRecords(i, n)
			base, err := l.Append(recs, i%2 == 0)
			if err != nil {
				t.Fatal(err)
			}
			if base != uint64(len(all)) {
				t.Fatalf("batch %d base %d, want %d", i, base, len(all))
			}
			all = append(all, makeRecords(i, n)...)
		}
		if hw := l.HighWatermark(); hw != uint64(len(all)) {
			t.Fatalf("high watermark %d, want %d", hw, len(all))
		}
		for off := range all {
			got, err := l.Read(uint64(off), 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, all[off:]) {
				t.Fatalf("Read(%d) differs from what was appended", off)
			}
		}
		if recs, err := l.Read(uint64(len(all)), 1<<20); err != nil || recs != nil {
			t.Fatalf("Read at HW = %v, %v; want nil, nil", recs, err)
		}
		_, err := l.Read(uint64(len(all))+1, 1<<20)
		if !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read past HW: %v, want ErrOffsetOutOfRange", err)
		}
		if _, err := l.Append(nil, false); !errors.Is(err, ErrEmptyBatch) {
			t.Fatalf("Append(nil): %v, want ErrEmptyBatch", err)
		}
	})
}

// TestAppendCopies: the log must not alias the caller's buffers, which in the
// broker are a request buffer reused for the next request.
func TestAppendCopies(t *testing.T) {
	modes(t, func(t *testing.T, open func() *Log) {
		l := open()
		recs := makeRecords(2, 6)
		want := makeRecords(2, 6)
		if _, err := l.Append(recs, false); err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			for j := range recs[i].Key {
				recs[i].Key[j] ^= 0xFF
			}
			for j := range recs[i].Value {
				recs[i].Value[j] ^= 0xFF
			}
			for h := range recs[i].Headers {
				recs[i].Headers[h].Key = "changed"
				for j := range recs[i].Headers[h].Value {
					recs[i].Headers[h].Value[j] ^= 0xFF
				}
			}
			recs[i].Timestamp = 0
		}
		got, err := l.Read(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatal("records changed when the caller's buffers changed")
		}
		// Appending to a returned slice must not write into the log.
		got[0].Value = append(got[0].Value, 'x')
		if len(got[1].Headers) > 0 {
			got[1].Headers = append(got[1].Headers, wire.Header{Key: "extra"})
		}
		again, _ := l.Read(0, 1<<20)
		if !reflect.DeepEqual(again, want) {
			t.Fatal("appending to a returned record's slices changed the log")
		}
	})
}

func TestReadMaxBytes(t *testing.T) {
	modes(t, func(t *testing.T, open func() *Log) {
		l := open()
		recs := makeRecords(3, 20)
		if _, err := l.Append(recs[:7], false); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(recs[7:], false); err != nil {
			t.Fatal(err)
		}
		sizes := make([]int, len(recs))
		for i := range recs {
			sizes[i] = recs[i].Size()
		}
		for start := 0; start < len(recs); start++ {
			for _, maxBytes := range []int{-1, 0, 1, sizes[start] - 1, sizes[start], sizes[start] + 1, 300, 1000, 5000, 1 << 30} {
				got, err := l.Read(uint64(start), maxBytes)
				if err != nil {
					t.Fatal(err)
				}
				// Expected: the first record always, then while the sum fits.
				n, total := 1, sizes[start]
				for start+n < len(recs) && total+sizes[start+n] <= maxBytes {
					total += sizes[start+n]
					n++
				}
				if !reflect.DeepEqual(got, recs[start:start+n]) {
					t.Fatalf("Read(%d, %d): %d records, want %d", start, maxBytes, len(got), n)
				}
			}
		}
	})
}

func TestClosed(t *testing.T) {
	modes(t, func(t *testing.T, open func() *Log) {
		l := open()
		if _, err := l.Append(makeRecords(1, 2), true); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := l.Append(makeRecords(1, 2), true); !errors.Is(err, ErrClosed) {
			t.Fatalf("Append after Close: %v", err)
		}
		if _, err := l.Read(0, 100); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
		if hw := l.HighWatermark(); hw != 2 {
			t.Fatalf("HighWatermark after Close %d, want 2", hw)
		}
		called := false
		l.Batches(func(uint64, []wire.Record) bool { called = true; return true })
		if called {
			t.Fatal("Batches called fn after Close")
		}
	})
}

func TestBatchesStops(t *testing.T) {
	l := mustOpen(t, "", Options{})
	for i := range 5 {
		if _, err := l.Append(makeRecords(i, i+1), false); err != nil {
			t.Fatal(err)
		}
	}
	var bases []uint64
	l.Batches(func(base uint64, records []wire.Record) bool {
		bases = append(bases, base)
		// fn may call back into the log.
		if _, err := l.Read(base, 1); err != nil {
			t.Error(err)
		}
		return len(bases) < 3
	})
	if !reflect.DeepEqual(bases, []uint64{0, 1, 3}) {
		t.Fatalf("bases %v, want [0 1 3]", bases)
	}
}

func TestConcurrentAppendRead(t *testing.T) {
	modes(t, func(t *testing.T, open func() *Log) {
		l := open()
		const writers, perWriter = 4, 50
		var wg sync.WaitGroup
		bases := make(chan uint64, writers*perWriter)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					b, err := l.Append(makeRecords(w*100+i, 3), i%10 == 0)
					if err != nil {
						t.Error(err)
						return
					}
					bases <- b
				}
			}()
		}
		stop := make(chan struct{})
		var rwg sync.WaitGroup
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				hw := l.HighWatermark()
				if hw == 0 {
					continue
				}
				recs, err := l.Read(hw-1, 1<<20)
				if err != nil || len(recs) == 0 {
					t.Errorf("Read(%d) below HW: %d records, %v", hw-1, len(recs), err)
					return
				}
			}
		}()
		wg.Wait()
		close(stop)
		rwg.Wait()
		close(bases)
		seen := map[uint64]bool{}
		for b := range bases {
			if b%3 != 0 || seen[b] {
				t.Fatalf("base %d duplicated or misaligned", b)
			}
			seen[b] = true
		}
		if hw := l.HighWatermark(); hw != writers*perWriter*3 {
			t.Fatalf("HW %d, want %d", hw, writers*perWriter*3)
		}
	})
}

func TestOptionsValidation(t *testing.T) {
	if _, err := Open("", Options{SegmentBytes: -1}); err == nil {
		t.Fatal("negative SegmentBytes accepted")
	}
}

func TestOpenTwiceInProcess(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	if _, err := Open(filepath.Join(dir, "."), Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, Options{})
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenCreatesNestedDirectories pins that Open creates every missing
// level of a nested data directory (each created with its parent fsynced)
// and refuses a path whose ancestor is a file.
func TestOpenCreatesNestedDirectories(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "broker-0", "orders-3")
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]wire.Record{{Value: []byte("v")}}, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("stat %s: %v", dir, err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := Open(filepath.Join(file, "p-0"), Options{}); !errors.As(err, &ce) {
		t.Fatalf("Open under a file: %v, want *CorruptError", err)
	}
}

// TestReadInsideLargeBatches reads from every offset of batches larger than
// markEvery, around and between their marks, as appended and (durable)
// after recovery has rebuilt the marks from the segment.
func TestReadInsideLargeBatches(t *testing.T) {
	sizes := []int{markEvery + 1, 100, 2*markEvery + 1, markEvery, 1, 3 * markEvery}
	check := func(t *testing.T, l *Log, all []wire.Record) {
		t.Helper()
		for off := range all {
			got, err := l.Read(uint64(off), 0)
			if err != nil || !reflect.DeepEqual(got, all[off:off+1]) {
				t.Fatalf("Read(%d, 0) = %d records, %v; want record %d", off, len(got), err, off)
			}
			got, err = l.Read(uint64(off), 1<<30)
			if err != nil || !reflect.DeepEqual(got, all[off:]) {
				t.Fatalf("Read(%d) = %d records, %v; want the %d from there", off, len(got), err, len(all)-off)
			}
		}
	}
	modes(t, func(t *testing.T, open func() *Log) {
		l := open()
		var all []wire.Record
		var want []batch // as encodeBatch builds them, marks included
		for i, n := range sizes {
			base, err := l.Append(makeRecords(i, n), false)
			if err != nil {
				t.Fatal(err)
			}
			_, b, err := encodeBatch(base, makeRecords(i, n))
			if err != nil {
				t.Fatal(err)
			}
			if wantMarks := (n - 1) / markEvery; len(b.marks) != wantMarks {
				t.Fatalf("batch of %d records has %d marks, want %d", n, len(b.marks), wantMarks)
			}
			want = append(want, b)
			all = append(all, makeRecords(i, n)...)
		}
		check(t, l, all)
		if l.dir == "" {
			return
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = open()
		if !reflect.DeepEqual(l.batches, want) {
			t.Fatal("recovered batches (payloads and marks) differ from the appended ones")
		}
		check(t, l, all)
	})
}
