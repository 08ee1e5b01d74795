package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/quic-go/quic-go"
)

// Cluster model: Config.Brokers nodes, node i named "broker-<i>", each with
// its own UDP port and QUIC listener, all sharing the Broker's topic table
// (the metadata view) and one log per partition. Partition p of every topic
// is first led by node p % Brokers; MoveLeader changes that. A node answers
// Produce and Fetch only for partitions it leads (code 6 otherwise), so
// clients must route by Metadata exactly as against a real cluster; since
// the log is shared, moving a leader loses nothing.

// ErrNodeRunning is returned by StartNode for a node that is running.
var ErrNodeRunning = errors.New("broker: node is already running")

// ErrNoSuchNode is returned for a node index outside 0..Brokers-1.
var ErrNoSuchNode = errors.New("broker: no such node")

// ErrNodeStopped is returned by StopNode for a node that is not running.
var ErrNodeStopped = errors.New("broker: node is not running")

type node struct {
	b     *Broker
	index int
	id    string

	mu      sync.Mutex
	listen  string // where to bind; after the first start, the bound address
	running bool
	udp     *net.UDPConn
	tr      *quic.Transport
	ln      *quic.Listener
	conns   map[*connection]struct{}
	// handshakes are connection attempts not yet accepted; see
	// trackHandshake.
	handshakes map[*handshake]struct{}
	wg         sync.WaitGroup
}

func (n *node) addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.listen
}

// hostPort returns the node's host and port for BrokerInfo.
func (n *node) hostPort() (string, uint16) {
	host, port, _ := net.SplitHostPort(n.addr())
	p, _ := strconv.Atoi(port)
	return host, uint16(p)
}

// MoveLeader makes node the leader of a partition. Requests for it reach
// the old leader are then answered with code 6 (not leader), and Metadata
// names the new one.
func (b *Broker) MoveLeader(topic string, partition uint32, node int) error {
	if node < 0 || node >= len(b.nodes) {
		return fmt.Errorf("%w: %d (cluster has %d nodes)", ErrNoSuchNode, node, len(b.nodes))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	t, ok := b.topics[topic]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	if int64(partition) >= int64(len(t.partitions)) {
		return fmt.Errorf("%w: %q has %d partitions, not partition %d", ErrUnknownTopic, topic, len(t.partitions), partition)
	}
	t.partitions[partition].leader = node
	b.log.Info("leader moved", "topic", topic, "partition", partition, "leader", b.nodes[node].id)
	return nil
}

// Leader returns the index of the node leading a partition, or -1 for an
// unknown topic or partition.
func (b *Broker) Leader(topic string, partition uint32) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[topic]
	if !ok || int64(partition) >= int64(len(t.partitions)) {
		return -1
	}
	return t.partitions[partition].leader
}

// StopNode stops node i as if it crashed: its listener closes and its
// client connections are closed. Its partitions keep their leader (clients
// see connection failures until StartNode or MoveLeader), and Metadata still
// lists it. Returns ErrNodeStopped when it is not running.
func (b *Broker) StopNode(i int) error {
	if i < 0 || i >= len(b.nodes) {
		return fmt.Errorf("%w: %d", ErrNoSuchNode, i)
	}
	return b.nodes[i].stopNode(false)
}

// CrashNode stops node i as a killed process stops: its UDP socket closes
// before anything else, so clients receive no CONNECTION_CLOSE and learn
// that the node is gone only from their idle timeout, or from a stateless
// reset once the node (or another broker with the same StatelessResetKey)
// listens on the address again. Otherwise it is StopNode: StartNode brings
// the node back on the same address, with the same key. Returns
// ErrNodeStopped when the node is not running.
func (b *Broker) CrashNode(i int) error {
	if i < 0 || i >= len(b.nodes) {
		return fmt.Errorf("%w: %d", ErrNoSuchNode, i)
	}
	return b.nodes[i].stopNode(true)
}

// StartNode starts node i again on the same address. Returns ErrNodeRunning
// when it is running, ErrClosed after Close.
func (b *Broker) StartNode(i int) error {
	if i < 0 || i >= len(b.nodes) {
		return fmt.Errorf("%w: %d", ErrNoSuchNode, i)
	}
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return b.nodes[i].start()
}
