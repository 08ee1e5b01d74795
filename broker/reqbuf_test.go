package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// chunkReader hands out data in the chunk sizes given (cycling), returning
// io.EOF with the last bytes when eofWithData is set and after them
// otherwise, or err instead of io.EOF. It fails the test if read after it
// has ended, and counts its calls.
type chunkReader struct {
	t           *testing.T
	data        []byte
	chunks      []int
	eofWithData bool
	err         error
	calls       int
	ended       bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.ended {
		r.t.Fatal("read after the end")
	}
	end := func() error {
		r.ended = true
		if r.err != nil {
			return r.err
		}
		return io.EOF
	}
	c := r.chunks[r.calls%len(r.chunks)]
	r.calls++
	if len(r.data) == 0 {
		return 0, end()
	}
	n := copy(p[:min(len(p), c)], r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 && r.eofWithData {
		return n, end()
	}
	return n, nil
}

// TestReadRequestMatchesReadAll pins readRequest to what it replaces,
// io.ReadAll(io.LimitReader(r, limit+1)): the same bytes and error for any
// chunking, request length around the limit, way of ending and pooled
// buffer it starts from.
func TestReadRequestMatchesReadAll(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const limit = 3000
	lengths := []int{0, 1, 511, 512, 513, 2999, limit, limit + 1, limit + 2, 10000}
	for range 30 {
		lengths = append(lengths, rnd.IntN(2*limit))
	}
	chunkings := [][]int{{1}, {7, 1, 300}, {512}, {4096}, {100000}, {0, 5, 0, 9}}
	for _, n := range lengths {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rnd.Uint32())
		}
		for _, chunks := range chunkings {
			for _, withData := range []bool{false, true} {
				for _, rerr := range []error{nil, errors.New("stream reset")} {
					name := fmt.Sprintf("len %d chunks %v eof-with-data %v err %v", n, chunks, withData, rerr)
					want, wantErr := io.ReadAll(io.LimitReader(&chunkReader{t: t, data: data, chunks: chunks, eofWithData: withData, err: rerr}, limit+1))
					frame, buf, err := readRequest(&chunkReader{t: t, data: data, chunks: chunks, eofWithData: withData, err: rerr}, limit)
					if !bytes.Equal(frame, want) || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
						t.Fatalf("%s: %d bytes, %v; io.ReadAll gives %d bytes, %v", name, len(frame), err, len(want), wantErr)
					}
					buf.release()
				}
			}
		}
	}
}

// TestReadRequestStopsPastLimit: as with LimitReader, the read stops once
// limit+1 bytes are in, without waiting for the rest of a request that is
// already too large; and a limit whose +1 overflows means no limit (a
// LimitReader with that N would read nothing, so MaxRequestBytes =
// math.MaxInt64 made every request "empty").
func TestReadRequestStopsPastLimit(t *testing.T) {
	r := &chunkReader{t: t, data: make([]byte, 1000), chunks: []int{10}}
	frame, buf, err := readRequest(r, 99)
	if err != nil || len(frame) != 100 || r.calls != 10 {
		t.Fatalf("%d bytes, %v, %d reads; want 100 bytes in 10 reads", len(frame), err, r.calls)
	}
	buf.release()
	r = &chunkReader{t: t, data: []byte("x"), chunks: []int{1}}
	limit := int64(math.MaxInt64)
	frame, buf, err = readRequest(r, limit)
	if err != nil || string(frame) != "x" {
		t.Fatalf("MaxInt64 limit: %q, %v; want the whole request", frame, err)
	}
	buf.release()
}

// TestReleaseDropsLargeBuffers: a buffer past maxPooledRequest is not kept.
func TestReleaseDropsLargeBuffers(t *testing.T) {
	big := &requestBuf{b: make([]byte, 0, maxPooledRequest+1)}
	big.release()
	for range 100 {
		buf := requestBufs.Get().(*requestBuf)
		if buf == big {
			t.Fatal("a buffer over maxPooledRequest came back from the pool")
		}
	}
}

