package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func TestProduceFetchMetadataRoundTrip(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"orders": 3}})
	c := dial(t, b, b.Addr())

	md, err := c.metadata()
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != "broker-0" || md.Brokers[0].Host != "127.0.0.1" {
		t.Fatalf("brokers = %+v", md.Brokers)
	}
	if len(md.TopicsMetadata) != 1 || md.TopicsMetadata[0].Name != "orders" || len(md.TopicsMetadata[0].Partitions) != 3 {
		t.Fatalf("topics = %+v", md.TopicsMetadata)
	}
	for _, p := range md.TopicsMetadata[0].Partitions {
		if p.Leader == nil || *p.Leader != "broker-0" {
			t.Fatalf("partition %d leader %v", p.PartitionID, p.Leader)
		}
	}

	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", PartitionID: 1, Records: records("a", "b"), Acks: wire.Acks{Level: wire.AckLeader}, TimeoutMs: 1000})
	wantCode(t, "produce", r.ErrorCode, r.ErrorMessage, 0)
	if r.Offset != 0 {
		t.Fatalf("first base offset %d", r.Offset)
	}
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", PartitionID: 1, Records: records("c"), Acks: wire.Acks{Level: wire.AckAll}})
	if r.Offset != 2 {
		t.Fatalf("second base offset %d, want 2", r.Offset)
	}
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "orders", PartitionID: 1, Records: records("d"), Acks: wire.Acks{Level: wire.AckNone}})
	if r.ErrorCode != 0 || r.Offset != 3 {
		t.Fatalf("acks None: %+v", r)
	}

	f, err := c.fetch(&wire.FetchRequest{Topic: "orders", PartitionID: 1, FetchOffset: 1, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "fetch", f.ErrorCode, f.ErrorMessage, 0)
	if f.HighWatermark != 4 || len(f.Records) != 3 || string(f.Records[0].Value) != "b" || string(f.Records[2].Value) != "d" {
		t.Fatalf("fetch = hw %d, %d records", f.HighWatermark, len(f.Records))
	}
	got := b.Records("orders", 1)
	if len(got) != 4 || string(got[3].Value) != "d" {
		t.Fatalf("Records = %d", len(got))
	}
	if n, _ := b.HighWatermark("orders", 0); n != 0 {
		t.Fatalf("partition 0 hw %d", n)
	}
}

func TestFetchLimitsAndLongPoll(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}})
	c := dial(t, b, b.Addr())
	big := strings.Repeat("x", 1000)
	c.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: records(big, big, big)})

	// max_bytes smaller than one record still returns one.
	f, err := c.fetch(&wire.FetchRequest{Topic: "t", MaxBytes: 10})
	if err != nil || f.ErrorCode != 0 || len(f.Records) != 1 {
		t.Fatalf("tiny max_bytes: %v %+v", err, f)
	}
	f, _ = c.fetch(&wire.FetchRequest{Topic: "t", MaxBytes: 2100})
	if len(f.Records) != 2 {
		t.Fatalf("max_bytes 2100 gave %d records, want 2", len(f.Records))
	}
	// At the high watermark with no wait: empty answer.
	f, _ = c.fetch(&wire.FetchRequest{Topic: "t", FetchOffset: 3, MaxBytes: 100})
	if f.ErrorCode != 0 || len(f.Records) != 0 || f.HighWatermark != 3 {
		t.Fatalf("at hw: %+v", f)
	}
	// Beyond it: code 1 naming the high watermark.
	f, _ = c.fetch(&wire.FetchRequest{Topic: "t", FetchOffset: 9, MaxBytes: 100})
	if f.ErrorCode != wire.ErrUnknownServerError.Code || !strings.Contains(*f.ErrorMessage, "high watermark 3") {
		t.Fatalf("beyond hw: %d %v", f.ErrorCode, *f.ErrorMessage)
	}
	// Long poll: a fetch at hw waits and is woken by a produce.
	done := make(chan *wire.FetchResponse, 1)
	go func() {
		r, _ := c.fetch(&wire.FetchRequest{Topic: "t", FetchOffset: 3, MaxBytes: 100, TimeoutMs: 5000})
		done <- r
	}()
	c2 := dial(t, b, b.Addr())
	// A produce that lands before the poll starts is read by it at once; one
	// that lands after wakes it. Either way the poll answers the record.
	c2.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: records("late")})
	r := <-done
	if r == nil || len(r.Records) == 0 || string(r.Records[0].Value) != "late" {
		t.Fatalf("long poll answered %+v", r)
	}
}

