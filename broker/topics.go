package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// partitionLog is what a partition needs of its log; logstore.Log provides it.
type partitionLog interface {
	Append(records []wire.Record, sync bool) (uint64, error)
	Read(offset uint64, maxBytes int) ([]wire.Record, error)
	HighWatermark() uint64
	Batches(fn func(base uint64, records []wire.Record) bool)
	Close() error
}

// partition is one partition's log, its idempotence state and its leader.
// lock is a one-slot semaphore (not a mutex) so Produce can give up waiting
// for it when the request's timeout passes; it serialises the idempotence
// check with the append, so two copies of a batch can never both be written.
type partition struct {
	topic string
	id    uint32
	log   partitionLog
	lock  chan struct{}
	idem  *idempotence // guarded by lock
	// reorder holds idempotent batches waiting for their predecessors;
	// see reorder.go.
	reorder *reorder

	// leader is the index of the node leading this partition; guarded by
	// Broker.mu.
	leader int

	// notify is closed and replaced after each append, waking Fetch long
	// polls; guarded by Broker.notifyMu.
	notify chan struct{}
}

type topic struct {
	name       string
	partitions []*partition
}

// acquire takes the partition's lock, giving up when ctx ends.
func (p *partition) acquire(ctx context.Context) bool {
	select {
	case p.lock <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *partition) release() { <-p.lock }

// partitionDir is where a partition's log lives in durable mode.
func partitionDir(dataDir, nodeID, topic string, partition int) string {
	return filepath.Join(dataDir, nodeID, topic+"-"+strconv.Itoa(partition))
}

// createTopicLocked adds a topic with n partitions, opening (and in durable
// mode recovering) each partition's log. Leaders are spread round robin by
// partition over the nodes. b.mu must be held.
func (b *Broker) createTopicLocked(name string, n int) (*topic, error) {
	if err := validTopic(name, n); err != nil {
		return nil, err
	}
	if t, ok := b.topics[name]; ok {
		if len(t.partitions) != n {
			return nil, fmt.Errorf("broker: topic %q already exists with %d partitions", name, len(t.partitions))
		}
		return t, nil
	}
	t := &topic{name: name}
	for i := 0; i < n; i++ {
		home := i % len(b.nodes)
		dir := ""
		if b.cfg.DataDir != "" {
			dir = b.findPartitionDir(name, i, b.nodes[home].id)
		}
		l, err := openLog(dir, b.cfg.SegmentBytes, &b.cfg)
		if err != nil {
			for _, p := range t.partitions {
				_ = p.log.Close()
			}
			return nil, fmt.Errorf("broker: open log of %s/%d: %w", name, i, err)
		}
		p := &partition{topic: name, id: uint32(i), log: l, lock: make(chan struct{}, 1), leader: home, notify: make(chan struct{})}
		p.idem = rebuildIdempotence(l)
		p.reorder = newReorder()
		t.partitions = append(t.partitions, p)
	}
	b.topics[name] = t
	b.log.Info("topic created", "topic", name, "partitions", n, "durable", b.cfg.DataDir != "")
	return t, nil
}

// findPartitionDir returns the existing directory of a partition under any
// node's folder (leadership may have been assigned differently before a
// restart), or the home node's folder when there is none yet.
func (b *Broker) findPartitionDir(name string, i int, homeID string) string {
	want := partitionDir(b.cfg.DataDir, homeID, name, i)
	if _, err := os.Stat(want); err == nil {
		return want
	}
	matches, _ := filepath.Glob(filepath.Join(b.cfg.DataDir, "*", name+"-"+strconv.Itoa(i)))
	sort.Strings(matches)
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			return m
		}
	}
	return want
}

// discoverTopics lists the topics found in DataDir with their partition
// counts (highest partition number + 1), so auto-created topics come back
// after a restart.
func discoverTopics(dataDir string) map[string]int {
	found := map[string]int{}
	nodes, err := os.ReadDir(dataDir)
	if err != nil {
		return found
	}
	for _, n := range nodes {
		if !n.IsDir() {
			continue
		}
		parts, err := os.ReadDir(filepath.Join(dataDir, n.Name()))
		if err != nil {
			continue
		}
		for _, p := range parts {
			i := strings.LastIndexByte(p.Name(), '-')
			if !p.IsDir() || i <= 0 {
				continue
			}
			num, err := strconv.Atoi(p.Name()[i+1:])
			if err != nil || num < 0 || num >= maxPartitionsPerTopic {
				continue
			}
			name := p.Name()[:i]
			if validTopic(name, 1) != nil {
				continue
			}
			if num+1 > found[name] {
				found[name] = num + 1
			}
		}
	}
	return found
}

// lookup finds a partition, creating the topic when auto-create is on. It
// answers with a wire error code and message when the topic or partition
// does not exist.
func (b *Broker) lookup(name string, id uint32) (*partition, int, uint32, string) {
	b.mu.RLock()
	t, ok := b.topics[name]
	b.mu.RUnlock()
	if !ok {
		if !b.cfg.AutoCreateTopics {
			return nil, 0, wire.ErrUnknownTopicOrPartition.Code, fmt.Sprintf("unknown topic %q", name)
		}
		b.mu.Lock()
		var err error
		if b.closed {
			err = ErrClosed
		} else {
			t, err = b.createTopicLocked(name, b.cfg.DefaultPartitions)
		}
		b.mu.Unlock()
		if err != nil {
			return nil, 0, wire.ErrUnknownTopicOrPartition.Code, "cannot auto-create: " + err.Error()
		}
	}
	if int64(id) >= int64(len(t.partitions)) {
		return nil, 0, wire.ErrUnknownTopicOrPartition.Code, fmt.Sprintf("topic %q has %d partitions; partition %d does not exist", name, len(t.partitions), id)
	}
	p := t.partitions[id]
	b.mu.RLock()
	leader := p.leader
	b.mu.RUnlock()
	return p, leader, 0, ""
}

// leaderOf returns the index of the node leading p.
func (b *Broker) leaderOf(p *partition) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return p.leader
}

// appended wakes the partition's Fetch long polls.
func (b *Broker) appended(p *partition) {
	b.notifyMu.Lock()
	close(p.notify)
	p.notify = make(chan struct{})
	b.notifyMu.Unlock()
}

// waitAppend returns a channel closed at the partition's next append.
func (b *Broker) waitAppend(p *partition) <-chan struct{} {
	b.notifyMu.Lock()
	defer b.notifyMu.Unlock()
	return p.notify
}

// timeoutOf turns a request's timeout_ms into a duration, 0 meaning def.
func timeoutOf(ms uint32, def time.Duration) time.Duration {
	if ms == 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}
