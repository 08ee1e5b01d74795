package actors

import (
	"fmt"
	"testing"
)

// Expected hashes come from two independent sources, both checked against
// the Java client:
//   - Kafka's own UtilsTest.testMurmur2 (apache/kafka,
//     clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java);
//   - librdkafka's unittest_murmur2 (src/rdmurmur2.c), whose table is the
//     Java client's output for the same keys.
func TestMurmur2KafkaVectors(t *testing.T) {
	kafka := []struct {
		key  string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, c := range kafka {
		if got := Murmur2([]byte(c.key)); got != c.want {
			t.Errorf("Murmur2(%q) = %d, want %d (Kafka UtilsTest)", c.key, got, c.want)
		}
	}

	// librdkafka's keys, including suffixes of a short and a long string
	// (every tail length 0..3) and the empty key.
	short, long := "1234", "PreAmbleWillBeRemoved,ThePrePartThatIs"
	rdkafka := []struct {
		key  string
		want uint32
	}{
		{"kafka", 0xd067cf64},
		{"giberish123456789", 0x8f552b0c},
		{short, 0x9fc97b14},
		{short[1:], 0xe7c009ca},
		{short[2:], 0x873930da},
		{short[3:], 0x5a4b5ca1},
		{long, 0x78424f1c},
		{long[1:], 0x4a62b377},
		{long[2:], 0xe0e4e09e},
		{long[3:], 0x62b8b43f},
		{"", 0x106e08d9},
	}
	for _, c := range rdkafka {
		if got := Murmur2([]byte(c.key)); uint32(got) != c.want {
			t.Errorf("Murmur2(%q) = %#x, want %#x (librdkafka)", c.key, uint32(got), c.want)
		}
	}
	if got := Murmur2(nil); uint32(got) != 0x106e08d9 {
		t.Errorf("Murmur2(nil) = %#x, want the empty key's %#x", uint32(got), 0x106e08d9)
	}
}

// The partitions below were derived by hand from Kafka's hashes above as
// (hash & 0x7fffffff) % n, the arithmetic of Kafka's
// BuiltInPartitioner.partitionForKey, not by running KeyPartition.
func TestKeyPartitionKafka(t *testing.T) {
	counts := []int32{1, 3, 7, 12, 100}
	cases := []struct {
		key  string
		want []int32 // for each of counts
	}{
		{"21", []int32{0, 0, 3, 0, 40}},
		{"foobar", []int32{0, 0, 0, 6, 66}},
		{"a-little-bit-long-string", []int32{0, 2, 1, 8, 12}},
		{"a-little-bit-longer-string", []int32{0, 2, 0, 11, 19}},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", []int32{0, 2, 3, 5, 77}},
		{"abc", []int32{0, 0, 4, 3, 7}},
	}
	for _, c := range cases {
		for i, n := range counts {
			if got := KeyPartition([]byte(c.key), n); got != c.want[i] {
				t.Errorf("KeyPartition(%q, %d) = %d, want %d", c.key, n, got, c.want[i])
			}
		}
	}
	// A negative hash is made positive by clearing the sign bit, not by
	// negation: "21" hashes to -973932308, whose absolute value modulo 100
	// would be 8, not 40.
	if got := KeyPartition([]byte("21"), 100); got != 40 {
		t.Errorf("KeyPartition(21, 100) = %d, want 40 (sign bit cleared)", got)
	}
	for _, n := range []int32{0, -3} {
		if got := KeyPartition([]byte("k"), n); got != 0 {
			t.Errorf("KeyPartition(k, %d) = %d, want 0", n, got)
		}
	}
}

// Keys spread evenly over the partitions.
func TestKeyPartitionSpread(t *testing.T) {
	const parts, keys = 12, 24000
	var hist [parts]int
	for i := range keys {
		p := KeyPartition(fmt.Appendf(nil, "user-%d", i), parts)
		if p < 0 || p >= parts {
			t.Fatalf("KeyPartition out of range: %d", p)
		}
		hist[p]++
	}
	for p, n := range hist {
		if n < keys/parts*85/100 || n > keys/parts*115/100 {
			t.Errorf("partition %d got %d of %d keys; want about %d", p, n, keys, keys/parts)
		}
	}
}

func BenchmarkMurmur2(b *testing.B) {
	key := []byte("order-0000012345") // 16 bytes
	b.SetBytes(int64(len(key)))
	b.ReportAllocs()
	var sink int32
	for b.Loop() {
		sink ^= Murmur2(key)
	}
	_ = sink
}