// TestPooledRequestBuffersNotRetained sends many Produce batches of equal
// size, so that their streams read into the same few pooled buffers, some
// concurrently and some held in the reorder buffer while later ones are
// read, with Fetch and Metadata requests (also pooled) between them; then
// checks that every stored record is the one sent, byte for byte.
func TestPooledRequestBuffersNotRetained(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 2}, IdempotenceReorderWindow: 10 * time.Second})
	c := dial(t, b, b.Addr())
	value := func(batch, i int) string {
		return fmt.Sprintf("%03d-%03d-", batch, i) + strings.Repeat(string(rune('a'+(batch+i)%26)), 200)
	}
	batchOf := func(batch int) []wire.Record {
		var vals []string
		for i := range 50 {
			vals = append(vals, value(batch, i))
		}
		recs := records(vals...)
		recs[1].Headers = []wire.Header{{Key: "h", Value: []byte(value(batch, 1))}}
		return recs
	}
	const plain, held = 40, 8
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < plain; k += 4 {
				if r, err := c.produce(&wire.ProduceRequest{Topic: "t", Records: batchOf(k)}); err != nil || r.ErrorCode != 0 {
					t.Errorf("batch %d: %v %+v", k, err, r)
					return
				}
				if _, err := c.fetch(&wire.FetchRequest{Topic: "t", FetchOffset: 0, MaxBytes: 1000}); err != nil {
					t.Errorf("fetch: %v", err)
				}
				if _, err := c.metadata("t"); err != nil {
					t.Errorf("metadata: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	// Idempotent batches on partition 1 sent last first: each waits, its
	// request buffer still in use, while the following ones are read.
	const pid = 9
	var results []<-chan produceResult
	for k := held - 1; k >= 0; k-- {
		req := &wire.ProduceRequest{Topic: "t", PartitionID: 1, Records: idem(batchOf(plain+k), pid, uint64(k*50))}
		results = append(results, produceAsync(c, req))
		if k > 0 {
			waitHeld(t, b, "t", 1, held-k)
		}
	}
	for _, res := range results {
		if r := <-res; r.err != nil || r.r.ErrorCode != 0 {
			t.Fatalf("held batch: %v %+v", r.err, r.r)
		}
	}
	seen := map[string]bool{}
	for p := range uint32(2) {
		got := b.Records("t", p)
		for i, r := range got {
			var batch, idx int
			if _, err := fmt.Sscanf(string(r.Value), "%03d-%03d-", &batch, &idx); err != nil || string(r.Value) != value(batch, idx) {
				t.Fatalf("partition %d record %d holds %.20q...: not a value that was sent", p, i, r.Value)
			}
			if idx == 1 && (len(r.Headers) == 0 || string(r.Headers[0].Value) != value(batch, 1)) {
				t.Fatalf("partition %d record %d: header %v differs from the one sent", p, i, r.Headers)
			}
			seen[string(r.Value)] = true
		}
	}
	if len(seen) != (plain+held)*50 {
		t.Fatalf("%d distinct records stored, want %d", len(seen), (plain+held)*50)
	}
}

// BenchmarkReadRequest reads a Produce-sized request (1000 records of 100
// bytes, ~125 KB) arriving in QUIC-packet-sized pieces, the pooled way
// serveStream does and with io.ReadAll as before.
func BenchmarkReadRequest(b *testing.B) {
	const size, piece, limit = 125_000, 1200, DefaultMaxRequestBytes
	data := bytes.Repeat([]byte{0xAB}, size)
	r := &pieceReader{piece: piece}
	b.Run("pooled", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			r.data = data
			frame, buf, err := readRequest(r, limit)
			if err != nil || len(frame) != size {
				b.Fatal(len(frame), err)
			}
			buf.release()
		}
	})
	b.Run("readall", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			r.data = data
			frame, err := io.ReadAll(io.LimitReader(r, limit+1))
			if err != nil || len(frame) != size {
				b.Fatal(len(frame), err)
			}
		}
	})
}

// pieceReader returns data at most piece bytes at a time, then io.EOF.
type pieceReader struct {
	data  []byte
	piece int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.piece)], r.data)
	r.data = r.data[n:]
	return n, nil
}
