package wire

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"testing"
)

func produceRequestGoldenValue() *ProduceRequest {
	return &ProduceRequest{
		Topic:       "events",
		PartitionID: 1,
		Records: []Record{
			{
				Key:   []byte("user-42"),
				Value: []byte("hello"),
				Headers: []Header{
					{Key: "content-type", Value: []byte("text/plain")},
					{Key: "trace-id", Value: []byte{0x01, 0x02, 0x03}},
				},
				Timestamp: 1700000000000,
			},
			{Key: nil, Value: []byte("world"), Timestamp: 1700000000001},
		},
		Acks:      Acks{Level: AckAll},
		TimeoutMs: 30000,
	}
}

func produceGolden() []goldenCase {
	return []goldenCase{
		{"produce_request", TypeProduce, produceRequestGoldenValue(), func() Message { return new(ProduceRequest) }},
		{"produce_response", TypeProduce, &ProduceResponse{Offset: 42}, func() Message { return new(ProduceResponse) }},
		{"produce_response_error", TypeProduce,
			&ProduceResponse{ErrorCode: 3, ErrorMessage: ptr("Unknown topic or partition: nope/0")},
			func() Message { return new(ProduceResponse) }},
	}
}

func TestProduceGolden(t *testing.T) {
	for _, c := range produceGolden() {
		t.Run(c.name, func(t *testing.T) { checkGolden(t, c) })
	}
}

func TestProduceRequestRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		in, out *ProduceRequest // out: what decoding yields when it normalises in
	}{
		{"custom acks", &ProduceRequest{Topic: "t", Records: []Record{{Value: []byte("v")}}, Acks: Acks{Level: AckCustom, Custom: 1<<64 - 1}}, nil},
		{"every plain ack level", &ProduceRequest{Topic: "t", Acks: Acks{Level: AckMajority}, TimeoutMs: math.MaxUint32, PartitionID: math.MaxUint32}, nil},
		{"acks none", &ProduceRequest{Topic: "t", Acks: Acks{Level: AckNone}}, nil},
		{"acks leader", &ProduceRequest{Topic: "t", Acks: Acks{Level: AckLeader}}, nil},
		{"Custom ignored unless AckCustom",
			&ProduceRequest{Topic: "t", Acks: Acks{Level: AckLeader, Custom: 7}},
			&ProduceRequest{Topic: "t", Acks: Acks{Level: AckLeader}}},
		{"empty records slice decodes as nil",
			&ProduceRequest{Topic: "t", Records: []Record{}},
			&ProduceRequest{Topic: "t"}},
		{"empty topic", &ProduceRequest{}, nil},
		{"Some(empty) key and nil key", &ProduceRequest{Topic: "t", Records: []Record{
			{Key: []byte{}, Value: []byte("a")},
			{Key: nil, Value: []byte("b")},
		}}, nil},
		{"nil value decodes as empty",
			&ProduceRequest{Topic: "t", Records: []Record{{Key: []byte("k")}}},
			&ProduceRequest{Topic: "t", Records: []Record{{Key: []byte("k"), Value: []byte{}}}}},
		{"headers with empty and nil values, negative timestamp",
			&ProduceRequest{Topic: "ünïcødé", Records: []Record{{
				Value:     []byte("v"),
				Headers:   []Header{{Key: "", Value: []byte{}}, {Key: HeaderTraceparent, Value: nil}},
				Timestamp: math.MinInt64,
			}}},
			&ProduceRequest{Topic: "ünïcødé", Records: []Record{{
				Value:     []byte("v"),
				Headers:   []Header{{Key: "", Value: []byte{}}, {Key: HeaderTraceparent, Value: []byte{}}},
				Timestamp: math.MinInt64,
			}}}},
		{"records with different header counts", &ProduceRequest{Topic: "t", Records: []Record{
			{Value: []byte("1"), Headers: []Header{{Key: "a", Value: []byte("1")}}},
			{Value: []byte("2")},
			{Value: []byte("3"), Headers: []Header{{Key: "b", Value: []byte("1")}, {Key: "c", Value: []byte("2")}, {Key: "d", Value: []byte("3")}}},
			{Value: []byte("4"), Headers: []Header{{Key: HeaderProducerID, Value: make([]byte, 8)}, {Key: HeaderSequence, Value: make([]byte, 8)}, {Key: HeaderCodec, Value: []byte("zstd")}, {Key: HeaderTracestate, Value: []byte("x=y")}}},
		}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := c.out
			if out == nil {
				out = c.in
			}
			roundTrip(t, c.in, new(ProduceRequest), out)
		})
	}
}

func TestProduceResponseRoundTrip(t *testing.T) {
	for _, m := range []*ProduceResponse{
		{},
		{Offset: math.MaxUint64, ErrorCode: math.MaxUint32},
		{ErrorCode: 1, ErrorMessage: ptr("")},
		{ErrorCode: 6, ErrorMessage: ptr("not leader: ask peer-2")},
	} {
		roundTrip(t, m, new(ProduceResponse), m)
	}
}

