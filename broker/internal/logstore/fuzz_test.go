package logstore

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// seedSegment is a valid segment of a few batches, for fuzz seeds.
func seedSegment(tb testing.TB) []byte {
	tb.Helper()
	var seg []byte
	base := uint64(0)
	for i, n := range []int{1, 3, 2} {
		frame, b, err := encodeBatch(base, makeRecords(i, n))
		if err != nil {
			tb.Fatal(err)
		}
		seg = append(seg, frame...)
		base += uint64(b.count)
	}
	return seg
}

// addSeeds gives a fuzz target a valid segment and damaged variants of it.
func addSeeds(f *testing.F) {
	seg := seedSegment(f)
	f.Add([]byte{})
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(seg[:5])
	flipped := bytes.Clone(seg)
	flipped[len(flipped)/2] ^= 1
	f.Add(flipped)
}

// checkDecoded asserts what decodeSegment promises for any input: a prefix
// of the input, consecutive batches that re-encode to exactly that prefix
// with the same marks, and a reason whenever it stopped early.
func checkDecoded(t *testing.T, data []byte, bs []batch, valid int, reason string) {
	t.Helper()
	if valid < 0 || valid > len(data) {
		t.Fatalf("valid length %d outside [0, %d]", valid, len(data))
	}
	if (reason == "") != (valid == len(data)) {
		t.Fatalf("valid %d of %d bytes with reason %q", valid, len(data), reason)
	}
	var re []byte
	next := uint64(0)
	for _, b := range bs {
		recs := b.records()
		if b.base != next || b.count == 0 || len(recs) != int(b.count) {
			t.Fatalf("batch at %d with %d records (%d decoded), expected base %d", b.base, b.count, len(recs), next)
		}
		frame, rb, err := encodeBatch(b.base, recs)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(b.marks, rb.marks) {
			t.Fatalf("batch at %d: decoded marks %v, encoding gives %v", b.base, b.marks, rb.marks)
		}
		re = append(re, frame...)
		next += uint64(b.count)
	}
	if !bytes.Equal(re, data[:valid]) {
		t.Fatalf("decoded batches re-encode to %d bytes differing from the %d-byte valid prefix", len(re), valid)
	}
}

// FuzzDecodeSegment feeds arbitrary bytes to the segment decoder: it must not
// panic and must return a valid prefix that round-trips byte for byte.
func FuzzDecodeSegment(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, valid, reason := decodeSegment(data, 0)
		checkDecoded(t, data, bs, valid, reason)
	})
}

// FuzzRecover writes arbitrary bytes as the only segment of a log and opens
// it: Open must succeed, cut the file to the valid prefix, and serve exactly
// the batches of that prefix.
func FuzzRecover(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, valid, _ := decodeSegment(data, 0)
		dir := t.TempDir()
		p := filepath.Join(dir, segmentName(0))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		got := collect(l)
		if len(got) != len(want) {
			t.Fatalf("Open kept %d batches, decoder %d", len(got), len(want))
		}
		var re []byte
		for _, b := range got {
			frame, _, err := encodeBatch(b.base, b.records)
			if err != nil {
				t.Fatal(err)
			}
			re = append(re, frame...)
		}
		if !bytes.Equal(re, data[:valid]) {
			t.Fatal("recovered batches differ from the valid prefix")
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() != int64(valid) {
			t.Fatalf("segment not cut to %d bytes: %v, %v", valid, fi.Size(), err)
		}
	})
}

// FuzzDecodeRecords fuzzes the record decoder behind the checksum, which
// FuzzDecodeSegment rarely gets past: any bytes as a batch's records must
// either be rejected or decode to records that re-encode to exactly those
// bytes.
func FuzzDecodeRecords(f *testing.F) {
	for i, n := range []int{1, 2, 5} {
		frame, _, err := encodeBatch(0, makeRecords(i, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint32(n), frame[frameHeaderLen+batchHeaderLen:])
	}
	f.Add(uint32(1), []byte{0, 0, 0, 0})
	f.Add(uint32(3), []byte{0x80, 0x00, 0, 0, 0})
	f.Fuzz(func(t *testing.T, count uint32, data []byte) {
		d := recordDecoder{b: data}
		recs, err := d.records(count)
		if err != nil {
			return
		}
		if len(recs) != int(count) {
			t.Fatalf("%d records for count %d", len(recs), count)
		}
		var re []byte
		for i := range recs {
			re = appendRecord(re, &recs[i])
		}
		if !bytes.Equal(re, data) {
			t.Fatalf("records re-encode to %x, input was %x", re, data)
		}
	})
}
