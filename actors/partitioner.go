package actors

import "math/rand"

// StickyPartitioner places records without a key, following Kafka's sticky
// partitioning (KIP-480): every keyless record goes to one randomly chosen
// partition until the batch for that partition is closed, then to another
// randomly chosen one. Batches fill up instead of spreading a few records
// over every partition, while partitions still share the load over time.
//
// A StickyPartitioner is not safe for concurrent use: the router actor that
// owns it calls it from its mailbox only.
type StickyPartitioner struct {
	rnd *rand.Rand
	cur int32 // current sticky partition; -1 before the first choice
}

// NewStickyPartitioner returns a partitioner drawing its choices from rnd.
// A nil rnd uses a generator seeded from the global source.
func NewStickyPartitioner(rnd *rand.Rand) *StickyPartitioner {
	if rnd == nil {
		rnd = rand.New(rand.NewSource(rand.Int63()))
	}
	return &StickyPartitioner{rnd: rnd, cur: -1}
}

// Partition returns the partition a keyless record goes to among
// partitions: the current sticky partition, chosen at random on the first
// call and again when the partition count no longer covers it. For
// partitions <= 1 it returns 0.
func (s *StickyPartitioner) Partition(partitions int32) int32 {
	if partitions <= 1 {
		s.cur = 0
		return 0
	}
	if s.cur < 0 || s.cur >= partitions {
		s.cur = s.rnd.Int31n(partitions)
	}
	return s.cur
}

// OnNewBatch reports that the batch of partition prev was closed, and moves
// the sticky partition to a random partition other than prev. If the sticky
// partition already moved away from prev (an earlier call switched it), it
// stays where it is, as in Kafka. With a single partition it stays 0.
func (s *StickyPartitioner) OnNewBatch(partitions, prev int32) {
	if partitions <= 1 {
		s.cur = 0
		return
	}
	if s.cur >= 0 && s.cur < partitions && s.cur != prev {
		return
	}
	if prev < 0 || prev >= partitions {
		s.cur = s.rnd.Int31n(partitions)
		return
	}
	// Uniform over the partitions-1 others: draw from one fewer and step
	// over prev.
	p := s.rnd.Int31n(partitions - 1)
	if p >= prev {
		p++
	}
	s.cur = p
}
