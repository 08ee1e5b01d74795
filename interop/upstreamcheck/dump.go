package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// stored is one record of the server's dump.
type stored struct {
	topic     string
	partition int32
	offset    int64
	key       []byte // nil for a record without key
	value     []byte
	timestamp int64
}

// dumpLine is the JSON of one dump line (interop/upstream-server writes it):
// bytes as lowercase hex, key null when absent.
type dumpLine struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Key       *string `json:"key"`
	Value     string  `json:"value"`
	Headers   []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"headers"`
	Timestamp int64 `json:"timestamp"`
}

// parseDump reads a dump: one JSON object per line.
func parseDump(r io.Reader) ([]stored, error) {
	var out []stored
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var d dumpLine
		if err := json.Unmarshal(line, &d); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		s := stored{topic: d.Topic, partition: d.Partition, offset: d.Offset, timestamp: d.Timestamp}
		var err error
		if d.Key != nil {
			if s.key, err = hex.DecodeString(*d.Key); err != nil {
				return nil, fmt.Errorf("line %d: key: %w", n, err)
			}
			if s.key == nil {
				s.key = []byte{}
			}
		}
		if s.value, err = hex.DecodeString(d.Value); err != nil {
			return nil, fmt.Errorf("line %d: value: %w", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// readDumpWhenReady waits up to wait for the dump file to appear (the
// server writes it whole, by rename, when it stops) and parses it.
func readDumpWhenReady(path string, wait time.Duration) ([]stored, error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := os.Open(path)
		if err == nil {
			defer f.Close()
			return parseDump(f)
		}
		if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
