package wire

import (
	"math"
	"testing"
)

func metadataResponseGoldenValue() *MetadataResponse {
	return &MetadataResponse{
		Brokers: []BrokerInfo{{ID: "peer-1", Host: "127.0.0.1", PortQUIC: 9092, PortRPC: 9093, RackID: "rack-a"}},
		TopicsMetadata: []TopicMetadata{{
			Name: "events",
			Partitions: []PartitionMetadata{
				{PartitionID: 0, Leader: ptr("peer-1"), Replicas: []string{"peer-1"}},
				{PartitionID: 1, Leader: nil, Replicas: nil},
			},
		}},
	}
}

func metadataGolden() []goldenCase {
	newReq := func() Message { return new(MetadataRequest) }
	return []goldenCase{
		{"metadata_request", TypeMetadata, &MetadataRequest{Topics: []string{"events", "orders"}}, newReq},
		{"metadata_request_all", TypeMetadata, &MetadataRequest{}, newReq},
		{"metadata_response", TypeMetadata, metadataResponseGoldenValue(), func() Message { return new(MetadataResponse) }},
	}
}

func TestMetadataGolden(t *testing.T) {
	for _, c := range metadataGolden() {
		t.Run(c.name, func(t *testing.T) { checkGolden(t, c) })
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	roundTrip(t, &MetadataRequest{Topics: []string{}}, new(MetadataRequest), &MetadataRequest{})
	roundTrip(t, &MetadataRequest{Topics: []string{"", "ü"}}, new(MetadataRequest), &MetadataRequest{Topics: []string{"", "ü"}})

	roundTrip(t, &MetadataResponse{}, new(MetadataResponse), &MetadataResponse{})
	roundTrip(t,
		&MetadataResponse{Brokers: []BrokerInfo{}, TopicsMetadata: []TopicMetadata{{Name: "t", Partitions: []PartitionMetadata{}}}},
		new(MetadataResponse),
		&MetadataResponse{TopicsMetadata: []TopicMetadata{{Name: "t"}}})
	full := &MetadataResponse{
		Brokers: []BrokerInfo{
			{ID: "a", Host: "127.0.0.1", PortQUIC: math.MaxUint16, PortRPC: 0},
			{ID: "b", Host: "::1", PortQUIC: 1, PortRPC: 2, RackID: "r"},
		},
		TopicsMetadata: []TopicMetadata{
			{Name: "x", Partitions: []PartitionMetadata{
				{PartitionID: math.MaxUint32, Leader: ptr(""), Replicas: []string{"a", "b"}},
			}},
			{Name: "y"},
		},
	}
	roundTrip(t, full, new(MetadataResponse), full)
}

func TestMetadataRequestMalformed(t *testing.T) {
	base := golden(t, "metadata_request.bincode")
	checkMalformed(t, "MetadataRequest", func() Message { return new(MetadataRequest) }, []malformedCase{
		{"empty", nil, ErrTruncated, "topics", 0},
		{"count hostile", patch(base, 0, le64(1<<61)...), ErrInvalidLength, "topics", 0},
		// 28 bytes follow the count: room for 3 minimal strings, not 4.
		{"count one too many", patch(base, 0, le64(4)...), ErrInvalidLength, "topics", 0},
		{"second topic length beyond input", patch(base, 22, le64(7)...), ErrInvalidLength, "topics[1]", 22},
		{"second topic not UTF-8", patch(base, 30, 0xff), ErrInvalidUTF8, "topics[1]", 22},
		{"count 3 with two topics", patch(base, 0, 3), ErrTruncated, "topics[2]", 36},
		{"trailing", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "", len(base)},
	})
}

func TestMetadataResponseMalformed(t *testing.T) {
	base := golden(t, "metadata_response.bincode")
	rack := at(t, base, "rack-a")
	events := at(t, base, "events")
	leader0 := events + 6 + 8 + 4 // name, partitions count, partition_id
	replica0 := at(t, base[leader0+10:], "peer-1") + leader0 + 10
	leader1 := len(base) - 8 - 1
	checkMalformed(t, "MetadataResponse", func() Message { return new(MetadataResponse) }, []malformedCase{
		{"empty", nil, ErrTruncated, "brokers", 0},
		{"broker count hostile", patch(base, 0, le64(1<<58)...), ErrInvalidLength, "brokers", 0},
		{"host not UTF-8", patch(base, at(t, base, "127"), 0xc3, 0x28), ErrInvalidUTF8, "brokers[0].host", at(t, base, "127") - 8},
		{"port_rpc truncated", base[:rack-8-1], ErrTruncated, "brokers[0].port_rpc", rack - 8 - 2},
		{"rack id length beyond input", patch(base, rack-8, le64(1<<20)...), ErrInvalidLength, "brokers[0].rack_id", rack - 8},
		{"topic count hostile", patch(base, rack+6, le64(1<<62)...), ErrInvalidLength, "topics_metadata", rack + 6},
		{"partition count hostile", patch(base, events+6, le64(1<<40)...), ErrInvalidLength, "topics_metadata[0].partitions", events + 6},
		{"topic name not UTF-8", patch(base, events, 0xff), ErrInvalidUTF8, "topics_metadata[0].name", events - 8},
		{"leader option tag 2", patch(base, leader0, 2), ErrInvalidOption, "topics_metadata[0].partitions[0].leader", leader0},
		{"replica not UTF-8", patch(base, replica0, 0xff), ErrInvalidUTF8, "topics_metadata[0].partitions[0].replicas[0]", replica0 - 8},
		{"second leader tag 5", patch(base, leader1, 5), ErrInvalidOption, "topics_metadata[0].partitions[1].leader", leader1},
		{"last replicas count truncated", base[:len(base)-3], ErrTruncated, "topics_metadata[0].partitions[1].replicas", len(base) - 8},
		{"trailing", append(append([]byte(nil), base...), 0), ErrTrailingBytes, "", len(base)},
	})

	// The count check passes (the first partition is large), yet the
	// second partition's id is cut short.
	long := (&MetadataResponse{TopicsMetadata: []TopicMetadata{{Name: "t", Partitions: []PartitionMetadata{
		{Replicas: []string{"a-long-replica-name-to-pass-the-count-check"}},
		{PartitionID: 1},
	}}}}).Append(nil)
	checkMalformed(t, "MetadataResponse", func() Message { return new(MetadataResponse) }, []malformedCase{
		{"second partition id truncated", long[:len(long)-11], ErrTruncated, "topics_metadata[0].partitions[1].partition_id", len(long) - 13},
	})
}
