package actors

// Constants of Kafka's murmur2 variant (org.apache.kafka.common.utils.Utils).
const (
	murmur2Seed = 0x9747b28c
	murmur2M    = 0x5bd1e995
	murmur2R    = 24
)

// Murmur2 hashes data exactly as Kafka's Utils.murmur2 does (MurmurHash2,
// 32-bit, seed 0x9747b28c), so that a key maps to the same partition here
// as in the Java client and librdkafka. Java's signed 32-bit arithmetic
// wraps like Go's uint32; the result is returned as the same bits in an
// int32.
func Murmur2(data []byte) int32 {
	n := len(data)
	h := uint32(murmur2Seed) ^ uint32(n)
	// Whole little-endian 4-byte words.
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= murmur2M
		k ^= k >> murmur2R
		k *= murmur2M
		h *= murmur2M
		h ^= k
	}
	// The 1 to 3 bytes left over, mixed in as Kafka's switch with
	// fall-through does.
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= murmur2M
	}
	h ^= h >> 13
	h *= murmur2M
	h ^= h >> 15
	return int32(h)
}

// KeyPartition returns the partition of a keyed record among partitions,
// as Kafka's default partitioner computes it: the murmur2 hash with its sign
// bit cleared (Kafka's toPositive, not an absolute value) modulo the
// partition count. partitions must be positive; for partitions <= 0 it
// returns 0.
func KeyPartition(key []byte, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	return (Murmur2(key) & 0x7fffffff) % partitions
}

// HashPartition is [KeyPartition] for a key whose [Murmur2] hash (as a
// uint32) is already known: the runtime hashes keys in the caller's
// goroutine and the router only takes the modulo.
func HashPartition(hash uint32, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	return int32(hash&0x7fffffff) % partitions
}
