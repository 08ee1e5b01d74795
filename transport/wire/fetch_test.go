package wire

import (
	"errors"
	"math"
	"testing"
)

func fetchGolden() []goldenCase {
	return []goldenCase{
		{"fetch_request", TypeFetch,
			&FetchRequest{Topic: "events", PartitionID: 1, FetchOffset: 42, MaxBytes: 1048576, TimeoutMs: 5000},
			func() Message { return new(FetchRequest) }},
		{"fetch_response", TypeFetch,
			&FetchResponse{
				Records: []Record{
					{Key: []byte("k"), Value: []byte("v1"), Headers: []Header{{Key: "h", Value: []byte("x")}}, Timestamp: 1700000000000},
					{Key: nil, Value: []byte{}, Timestamp: -1},
				},
				HighWatermark: 44,
			},
			func() Message { return new(FetchResponse) }},
	}
}

func TestFetchGolden(t *testing.T) {
	for _, c := range fetchGolden() {
		t.Run(c.name, func(t *testing.T) { checkGolden(t, c) })
	}
}

func TestFetchRoundTrip(t *testing.T) {
	roundTrip(t, &FetchRequest{}, new(FetchRequest), &FetchRequest{})
	max := &FetchRequest{Topic: "t/ü", PartitionID: math.MaxUint32, FetchOffset: math.MaxUint64, MaxBytes: math.MaxUint32, TimeoutMs: math.MaxUint32}
	roundTrip(t, max, new(FetchRequest), max)

	roundTrip(t, &FetchResponse{Records: []Record{}}, new(FetchResponse), &FetchResponse{})
	withErr := &FetchResponse{HighWatermark: 7, ErrorCode: 6, ErrorMessage: ptr("moved")}
	roundTrip(t, withErr, new(FetchResponse), withErr)
	withKeys := &FetchResponse{Records: []Record{
		{Key: []byte{}, Value: []byte("a"), Headers: []Header{{Key: HeaderCodec, Value: []byte("lz4")}}},
		{Key: []byte("k"), Value: []byte("b"), Timestamp: math.MaxInt64},
	}, ErrorMessage: ptr("")}
	roundTrip(t, withKeys, new(FetchResponse), withKeys)
}

func TestFetchRequestMalformed(t *testing.T) {
	base := golden(t, "fetch_request.bincode")
	checkMalformed(t, "FetchRequest", func() Message { return new(FetchRequest) }, []malformedCase{
		{"empty", nil, ErrTruncated, "topic", 0},
		{"topic length hostile", patch(base, 0, le64(1<<50)...), ErrInvalidLength, "topic", 0},
		{"topic not UTF-8", patch(base, 9, 0x80), ErrInvalidUTF8, "topic", 0},
		{"fetch offset truncated", base[:20], ErrTruncated, "fetch_offset", 18},
		{"max bytes truncated", base[:27], ErrTruncated, "max_bytes", 26},
		{"timeout truncated", base[:31], ErrTruncated, "timeout_ms", 30},
		{"trailing", append(append([]byte(nil), base...), 9), ErrTrailingBytes, "", len(base)},
	})
}

func TestFetchResponseMalformed(t *testing.T) {
	base := golden(t, "fetch_response.bincode")
	n := len(base)
	hKey := at(t, base, "h\x01") // header key "h", then its value's length
	checkMalformed(t, "FetchResponse", func() Message { return new(FetchResponse) }, []malformedCase{
		{"empty", nil, ErrTruncated, "records", 0},
		{"record count hostile", patch(base, 0, le64(math.MaxUint64)...), ErrInvalidLength, "records", 0},
		{"first key option tag 2", patch(base, 8, 2), ErrInvalidOption, "records[0].key", 8},
		{"key length beyond input", patch(base, 9, le64(1000)...), ErrInvalidLength, "records[0].key", 9},
		{"header key not UTF-8", patch(base, hKey, 0xfe), ErrInvalidUTF8, "records[0].headers[0].key", hKey - 8},
		{"header value length beyond input", patch(base, hKey+1, le64(1<<33)...), ErrInvalidLength, "records[0].headers[0].value", hKey + 1},
		{"error message tag 2", patch(base, n-1, 2), ErrInvalidOption, "error_message", n - 1},
		{"high watermark truncated", base[:n-13+3], ErrTruncated, "high_watermark", n - 13},
		{"trailing", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "", n},
	})
}

func TestFetchResponseErr(t *testing.T) {
	if err := (&FetchResponse{}).Err(); err != nil {
		t.Fatal(err)
	}
	err := (&FetchResponse{ErrorCode: 6}).Err()
	if !errors.Is(err, ErrNotLeader) || !IsRetriable(err) {
		t.Fatalf("Err() = %v", err)
	}
}
