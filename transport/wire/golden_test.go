package wire

import (
	"bufio"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
)

// testdata/wire-golden.txt is a verbatim copy of shared/wire-golden.txt:
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
