package runtime_test

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/broker"
	rmq "github.com/rustmq/rustmq-go/runtime"
	"github.com/rustmq/rustmq-go/transport/compress"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// TestEndToEndKeyed sends keyed messages across partitions, some large
// enough to be compressed, and reads them back from the broker: each is
// there once, in the partition murmur2 picks, in per-key order, with value,
// headers and timestamp intact, at the offset its result named.
func TestEndToEndKeyed(t *testing.T) {
	t.Parallel()
	const topic, parts, n, keys = "e2e", 4, 3000, 37
	for _, codec := range []compress.Codec{compress.None, compress.Gzip, compress.LZ4, compress.Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			b, ca := startBroker(t, broker.Config{Topics: map[string]int{topic: parts}})
			rt := newRuntime(t, []string{b.Addr()}, ca, nil)
			p := newProducer(t, rt, topic, rmq.ProducerConfig{Compression: codec, CompressThreshold: 200, Linger: 2 * time.Millisecond})
			ctx := ctxTimeout(t, 60*time.Second)

			base := time.UnixMilli(1_700_000_000_000)
			type sent struct {
				key       string
				value     []byte
				ts        int64
				res       *rmq.Result
				err       error
				callbacks int
			}
			all := make([]*sent, n)
			var mu sync.Mutex
			for i := range n {
				key := "key-" + strconv.Itoa(i%keys)
				value := []byte(fmt.Sprintf("msg %d of %s;", i, key))
				if i%5 == 0 { // compressible, above the threshold
					value = append(value, bytes.Repeat([]byte("payload "), 50)...)
				}
				s := &sent{key: key, value: value, ts: base.Add(time.Duration(i) * time.Millisecond).UnixMilli()}
				all[i] = s
				msg, err := rmq.NewMessage().KeyString(key).Payload(value).
					Header("idx", []byte(strconv.Itoa(i))).Header("h2", nil).
					Timestamp(time.UnixMilli(s.ts)).Build()
				if err != nil {
					t.Fatal(err)
				}
				if err := p.SendAsync(ctx, msg, func(r *rmq.Result, err error) {
					mu.Lock()
					s.res, s.err = r, err
					s.callbacks++
					mu.Unlock()
				}); err != nil {
					t.Fatalf("SendAsync %d: %v", i, err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for i, s := range all {
				if s.callbacks != 1 || s.err != nil {
					t.Fatalf("message %d: %d callbacks, err %v", i, s.callbacks, s.err)
				}
				if want := actors.KeyPartition([]byte(s.key), parts); s.res.Partition != want {
					t.Fatalf("message %d key %s: partition %d, want %d", i, s.key, s.res.Partition, want)
				}
			}
			seen := make(map[int]bool)
			for part := range uint32(parts) {
				recs := b.Records(topic, part)
				lastPerKey := make(map[string]int)
				for off, r := range recs {
					idxS, ok := header(r.Headers, "idx")
					if !ok {
						t.Fatalf("partition %d offset %d: no idx header", part, off)
					}
					idx, _ := strconv.Atoi(idxS)
					if seen[idx] {
						t.Fatalf("message %d stored twice", idx)
					}
					seen[idx] = true
					s := all[idx]
					if s.res.Partition != int32(part) || s.res.Offset != int64(off) {
						t.Fatalf("message %d: result %d/%d, stored at %d/%d", idx, s.res.Partition, s.res.Offset, part, off)
					}
					if string(r.Key) != s.key || r.Timestamp != s.ts {
						t.Fatalf("message %d: key %q ts %d, want %q %d", idx, r.Key, r.Timestamp, s.key, s.ts)
					}
					if _, ok := header(r.Headers, "h2"); !ok {
						t.Fatalf("message %d: header h2 lost", idx)
					}
					codecName, compressed := header(r.Headers, wire.HeaderCodec)
					if compressed != (codec != compress.None && len(s.value) >= 200) {
						t.Fatalf("message %d (%d bytes): compressed=%v with codec %v", idx, len(s.value), compressed, codec)
					}
					if compressed && codecName != codec.String() {
						t.Fatalf("message %d: rmq-codec %q, want %q", idx, codecName, codec)
					}
					v, err := compress.DecodeValue(&r)
					if err != nil || !bytes.Equal(v, s.value) {
						t.Fatalf("message %d: value %q (%v), want %q", idx, v, err, s.value)
					}
					if prev, ok := lastPerKey[s.key]; ok && prev > idx {
						t.Fatalf("key %s: message %d stored after %d", s.key, idx, prev)
					}
					lastPerKey[s.key] = idx
					if off == 0 {
						if _, ok := header(r.Headers, wire.HeaderProducerID); !ok {
							t.Fatalf("partition %d: first record without %s", part, wire.HeaderProducerID)
						}
					}
				}
			}
			if len(seen) != n {
				t.Fatalf("%d of %d messages stored", len(seen), n)
			}
			m := p.Metrics()
			if m.Delivered != n || m.Failed != 0 || m.BufferedRecords != 0 || m.BufferedBytes != 0 {
				t.Fatalf("metrics: %+v", m)
			}
			if codec != compress.None && (m.CompressedIn == 0 || m.CompressedOut >= m.CompressedIn) {
				t.Fatalf("compression metrics: in %d out %d", m.CompressedIn, m.CompressedOut)
			}
		})
	}
}