func TestErrorCodes(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 2}, TopicMaxMessageBytes: map[string]int{"t": 500}})
	c := dial(t, b, b.Addr())
	cases := []struct {
		name string
		req  wire.ProduceRequest
		code uint32
		msg  string
	}{
		{"unknown topic", wire.ProduceRequest{Topic: "nope", Records: records("a")}, 3, `unknown topic "nope"`},
		{"unknown partition", wire.ProduceRequest{Topic: "t", PartitionID: 2, Records: records("a")}, 3, "partition 2 does not exist"},
		{"no records", wire.ProduceRequest{Topic: "t"}, 87, "at least one record"},
		{"negative timestamp", wire.ProduceRequest{Topic: "t", Records: []wire.Record{{Value: []byte("a"), Timestamp: -5}}}, 87, "negative timestamp"},
		{"empty header key", wire.ProduceRequest{Topic: "t", Records: []wire.Record{{Value: []byte("a"), Headers: []wire.Header{{Key: "", Value: []byte("v")}}}}}, 87, `invalid header key "": empty`},
		{"bad codec", wire.ProduceRequest{Topic: "t", Records: []wire.Record{{Value: []byte("a"), Headers: []wire.Header{{Key: wire.HeaderCodec, Value: []byte("snappy")}}}}}, 87, "snappy"},
		{"short pid", wire.ProduceRequest{Topic: "t", Records: []wire.Record{{Value: []byte("a"), Headers: []wire.Header{{Key: wire.HeaderProducerID, Value: []byte{1}}, {Key: wire.HeaderSequence, Value: make([]byte, 8)}}}}}, 87, "rmq-pid must be 8 bytes"},
		{"seq without pid", wire.ProduceRequest{Topic: "t", Records: []wire.Record{{Value: []byte("a"), Headers: []wire.Header{{Key: wire.HeaderSequence, Value: make([]byte, 8)}}}}}, 87, "together"},
		{"pid zero", wire.ProduceRequest{Topic: "t", Records: idem(records("a"), 0, 0)}, 87, "must not be 0"},
		{"pid on later record", wire.ProduceRequest{Topic: "t", Records: append(records("a"), idem(records("b"), 7, 0)...)}, 87, "record 1 carries rmq-pid"},
		{"too large", wire.ProduceRequest{Topic: "t", Records: records(strings.Repeat("x", 600))}, 10, "max message bytes 500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.mustProduce(t, &tc.req)
			wantCode(t, tc.name, r.ErrorCode, r.ErrorMessage, tc.code)
			if r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, tc.msg) {
				t.Fatalf("message %v does not contain %q", r.ErrorMessage, tc.msg)
			}
		})
	}
	if n, _ := b.HighWatermark("t", 0); n != 0 {
		t.Fatalf("a refused batch was appended: hw %d", n)
	}
	f, _ := c.fetch(&wire.FetchRequest{Topic: "nope", MaxBytes: 1})
	wantCode(t, "fetch unknown topic", f.ErrorCode, f.ErrorMessage, 3)
	f, _ = c.fetch(&wire.FetchRequest{Topic: "t", PartitionID: 9, MaxBytes: 1})
	wantCode(t, "fetch unknown partition", f.ErrorCode, f.ErrorMessage, 3)

	frames := []struct {
		name  string
		frame []byte
		text  string
	}{
		{"trailing bytes", append(append([]byte{wire.TypeProduce}, (&wire.ProduceRequest{Topic: "t", Records: records("a")}).Append(nil)...), 0), "cannot decode ProduceRequest"},
		{"truncated fetch", []byte{wire.TypeFetch, 1, 2}, "cannot decode FetchRequest"},
		{"consumer group", []byte{wire.TypeProduce + 3}, "unsupported request type 4"},
		{"type 9", []byte{9, 0, 0}, "unsupported request type 9"},
		{"unknown type", []byte{77}, "unknown request type 77"},
		{"authenticate disabled", append([]byte{wire.TypeAuthenticate}, (&wire.AuthenticateRequest{Mechanism: "PLAIN"}).Append(nil)...), "authentication is not enabled"},
		{"empty", nil, "empty request"},
	}
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.roundTrip(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp) == 0 || resp[0] != wire.TypeError || !bytes.HasPrefix(resp[1:], []byte("Error: ")) || !strings.Contains(string(resp), tc.text) {
				t.Fatalf("answer %q, want 0xFF \"Error: ...%s...\"", resp, tc.text)
			}
		})
	}
}

