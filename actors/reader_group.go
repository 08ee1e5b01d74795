package actors

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
)

// ReaderGroupConfig configures the actor that owns the partition readers
// of one reader: it learns the topic's partitions from the metadata actor,
// spawns one partition reader per partition read, and supervises them
// with the strategy of its props.
type ReaderGroupConfig struct {
	Topic string
	// Metadata is the metadata actor.
	Metadata *actor.PID
	// Partitions lists the partitions to read; nil means every partition
	// of the topic, including partitions added while the reader runs.
	Partitions []int32
	// NewPartition returns the props of the reader of partition p. It is
	// called on the group's goroutine, once per partition and group
	// incarnation; the cursor inside must be the same every time.
	NewPartition func(p int32) *actor.Props
	// Ready is called once per incarnation, on the group's goroutine, with
	// the partitions being read, or with the error that prevents reading
	// (an unknown topic, a partition the topic does not have).
	Ready func(partitions []int32, err error)
	// Stopped is called when the group stops (its reader closed, or the
	// runtime shut down).
	Stopped func()
}

// readerGroup is the parent of a reader's partition readers.
type readerGroup struct {
	cfg     ReaderGroupConfig
	spawned map[int32]bool
	ready   bool
}

// NewReaderGroupProps returns the props of a reader group. strategy (from
// package supervision) governs the partition readers.
func NewReaderGroupProps(cfg ReaderGroupConfig, strategy actor.SupervisorStrategy) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &readerGroup{cfg: cfg, spawned: make(map[int32]bool)}
	}, actor.WithSupervisor(strategy))
}

// ReaderChildName is the actor name of partition p's reader under its
// group.
func ReaderChildName(p int32) string { return "p" + strconv.Itoa(int(p)) }

func (g *readerGroup) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// TopicRequest gives the partition count (and later changes);
		// LeaderRequest for partition 0 is what reports an unknown topic.
		c.Send(g.cfg.Metadata, &TopicRequest{Topic: g.cfg.Topic, ReplyTo: c.Self()})
		c.Send(g.cfg.Metadata, &LeaderRequest{Topic: g.cfg.Topic, Partition: 0, ReplyTo: c.Self()})
	case *TopicInfo:
		if m.Err != nil {
			g.report(nil, m.Err)
			return
		}
		g.onPartitions(c, m.Partitions)
	case *LeaderInfo:
		if m.Err != nil {
			g.report(nil, m.Err)
		}
	case *actor.Stopping:
		if g.cfg.Stopped != nil {
			g.cfg.Stopped()
		}
	}
}

func (g *readerGroup) onPartitions(c actor.Context, n int32) {
	var want []int32
	if g.cfg.Partitions == nil {
		for p := int32(0); p < n; p++ {
			want = append(want, p)
		}
	} else {
		for _, p := range g.cfg.Partitions {
			if p < 0 || p >= n {
				g.report(nil, fmt.Errorf("%w: %s/%d (topic has %d)", ErrInvalidPartition, g.cfg.Topic, p, n))
				return
			}
		}
		want = slices.Clone(g.cfg.Partitions)
	}
	if !g.ready && g.cfg.Partitions == nil && len(want) == 0 {
		return
	}
	for _, p := range want {
		if g.spawned[p] {
			continue
		}
		if _, err := c.SpawnNamed(g.cfg.NewPartition(p), ReaderChildName(p)); err != nil {
			g.report(nil, fmt.Errorf("rustmq: start reader of %s/%d: %w", g.cfg.Topic, p, err))
			return
		}
		g.spawned[p] = true
	}
	g.report(want, nil)
}

func (g *readerGroup) report(partitions []int32, err error) {
	if g.ready {
		return
	}
	g.ready = true
	g.cfg.Ready(partitions, err)
}
