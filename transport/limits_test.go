package transport

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// zeros backs the answers of sizedHandler, so that the server side of a
// test allocates nothing per answer and heap measurements see the client.
var zeros = make([]byte, 64<<20)

// sizedHandler answers each request with its type and a body of as many
// zero bytes as the request's body names in decimal, so one server serves
// every case. It writes the answer itself, from zeros.
func sizedHandler(r *request) []byte {
	n := 0
	for _, c := range r.Body {
		n = n*10 + int(c-'0')
	}
	if n < 0 || n > len(zeros) {
		return wire.AppendErrorFrame(nil, "size out of range")
	}
	if _, err := r.Stream.Write([]byte{r.Type}); err == nil {
		if _, err := r.Stream.Write(zeros[:n]); err == nil {
			_ = r.Stream.Close()
			return nil
		}
	}
	r.Stream.CancelWrite(0)
	return nil
}

func itoa(n int) []byte { return strconv.AppendInt(nil, int64(n), 10) }

// TestResponseLimitPerType: answers that are small by nature (Produce,
// Authenticate, Capabilities) are refused past 64 KiB whatever
// MaxResponseBytes allows; Metadata and Fetch may use all of it.
func TestResponseLimitPerType(t *testing.T) {
	s := startServer(t, serverOpts{handler: sizedHandler})
	c := dial(t, testDialer(t, s, Config{MaxResponseBytes: 4 << 20}), s)
	for _, tc := range []struct {
		typ  byte
		size int
		ok   bool
	}{
		{wire.TypeProduce, smallResponseBytes, true},
		{wire.TypeProduce, smallResponseBytes + 1, false},
		{wire.TypeAuthenticate, smallResponseBytes + 1, false},
		{wire.TypeCapabilities, smallResponseBytes + 1, false},
		{wire.TypeMetadata, 4 << 20, true},
		{wire.TypeFetch, 4 << 20, true},
		{wire.TypeFetch, 4<<20 + 1, false},
		{42, 1 << 20, true}, // unknown types get MaxResponseBytes
	} {
		got, err := c.Do(testCtx(t), tc.typ, itoa(tc.size))
		if tc.ok && (err != nil || len(got) != tc.size) {
			t.Errorf("type %d, %d bytes: %d bytes, %v", tc.typ, tc.size, len(got), err)
		}
		if !tc.ok && (!errors.Is(err, ErrResponseTooLarge) || IsRetriable(err)) {
			t.Errorf("type %d, %d bytes: %v, want ErrResponseTooLarge", tc.typ, tc.size, err)
		}
	}
	if _, err := c.Capabilities(testCtx(t)); !errors.Is(err, ErrResponseTooLarge) {
		// the handler answers the probe with a body sized by its request:
		// the version u32 1 reads as a huge decimal here, so it is refused.
		t.Errorf("Capabilities: %v", err)
	}
	if c.Context().Err() != nil {
		t.Fatal("a refused answer ended the connection")
	}
}

// TestHugeErrorFrameIsCut: a 10 MB error text becomes a *BrokerError
// holding its first KiB and a marker; the rest is not read, and the
// connection stays usable.
func TestHugeErrorFrameIsCut(t *testing.T) {
	text := strings.Repeat("é", 5<<20) // 10 MB of two-byte characters
	s := startServer(t, serverOpts{handler: func(r *request) []byte {
		if r.Type == wire.TypeFetch {
			return echo(r)
		}
		return wire.AppendErrorFrame(nil, text)
	}})
	c := dial(t, testDialer(t, s, Config{}), s)
	for _, typ := range []byte{wire.TypeProduce, wire.TypeMetadata} {
		_, err := c.Do(testCtx(t), typ, []byte("x"))
		be := errAs[*BrokerError](t, err)
		if len(be.Message) > wire.MaxErrorTextBytes+20 || !strings.HasPrefix(be.Message, "éé") || !strings.HasSuffix(be.Message, "[truncated]") {
			t.Fatalf("type %d: message of %d bytes: %.40q...%q", typ, len(be.Message), be.Message, be.Message[max(0, len(be.Message)-20):])
		}
	}
	if got, err := c.Do(testCtx(t), wire.TypeFetch, []byte("still here")); err != nil || string(got) != "still here" {
		t.Fatalf("after the huge error frames: %q, %v", got, err)
	}
	// A short error frame is read whole.
	s.SetHandler(func(*request) []byte { return wire.AppendErrorFrame(nil, "unknown topic") })
	_, err := c.Do(testCtx(t), wire.TypeProduce, nil)
	if be := errAs[*BrokerError](t, err); be.Message != "unknown topic" {
		t.Fatalf("short error frame: %q", be.Message)
	}
}

// TestConcurrentHugeAnswersHeap measures, in one run, what 8 concurrent
// oversized answers cost the client's heap: Produce answers (refused at
// 64 KiB) against Metadata answers of the same size (read whole, as every
// answer was before the per-type limit). It reports both and checks that
// the refused ones cost a small fraction; BenchmarkHugeAnswers runs the
// 50 MB case of issue 8.
func TestConcurrentHugeAnswersHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MB over loopback")
	}
	const answers, size = 8, 2 << 20
	s := startServer(t, serverOpts{handler: sizedHandler})
	c := dial(t, testDialer(t, s, Config{}), s)
	produce := hugeAnswers(t, c, wire.TypeProduce, answers, size)
	metadata := hugeAnswers(t, c, wire.TypeMetadata, answers, size)
	t.Logf("%d concurrent %d MiB answers: produce (refused) allocated %.1f MiB, peak heap +%.1f MiB; metadata (read whole) allocated %.1f MiB, peak heap +%.1f MiB",
		answers, size>>20, mib(produce.alloc), mib(produce.peak), mib(metadata.alloc), mib(metadata.peak))
	if produce.alloc*8 > metadata.alloc {
		t.Fatalf("refused produce answers allocated %.1f MiB, more than 1/8 of the %.1f MiB of answers read whole", mib(produce.alloc), mib(metadata.alloc))
	}
}

