package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// testdata/wire-golden.txt holds the golden vectors of the protocol:
// vectors made by Rust's serde + bincode 1.3.3.
const goldenFile = "testdata/wire-golden.txt"

var (
	goldenOnce sync.Once
	goldenData map[string]string
	goldenErr  error
)

// golden returns the named entry ("produce_request.bincode") of the golden
// file, decoded from hex when the name ends in .bincode or .frame.
func golden(t testing.TB, name string) []byte {
	t.Helper()
	goldenOnce.Do(func() { goldenData, goldenErr = loadGolden() })
	if goldenErr != nil {
		t.Fatalf("loading %s: %v", goldenFile, goldenErr)
	}
	s, ok := goldenData[name]
	if !ok {
		t.Fatalf("%s has no entry %q", goldenFile, name)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%s: entry %q is not hex: %v", goldenFile, name, err)
	}
	return b
}

func loadGolden() (map[string]string, error) {
	f, err := os.Open(goldenFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		out[k] = v
	}
	return out, sc.Err()
}

// goldenVectors lists the vector names of the file (the part before the
// first dot of its .bincode or .frame entries).
func goldenVectors(t *testing.T) []string {
	t.Helper()
	golden(t, "produce_request.bincode") // load
	seen := map[string]bool{}
	var names []string
	for k := range goldenData {
		name, kind, _ := strings.Cut(k, ".")
		if (kind == "bincode" || kind == "frame") && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

// goldenCase ties a vector of the golden file to the Go value it encodes.
type goldenCase struct {
	name    string         // vector name in the golden file
	reqType byte           // frame type byte; 0 when the vector has no frame
	value   Message        // the value, as Unmarshal produces it
	empty   func() Message // a fresh value to decode into
}

// allGoldenCases gathers the per-type tables of the test files beside this.
func allGoldenCases() []goldenCase {
	var all []goldenCase
	for _, cs := range [][]goldenCase{produceGolden(), fetchGolden(), metadataGolden(), acksGolden()} {
		all = append(all, cs...)
	}
	return all
}

// TestGoldenEveryVectorCovered fails when the golden file gains a vector no
// test checks.
func TestGoldenEveryVectorCovered(t *testing.T) {
	covered := map[string]bool{"error_frame": true} // frame_test.go
	for _, c := range allGoldenCases() {
		covered[c.name] = true
	}
	for _, name := range goldenVectors(t) {
		if !covered[name] {
			t.Errorf("golden vector %q has no test case", name)
		}
	}
}

// checkGolden asserts c both ways, byte for byte: encoding, Size, the .len
// entry, the frame, decoding, and Append's zero allocations into a buffer
// with room.
func checkGolden(t *testing.T, c goldenCase) {
	t.Helper()
	want := golden(t, c.name+".bincode")
	if n := goldenLen(t, c.name); n != len(want) {
		t.Fatalf("%s.len = %d but .bincode has %d bytes", c.name, n, len(want))
	}
	if got := c.value.Append(nil); !bytes.Equal(got, want) {
		t.Errorf("Append:\n got %x\nwant %x", got, want)
	}
	if got := c.value.Size(); got != len(want) {
		t.Errorf("Size() = %d, want %d", got, len(want))
	}
	prefix := []byte("prefix")
	if got := c.value.Append(append([]byte(nil), prefix...)); !bytes.Equal(got, append(prefix, want...)) {
		t.Errorf("Append onto a prefix:\n got %x\nwant %x%x", got, prefix, want)
	}
	buf := make([]byte, 0, len(want))
	if allocs := testing.AllocsPerRun(20, func() { buf = c.value.Append(buf[:0]) }); allocs != 0 {
		t.Errorf("Append into a buffer with room allocated %v times", allocs)
	}

	got := c.empty()
	if err := got.Unmarshal(want); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !reflect.DeepEqual(got, c.value) {
		t.Errorf("Unmarshal:\n got %#v\nwant %#v", got, c.value)
	}

	if c.reqType == 0 {
		return
	}
	frame := golden(t, c.name+".frame")
	if got := c.value.Append(AppendFrame(nil, c.reqType)); !bytes.Equal(got, frame) {
		t.Errorf("frame:\n got %x\nwant %x", got, frame)
	}
	typ, body, err := SplitFrame(frame)
	if err != nil || typ != c.reqType || !bytes.Equal(body, want) {
		t.Errorf("SplitFrame = %d, %x, %v; want %d, %x, nil", typ, body, err, c.reqType, want)
	}
}

func goldenLen(t *testing.T, name string) int {
	t.Helper()
	golden(t, "produce_request.bincode") // load
	n, err := strconv.Atoi(goldenData[name+".len"])
	if err != nil {
		t.Fatalf("%s.len: %v", name, err)
	}
	return n
}

// TestGoldenMalformedVariants derives malformed inputs from every vector:
// each strict prefix must fail as truncated (or as a length beyond what
// remains), and the vector plus one byte as trailing bytes, all without
// touching the receiver.
func TestGoldenMalformedVariants(t *testing.T) {
	for _, c := range allGoldenCases() {
		t.Run(c.name, func(t *testing.T) {
			want := golden(t, c.name+".bincode")
			for i := 0; i < len(want); i++ {
				m := c.value // decoding into the expected value must leave it intact
				before := m.Append(nil)
				err := m.Unmarshal(want[:i])
				if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrInvalidLength) {
					t.Fatalf("prefix of %d bytes: err = %v, want ErrTruncated or ErrInvalidLength", i, err)
				}
				var de *DecodeError
				if !errors.As(err, &de) || de.Offset > i {
					t.Fatalf("prefix of %d bytes: err = %#v, want *DecodeError with offset <= %d", i, err, i)
				}
				if !bytes.Equal(m.Append(nil), before) {
					t.Fatalf("prefix of %d bytes: failed Unmarshal changed the receiver", i)
				}
			}
			err := c.empty().Unmarshal(append(append([]byte(nil), want...), 0))
			var de *DecodeError
			if !errors.Is(err, ErrTrailingBytes) || !errors.As(err, &de) || de.Offset != len(want) {
				t.Fatalf("one trailing byte: err = %v, want ErrTrailingBytes at offset %d", err, len(want))
			}
		})
	}
}

// roundTrip encodes m, checks Size, decodes into a fresh value and expects
// want (m as decoding normalises it), then re-encodes to the same bytes.
func roundTrip(t *testing.T, m Message, empty Message, want Message) {
	t.Helper()
	b := m.Append(nil)
	if m.Size() != len(b) {
		t.Fatalf("Size() = %d, Append wrote %d", m.Size(), len(b))
	}
	if err := empty.Unmarshal(b); err != nil {
		t.Fatalf("Unmarshal(%x): %v", b, err)
	}
	if !reflect.DeepEqual(empty, want) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", empty, want)
	}
	if again := empty.Append(nil); !bytes.Equal(again, b) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
	}
}