func TestProduceRequestMalformed(t *testing.T) {
	base := golden(t, "produce_request.bincode")
	n := len(base)
	trace := at(t, base, "trace-id")
	headers := at(t, base, "hello") + 5
	second := at(t, base, "world") - 8 - 1
	checkMalformed(t, "ProduceRequest", func() Message { return new(ProduceRequest) }, []malformedCase{
		{"empty input", nil, ErrTruncated, "topic", 0},
		{"topic not UTF-8", patch(base, 8, 0xff), ErrInvalidUTF8, "topic", 0},
		{"topic length beyond input", patch(base, 0, le64(1<<40)...), ErrInvalidLength, "topic", 0},
		{"topic length beyond MaxInt", patch(base, 0, le64(math.MaxUint64)...), ErrInvalidLength, "topic", 0},
		{"partition truncated", base[:16], ErrTruncated, "partition_id", 14},
		{"record count hostile", patch(base, 18, le64(1<<62)...), ErrInvalidLength, "records", 18},
		// 148 bytes follow the count; 6 minimal records need 150.
		{"record count one too many for what remains", patch(base, 18, le64(6)...), ErrInvalidLength, "records", 18},
		{"key option tag 2", patch(base, 26, 2), ErrInvalidOption, "records[0].key", 26},
		{"key option tag 0xff is an enum error too", patch(base, 26, 0xff), ErrInvalidEnum, "records[0].key", 26},
		{"header count hostile", patch(base, headers, le64(1<<60)...), ErrInvalidLength, "records[0].headers", headers},
		{"header key not UTF-8", patch(base, trace, 0xc0), ErrInvalidUTF8, "records[0].headers[1].key", trace - 8},
		{"second record key tag 3", patch(base, second, 3), ErrInvalidOption, "records[1].key", second},
		{"acks variant 5", patch(base, n-8, 5), ErrInvalidEnum, "acks", n - 8},
		{"acks variant 0xffffffff", patch(base, n-8, 0xff, 0xff, 0xff, 0xff), ErrInvalidEnum, "acks", n - 8},
		{"timeout truncated", base[:n-1], ErrTruncated, "timeout_ms", n - 4},
		{"trailing byte", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "", n},
	})

	// Custom acks whose u64 is cut short.
	custom := (&ProduceRequest{Topic: "t", Acks: Acks{Level: AckCustom, Custom: 2}}).Append(nil)
	checkMalformed(t, "ProduceRequest", func() Message { return new(ProduceRequest) }, []malformedCase{
		{"custom acks truncated", custom[:len(custom)-6], ErrTruncated, "acks", 25}, // at the u64 after the variant index,
	})
}

func TestProduceResponseMalformed(t *testing.T) {
	base := golden(t, "produce_response_error.bincode")
	checkMalformed(t, "ProduceResponse", func() Message { return new(ProduceResponse) }, []malformedCase{
		{"empty input", []byte{}, ErrTruncated, "offset", 0},
		{"error code truncated", base[:10], ErrTruncated, "error_code", 8},
		{"option tag 2", patch(base, 12, 2), ErrInvalidOption, "error_message", 12},
		{"option tag missing", base[:12], ErrTruncated, "error_message", 12},
		{"message length hostile", patch(base, 13, le64(1<<63)...), ErrInvalidLength, "error_message", 13},
		{"message not UTF-8", patch(base, 21, 0xed, 0xa0, 0x80), ErrInvalidUTF8, "error_message", 13},
		{"trailing bytes", append(append([]byte(nil), base...), 1, 2), ErrTrailingBytes, "", len(base)},
	})
}

// A count promising far more records than the input could hold is refused
// before anything sized by it is allocated.
func TestProduceRequestHostileCountDoesNotAllocate(t *testing.T) {
	in := append(make([]byte, 8+4), le64(1<<40)...) // topic "", partition 0, 2^40 records
	var m ProduceRequest
	allocs := testing.AllocsPerRun(50, func() {
		if err := m.Unmarshal(in); !errors.Is(err, ErrInvalidLength) {
			t.Fatalf("err = %v", err)
		}
	})
	if allocs > 1 { // the *DecodeError
		t.Fatalf("rejecting a hostile count allocated %v times", allocs)
	}
}

func TestProduceRequestUnmarshalAliasesInput(t *testing.T) {
	in := golden(t, "produce_request.bincode")
	in = append([]byte(nil), in...)
	var m ProduceRequest
	if err := m.Unmarshal(in); err != nil {
		t.Fatal(err)
	}
	v := m.Records[0].Value
	if &v[0] != &in[at(t, in, "hello")] {
		t.Fatal("Value does not alias the input")
	}
	// Capacity is clipped, so appending copies instead of overwriting the
	// bytes after the value.
	_ = append(v, 'X')
	if !bytes.Equal(in, golden(t, "produce_request.bincode")) {
		t.Fatal("appending to a decoded value overwrote the input")
	}
	if h := m.Records[0].Headers; cap(h) != len(h) {
		t.Fatalf("headers capacity %d not clipped to length %d", cap(h), len(h))
	}
}