func TestAutoCreateTopics(t *testing.T) {
	b := startBroker(t, Config{AutoCreateTopics: true, DefaultPartitions: 2})
	c := dial(t, b, b.Addr())
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "fresh", PartitionID: 1, Records: records("a")})
	wantCode(t, "auto-created produce", r.ErrorCode, r.ErrorMessage, 0)
	md, _ := c.metadata("other", "bad/name")
	if len(md.TopicsMetadata) != 1 || md.TopicsMetadata[0].Name != "other" || len(md.TopicsMetadata[0].Partitions) != 2 {
		t.Fatalf("metadata auto-create: %+v", md.TopicsMetadata)
	}
	r = c.mustProduce(t, &wire.ProduceRequest{Topic: "bad/name", Records: records("a")})
	wantCode(t, "invalid name", r.ErrorCode, r.ErrorMessage, 3)
	if got := b.Topics(); len(got) != 2 || got["fresh"] != 2 {
		t.Fatalf("topics %v", got)
	}
	if err := b.CreateTopic("fresh", 3); err == nil {
		t.Fatal("CreateTopic with another partition count succeeded")
	}
}

func TestIdempotence(t *testing.T) {
	// The reorder window is off, so gaps are answered at once (reorder_test.go
	// covers the wait).
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}, IdempotenceReorderWindow: -1})
	c := dial(t, b, b.Addr())
	send := func(pid, seq uint64, vals ...string) *wire.ProduceResponse {
		return c.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: idem(records(vals...), pid, seq), Acks: wire.Acks{Level: wire.AckAll}})
	}
	r := send(42, 1, "x")
	wantCode(t, "new producer not at 0", r.ErrorCode, r.ErrorMessage, 45)
	if r := send(42, 0, "a", "b"); r.ErrorCode != 0 || r.Offset != 0 {
		t.Fatalf("first batch %+v", r)
	}
	if r := send(42, 2, "c"); r.ErrorCode != 0 || r.Offset != 2 {
		t.Fatalf("second batch %+v", r)
	}
	// Another producer interleaves.
	if r := send(7, 0, "z"); r.ErrorCode != 0 || r.Offset != 3 {
		t.Fatalf("other producer %+v", r)
	}
	// Duplicates answer the original offsets and append nothing.
	if r := send(42, 0, "a", "b"); r.ErrorCode != 0 || r.Offset != 0 {
		t.Fatalf("duplicate of first %+v", r)
	}
	if r := send(42, 2, "c"); r.ErrorCode != 0 || r.Offset != 2 {
		t.Fatalf("duplicate of second %+v", r)
	}
	if n, _ := b.HighWatermark("t", 0); n != 4 {
		t.Fatalf("hw after duplicates %d, want 4", n)
	}
	// A gap is code 45 and appends nothing.
	r = send(42, 9, "gap")
	wantCode(t, "gap", r.ErrorCode, r.ErrorMessage, 45)
	if !strings.Contains(*r.ErrorMessage, "expected sequence 3, got 9") {
		t.Fatalf("gap message %q", *r.ErrorMessage)
	}
	// A sequence in the middle of an earlier batch is not a batch start.
	r = send(42, 1, "b")
	wantCode(t, "mid-batch", r.ErrorCode, r.ErrorMessage, 45)
	// Only the last 5 batches are remembered.
	for i := uint64(3); i < 9; i++ {
		if r := send(42, i, "n"); r.ErrorCode != 0 {
			t.Fatalf("seq %d: %+v", i, r)
		}
	}
	r = send(42, 2, "c")
	wantCode(t, "older than the window", r.ErrorCode, r.ErrorMessage, 45)
	if r := send(42, 4, "n"); r.ErrorCode != 0 || r.Offset != 5 {
		t.Fatalf("duplicate inside the window %+v", r)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "nohostport"}, "Listen"},
		{Config{Listen: ":9092"}, "a host is required"},
		{Config{Topics: map[string]int{"t": 0}}, `Topics["t"]`},
		{Config{Topics: map[string]int{"a b": 1}}, "not in [a-zA-Z0-9._-]"},
		{Config{MaxRequestBytes: 1}, "MaxRequestBytes 1"},
		{Config{MaxMessageBytes: -1}, "MaxMessageBytes -1"},
		{Config{Brokers: -2}, "Brokers -2"},
		{Config{DefaultPartitions: -1}, "DefaultPartitions -1"},
		{Config{RequireClientCert: true}, "RequireClientCert needs ClientCAs"},
		{Config{Auth: &AuthConfig{}}, "neither Users nor JWTKey"},
		{Config{TopicMaxMessageBytes: map[string]int{"t": 0}}, "TopicMaxMessageBytes"},
	}
	for _, tc := range bad {
		_, err := Start(context.Background(), tc.cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidConfig mentioning %q", tc.cfg, err, tc.want)
		}
	}
}