// malformedCase is one hand-made bad input and the error it must produce.
type malformedCase struct {
	name   string
	input  []byte
	want   error  // sentinel
	field  string // DecodeError.Field
	offset int    // DecodeError.Offset; -1 to skip
}

func checkMalformed(t *testing.T, typ string, empty func() Message, cases []malformedCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := empty().Unmarshal(c.input)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if de.Type != typ || de.Field != c.field || (c.offset >= 0 && de.Offset != c.offset) {
				t.Fatalf("DecodeError{Type:%q Field:%q Offset:%d}, want {%q %q %d}", de.Type, de.Field, de.Offset, typ, c.field, c.offset)
			}
			if de.Err != c.want && !(c.want == ErrInvalidEnum && de.Err == ErrInvalidOption) {
				t.Fatalf("DecodeError.Err = %v, want the sentinel %v itself", de.Err, c.want)
			}
		})
	}
}

// patch returns a copy of b with p written at off.
func patch(b []byte, off int, p ...byte) []byte {
	out := append([]byte(nil), b...)
	copy(out[off:], p)
	return out
}

// le64 is v little-endian, as bincode writes lengths.
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// at returns the offset of the first occurrence of needle in b, failing
// the test when there is none.
func at(t *testing.T, b []byte, needle string) int {
	t.Helper()
	i := bytes.Index(b, []byte(needle))
	if i < 0 {
		t.Fatalf("%q not in %x", needle, b)
	}
	return i
}

func ptr[T any](v T) *T { return &v }
