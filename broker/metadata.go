package broker

// Metadata (request type 3) describes the cluster: every node as a
// BrokerInfo (id "broker-<i>", host and QUIC port of its address, port_rpc
// 0, rack_id ""), and the requested topics (all of them for an empty list)
// with each partition's leader and replicas. Replicas lists only the leader:
// this broker keeps one copy of each log.
//
// Unknown requested topics are created when AutoCreateTopics is on and
// otherwise left out of the answer (the response has no per-topic error
// code). Stopped nodes are still listed, as a real cluster's metadata lists a
// broker until its session expires. When Auth.Required, an unauthenticated
// connection gets 0xFF "Error: authentication required ...", since the
// response has no error_code field.
//
// Brokers added by AdvertiseBrokers follow the nodes in the broker list;
// a Fault with an Answer replaces the whole response.
//
// Departures from upstream: upstream answers with itself and an empty topic
// list; this broker fills the topics in, which is what lets the runtime route
// by leader.

import (
	"sort"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

func (n *node) handleMetadata(c *connection, body []byte) reply {
	var req wire.MetadataRequest
	if err := req.Unmarshal(body); err != nil {
		return decodeError("MetadataRequest", err)
	}
	b := n.b
	if inj := b.faults.take(wire.TypeMetadata, req.Topics, -1); inj != nil {
		return injectedReply(inj, wire.TypeMetadata)
	}
	if b.cfg.Auth != nil && b.cfg.Auth.Required && !c.authenticated(time.Now()) {
		return reply{frame: wire.AppendErrorFrame(nil, "authentication required: send Authenticate (request type 32) first")}
	}
	if b.cfg.AutoCreateTopics {
		for _, name := range req.Topics {
			b.mu.RLock()
			_, ok := b.topics[name]
			b.mu.RUnlock()
			if !ok && validTopic(name, b.cfg.DefaultPartitions) == nil {
				b.mu.Lock()
				if !b.closed {
					_, _ = b.createTopicLocked(name, b.cfg.DefaultPartitions)
				}
				b.mu.Unlock()
			}
		}
	}
	resp := wire.MetadataResponse{}
	for _, nd := range b.nodes {
		host, port := nd.hostPort()
		resp.Brokers = append(resp.Brokers, wire.BrokerInfo{ID: nd.id, Host: host, PortQUIC: port})
	}
	resp.Brokers = append(resp.Brokers, b.faults.advertisedBrokers()...)
	b.mu.RLock()
	names := req.Topics
	if len(names) == 0 {
		for name := range b.topics {
			names = append(names, name)
		}
		sort.Strings(names)
	}
	seen := map[string]bool{}
	for _, name := range names {
		t, ok := b.topics[name]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		tm := wire.TopicMetadata{Name: name, Partitions: make([]wire.PartitionMetadata, len(t.partitions))}
		for i, p := range t.partitions {
			leader := b.nodes[p.leader].id
			tm.Partitions[i] = wire.PartitionMetadata{PartitionID: p.id, Leader: &leader, Replicas: []string{leader}}
		}
		resp.TopicsMetadata = append(resp.TopicsMetadata, tm)
	}
	b.mu.RUnlock()
	return reply{frame: resp.Append(wire.AppendFrame(make([]byte, 0, 1+resp.Size()), wire.TypeMetadata))}
}
