package actors

import (
	"math/rand"
	"testing"
)

func TestStickyPartitionerSticks(t *testing.T) {
	s := NewStickyPartitioner(rand.New(rand.NewSource(1)))
	first := s.Partition(8)
	if first < 0 || first >= 8 {
		t.Fatalf("Partition(8) = %d", first)
	}
	for range 100 {
		if p := s.Partition(8); p != first {
			t.Fatalf("keyless records moved from %d to %d without a new batch", first, p)
		}
	}
}

func TestStickyPartitionerSwitches(t *testing.T) {
	const parts, switches = 6, 30000
	s := NewStickyPartitioner(rand.New(rand.NewSource(2)))
	var hist [parts]int
	prev := s.Partition(parts)
	for range switches {
		s.OnNewBatch(parts, prev)
		p := s.Partition(parts)
		if p == prev {
			t.Fatalf("OnNewBatch(%d, %d) kept partition %d", parts, prev, p)
		}
		if p < 0 || p >= parts {
			t.Fatalf("partition %d out of range", p)
		}
		hist[p]++
		prev = p
	}
	// Every partition gets its share of batches.
	for p, n := range hist {
		if n < switches/parts*90/100 || n > switches/parts*110/100 {
			t.Errorf("partition %d chosen %d times of %d; want about %d", p, n, switches, switches/parts)
		}
	}
}

// A batch closing on a partition that is no longer the sticky one (the
// partitioner already moved on) does not move it again.
func TestStickyPartitionerStaleBatch(t *testing.T) {
	s := NewStickyPartitioner(rand.New(rand.NewSource(3)))
	a := s.Partition(10)
	s.OnNewBatch(10, a)
	b := s.Partition(10)
	for range 50 {
		s.OnNewBatch(10, a) // stale: the sticky partition is b now
		if p := s.Partition(10); p != b {
			t.Fatalf("stale OnNewBatch(prev %d) moved the sticky partition from %d to %d", a, b, p)
		}
	}
}

func TestStickyPartitionerOnePartition(t *testing.T) {
	s := NewStickyPartitioner(rand.New(rand.NewSource(4)))
	for range 10 {
		if p := s.Partition(1); p != 0 {
			t.Fatalf("Partition(1) = %d", p)
		}
		s.OnNewBatch(1, 0)
	}
	if p := s.Partition(1); p != 0 {
		t.Fatalf("after OnNewBatch with one partition: %d", p)
	}
}

// When the partition count shrinks below the sticky partition, a new one is
// chosen within range.
func TestStickyPartitionerShrink(t *testing.T) {
	s := NewStickyPartitioner(rand.New(rand.NewSource(5)))
	for range 200 {
		s.OnNewBatch(100, s.Partition(100))
		if s.Partition(100) >= 3 {
			break
		}
	}
	if p := s.Partition(3); p < 0 || p >= 3 {
		t.Fatalf("after shrinking to 3 partitions: %d", p)
	}
	s.OnNewBatch(3, 50) // prev out of range: any partition in range
	if p := s.Partition(3); p < 0 || p >= 3 {
		t.Fatalf("after OnNewBatch with prev out of range: %d", p)
	}
}

func TestStickyPartitionerDeterministic(t *testing.T) {
	run := func() []int32 {
		s := NewStickyPartitioner(rand.New(rand.NewSource(42)))
		var seq []int32
		for range 20 {
			p := s.Partition(16)
			seq = append(seq, p)
			s.OnNewBatch(16, p)
		}
		return seq
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different choices at %d: %v vs %v", i, a, b)
		}
	}
	if NewStickyPartitioner(nil).Partition(4) >= 4 {
		t.Fatal("nil rnd: partition out of range")
	}
}
