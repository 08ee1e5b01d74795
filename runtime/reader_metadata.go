package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/rustmq/rustmq-go/actors"
	"github.com/rustmq/rustmq-go/transport/wire"
)

// Metadata is a broker's answer to a Metadata request: the brokers of the
// cluster and, per topic, its partitions and their leaders.
type Metadata struct {
	// Source is the address of the broker that answered.
	Source string
	// Brokers are the brokers the answer lists, sorted by ID.
	Brokers []MetadataBroker
	// Topics are the topics the answer lists, sorted by name. Upstream
	// RustMQ lists none (see Config.StaticPartitions).
	Topics []MetadataTopic
}

// MetadataBroker is one broker of a [Metadata] answer.
type MetadataBroker struct {
	ID string
	// Addr is Host:PortQUIC, the address clients dial.
	Addr     string
	Host     string
	PortQUIC uint16
	PortRPC  uint16
	Rack     string
}

// MetadataTopic is one topic of a [Metadata] answer.
type MetadataTopic struct {
	Name string
	// Partitions are sorted by ID.
	Partitions []MetadataPartition
}

// MetadataPartition is one partition of a [MetadataTopic].
type MetadataPartition struct {
	ID int32
	// Leader is the ID of the broker leading the partition, "" when the
	// answer names none; LeaderAddr is its address when the answer lists
	// that broker.
	Leader, LeaderAddr string
	// Replicas are broker IDs.
	Replicas []string
}

// Metadata asks a broker for the cluster's metadata: for the given topics,
// or for every topic when none is given. It tries the connected brokers
// first, then the other known ones, and returns the first answer. Errors:
// ErrClosed after Close; the last broker's failure (a transport or decode
// error) when none answered; ctx's error (wrapped) when ctx ends first.
func (r *Runtime) Metadata(ctx context.Context, topics ...string) (*Metadata, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	req := wire.MetadataRequest{Topics: topics}
	body := req.Append(make([]byte, 0, req.Size()))
	var last error
	for _, addr := range r.metadataAddrs() {
		resp, err := r.queryMetadata(ctx, addr, body)
		if err == nil {
			return convertMetadata(addr, resp), nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rustmq: metadata: %w (last broker error: %w)", context.Cause(ctx), err)
		}
		last = err
	}
	if last == nil {
		last = errors.New("no broker address known")
	}
	return nil, fmt.Errorf("rustmq: metadata: %w", last)
}

// metadataAddrs lists the addresses to ask: connected brokers first, then
// the others the runtime knows, then the bootstrap list.
func (r *Runtime) metadataAddrs() []string {
	var up, other []string
	for _, h := range r.health.Snapshot() {
		if h.State == actors.StateConnected {
			up = append(up, h.Addr)
		} else {
			other = append(other, h.Addr)
		}
	}
	out := append(up, other...)
	for _, b := range r.cfg.Brokers {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// queryMetadata runs one Metadata request through the connection actor of
// addr (named by its address under the connections supervisor).
func (r *Runtime) queryMetadata(ctx context.Context, addr string, body []byte) (*wire.MetadataResponse, error) {
	reply := make(chan *actors.Response, 1)
	deadline := time.Now().Add(r.cfg.RequestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	props := actors.NewQueryProps(r.conns, addr, actors.Request{ReqType: wire.TypeMetadata, Body: body, Deadline: deadline},
		func(m *actors.Response) { reply <- m })
	pid, err := r.spawn(r.readers, props, "")
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(time.Until(deadline) + time.Second)
	defer timer.Stop()
	select {
	case m := <-reply:
		if m.Err != nil {
			return nil, m.Err
		}
		var resp wire.MetadataResponse
		if err := resp.Unmarshal(m.Body); err != nil {
			return nil, fmt.Errorf("rustmq: metadata from %s: %w", addr, err)
		}
		return &resp, nil
	case <-ctx.Done():
		r.sys.Root.Stop(pid)
		return nil, context.Cause(ctx)
	case <-timer.C:
		r.sys.Root.Stop(pid)
		return nil, fmt.Errorf("%w: metadata from %s", actors.ErrRequestTimeout, addr)
	}
}

func convertMetadata(source string, resp *wire.MetadataResponse) *Metadata {
	md := &Metadata{Source: source}
	addrs := map[string]string{}
	for _, b := range resp.Brokers {
		addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.PortQUIC)))
		addrs[b.ID] = addr
		md.Brokers = append(md.Brokers, MetadataBroker{ID: b.ID, Addr: addr, Host: b.Host, PortQUIC: b.PortQUIC, PortRPC: b.PortRPC, Rack: b.RackID})
	}
	slices.SortFunc(md.Brokers, func(a, b MetadataBroker) int { return cmp.Compare(a.ID, b.ID) })
	for _, t := range resp.TopicsMetadata {
		mt := MetadataTopic{Name: t.Name}
		for _, p := range t.Partitions {
			mp := MetadataPartition{ID: int32(p.PartitionID), Replicas: slices.Clone(p.Replicas)}
			if p.Leader != nil {
				mp.Leader, mp.LeaderAddr = *p.Leader, addrs[*p.Leader]
			}
			mt.Partitions = append(mt.Partitions, mp)
		}
		slices.SortFunc(mt.Partitions, func(a, b MetadataPartition) int { return int(a.ID - b.ID) })
		md.Topics = append(md.Topics, mt)
	}
	slices.SortFunc(md.Topics, func(a, b MetadataTopic) int { return cmp.Compare(a.Name, b.Name) })
	return md
}