// heapCost is what a round of answers cost the heap: bytes allocated, the
// peak growth seen while they arrived (garbage not yet collected
// included), and what stays live after a collection while the answers are
// still referenced.
type heapCost struct{ alloc, peak, live uint64 }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// hugeAnswers asks n concurrent requests of typ for size-byte answers and
// returns the bytes allocated meanwhile and the peak heap growth sampled
// as the answers arrived.
func hugeAnswers(t testing.TB, c *Conn, typ byte, n, size int) heapCost {
	t.Helper()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		peak uint64
		keep = make([][]byte, n) // answers stay referenced until all are in
	)
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		if m.HeapAlloc > before.HeapAlloc && m.HeapAlloc-before.HeapAlloc > peak {
			peak = m.HeapAlloc - before.HeapAlloc
		}
		mu.Unlock()
	}
	for i := range n {
		wg.Go(func() {
			body, err := c.Do(testCtx(t), typ, itoa(size))
			sample()
			if typ == wire.TypeProduce {
				if !errors.Is(err, ErrResponseTooLarge) {
					t.Errorf("produce answer of %d bytes: %v", size, err)
				}
				return
			}
			if err != nil || len(body) != size || !bytes.Equal(body[:4], []byte{0, 0, 0, 0}) {
				t.Errorf("metadata answer: %d bytes, %v", len(body), err)
			}
			keep[i] = body
		})
	}
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.GC()
	var live runtime.MemStats
	runtime.ReadMemStats(&live)
	runtime.KeepAlive(keep)
	h := heapCost{alloc: after.TotalAlloc - before.TotalAlloc, peak: peak}
	if live.HeapAlloc > before.HeapAlloc {
		h.live = live.HeapAlloc - before.HeapAlloc
	}
	return h
}

// BenchmarkHugeAnswers is issue 8's case: 8 partitions each answered with
// 50 MB at once. "produce" is refused at 64 KiB by the per-type limit;
// "metadata" is read whole (MaxResponseBytes 64 MiB), as every answer was
// before. Reports the client's allocations and peak heap growth per round.
func BenchmarkHugeAnswers(b *testing.B) {
	const answers, size = 8, 50 << 20
	s := startServer(b, serverOpts{handler: sizedHandler})
	c := dial(b, testDialer(b, s, Config{}), s)
	for _, tc := range []struct {
		name string
		typ  byte
	}{{"produce", wire.TypeProduce}, {"metadata", wire.TypeMetadata}} {
		b.Run(tc.name, func(b *testing.B) {
			var alloc, peak, live uint64
			rounds := 0
			for b.Loop() {
				h := hugeAnswers(b, c, tc.typ, answers, size)
				alloc += h.alloc
				peak = max(peak, h.peak)
				live = max(live, h.live)
				rounds++
			}
			b.ReportMetric(mib(alloc)/float64(rounds), "MiB-alloc/round")
			b.ReportMetric(mib(peak), "MiB-peak-heap")
			b.ReportMetric(mib(live), "MiB-live")
		})
	}
}

// TestReadFrameBounds drives readFrame one byte at a time and all at once
// around its bounds.
func TestReadFrameBounds(t *testing.T) {
	const limit = 2000
	errFrame := func(n int) []byte { return append([]byte{wire.TypeError}, bytes.Repeat([]byte("e"), n-1)...) }
	for _, tc := range []struct {
		name  string
		frame []byte
		want  int // bytes returned; -1: ErrResponseTooLarge
		cut   bool
	}{
		{"empty", nil, 0, false},
		{"at limit", make([]byte, limit+1), limit + 1, false},
		{"over limit", make([]byte, limit+2), -1, false},
		{"error frame whole", errFrame(int(errorFrameBytes)), int(errorFrameBytes), false},
		{"error frame cut", errFrame(int(errorFrameBytes) + 1), int(errorFrameBytes), true},
		{"error frame past limit", errFrame(limit * 10), int(errorFrameBytes), true},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(tc.frame)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			got, cut, err := readFrame(r, limit)
			switch {
			case tc.want < 0:
				if !errors.Is(err, ErrResponseTooLarge) {
					t.Errorf("%s (one byte %v): %d bytes, %v", tc.name, oneByte, len(got), err)
				}
			case err != nil || len(got) != tc.want || cut != tc.cut || !bytes.Equal(got, tc.frame[:tc.want]):
				t.Errorf("%s (one byte %v): %d bytes, cut %v, %v; want %d, cut %v", tc.name, oneByte, len(got), cut, err, tc.want, tc.cut)
			}
		}
	}
	if _, _, err := readFrame(iotest.ErrReader(io.ErrUnexpectedEOF), limit); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error: %v", err)
	}
}