func TestLargeRequestsReadToFIN(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}, MaxRequestBytes: 256 << 10})
	c := dial(t, b, b.Addr())
	// 100 KiB of values: well past upstream's single 8 KiB read.
	var vals []string
	for i := 0; i < 100; i++ {
		vals = append(vals, fmt.Sprintf("%04d", i)+strings.Repeat("v", 1020))
	}
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: records(vals...)})
	if r.ErrorCode != 10 {
		// The default max message bytes (1 MiB) admits 100 KiB.
		wantCode(t, "100 KiB batch", r.ErrorCode, r.ErrorMessage, 0)
	}
	got := b.Records("t", 0)
	if len(got) != 100 || string(got[99].Value) != vals[99] {
		t.Fatalf("stored %d records", len(got))
	}
	// Past MaxRequestBytes: a clear error frame.
	huge := wire.ProduceRequest{Topic: "t", Records: records(strings.Repeat("h", 300<<10))}
	_, err := c.produce(&huge)
	text, ok := isErrorFrame(err)
	if !ok || !strings.Contains(text, "request too large") || !strings.Contains(text, "262144") {
		t.Fatalf("oversized request: %v", err)
	}
	if n, _ := b.HighWatermark("t", 0); n != 100 {
		t.Fatalf("oversized request appended: hw %d", n)
	}
}

// TestNoTimestampAccepted pins that -1, Kafka's "no timestamp" (and a value
// docs/protocol.md's own golden FetchResponse carries), is stored as sent rather than
// refused with code 87 as every other negative timestamp is.
func TestNoTimestampAccepted(t *testing.T) {
	b := startBroker(t, Config{Topics: map[string]int{"t": 1}})
	c := dial(t, b, b.Addr())
	r := c.mustProduce(t, &wire.ProduceRequest{Topic: "t", Records: []wire.Record{{Value: []byte("a"), Timestamp: -1}}})
	if r.ErrorCode != 0 {
		t.Fatalf("timestamp -1 refused: code %d %v", r.ErrorCode, r.ErrorMessage)
	}
	if got := b.Records("t", 0); len(got) != 1 || got[0].Timestamp != -1 {
		t.Fatalf("stored %+v", got)
	}
}