func TestProduceUnmarshalReplacesReceiver(t *testing.T) {
	m := produceRequestGoldenValue()
	if err := m.Unmarshal((&ProduceRequest{Topic: "x"}).Append(nil)); err != nil {
		t.Fatal(err)
	}
	if m.Topic != "x" || m.Records != nil || m.PartitionID != 0 || m.TimeoutMs != 0 || m.Acks != (Acks{}) {
		t.Fatalf("old fields survived: %#v", m)
	}
}

func TestProduceResponseErr(t *testing.T) {
	if err := (&ProduceResponse{Offset: 9}).Err(); err != nil {
		t.Fatalf("code 0: %v", err)
	}
	var m ProduceResponse
	if err := m.Unmarshal(golden(t, "produce_response_error.bincode")); err != nil {
		t.Fatal(err)
	}
	err := m.Err()
	var re *ResponseError
	if !errors.Is(err, ErrUnknownTopicOrPartition) || !errors.As(err, &re) || re.Message != "Unknown topic or partition: nope/0" {
		t.Fatalf("Err() = %v", err)
	}
	if !IsRetriable(err) {
		t.Fatal("code 3 should be retriable")
	}
}

// TestProduceUnmarshalReusing decodes into the records' backing array when
// it is large enough, leaves no field of an earlier record behind, and
// allocates a new array when it is not.
func TestProduceUnmarshalReusing(t *testing.T) {
	ts := int64(1700000000000)
	first := &ProduceRequest{Topic: "t", Records: []Record{
		{Key: []byte("k1"), Value: []byte("v1"), Headers: []Header{{Key: "h", Value: []byte("x")}}, Timestamp: ts},
		{Key: []byte("k2"), Value: []byte("v2"), Timestamp: ts},
		{Value: []byte("v3"), Headers: []Header{{Key: "a", Value: []byte("b")}}, Timestamp: ts},
	}}
	second := &ProduceRequest{Topic: "u", PartitionID: 2, Records: []Record{
		{Value: []byte("w1"), Timestamp: ts + 1},
		{Key: []byte("k"), Value: []byte("w2"), Timestamp: ts + 2},
	}}
	var m ProduceRequest
	if err := m.UnmarshalReusing(first.Append(nil)); err != nil {
		t.Fatal(err)
	}
	arr := &m.Records[:cap(m.Records)][0]
	if err := m.UnmarshalReusing(second.Append(nil)); err != nil {
		t.Fatal(err)
	}
	if &m.Records[0] != arr {
		t.Fatal("a backing array large enough was not reused")
	}
	if m.Topic != "u" || m.PartitionID != 2 || len(m.Records) != 2 {
		t.Fatalf("decoded %#v", m)
	}
	for i, r := range m.Records {
		w := second.Records[i]
		if !bytes.Equal(r.Key, w.Key) || (r.Key == nil) != (w.Key == nil) || !bytes.Equal(r.Value, w.Value) || r.Headers != nil || r.Timestamp != w.Timestamp {
			t.Fatalf("record %d = %#v, want %#v", i, r, w)
		}
	}
	// Three records again: they fit the array the first decode made.
	if err := m.UnmarshalReusing(first.Append(nil)); err != nil {
		t.Fatal(err)
	}
	if len(m.Records) != 3 || string(m.Records[2].Headers[0].Key) != "a" {
		t.Fatalf("decoded %#v", m.Records)
	}
	// An error leaves m's other fields alone.
	bad := second.Append(nil)
	if err := m.UnmarshalReusing(bad[:len(bad)-1]); err == nil {
		t.Fatal("a truncated request decoded")
	}
	if m.Topic != "t" {
		t.Fatalf("topic %q after a failed decode", m.Topic)
	}
}

// TestProduceUnmarshalHeadersOnFirstRecordOnly: an idempotent batch
// carries its two headers on the first record alone; decoding it must not
// allocate header room for every record (it took 80 KB per 1,000-record
// request, all garbage).
func TestProduceUnmarshalHeadersOnFirstRecordOnly(t *testing.T) {
	recs := make([]Record, 1000)
	for i := range recs {
		recs[i] = Record{Value: make([]byte, 100), Timestamp: 1700000000000}
	}
	recs[0].Headers = []Header{{Key: HeaderProducerID, Value: make([]byte, 8)}, {Key: HeaderSequence, Value: make([]byte, 8)}}
	in := (&ProduceRequest{Topic: "t", Records: recs}).Append(nil)
	var m ProduceRequest
	if err := m.UnmarshalReusing(in); err != nil {
		t.Fatal(err)
	}
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if err := m.UnmarshalReusing(in); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4096 {
		t.Fatalf("decoding allocated %d bytes per request, records reused", per)
	}
	if len(m.Records[0].Headers) != 2 || m.Records[1].Headers != nil {
		t.Fatalf("headers %v / %v", m.Records[0].Headers, m.Records[1].Headers)
	}
}
