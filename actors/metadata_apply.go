package actors

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/rustmq/rustmq-go/transport/wire"
)

// This file holds what the metadata actor does with a Metadata answer:
// check it, believe what passes, and decide about the topics it does not
// list.

// maxHostBytes bounds a broker host name (a DNS name has at most 253).
const maxHostBytes = 253

// brokerEntry is one listed broker: its address, or why it is unusable.
type brokerEntry struct {
	addr string
	bad  string
}

// listedBrokers indexes the brokers of an answer by id. It allocates by
// what the answer holds (bounded by the transport's response limit), never
// by a number it claims.
func listedBrokers(resp *wire.MetadataResponse) map[string]brokerEntry {
	out := make(map[string]brokerEntry, len(resp.Brokers))
	for _, b := range resp.Brokers {
		e := brokerEntry{}
		switch {
		case b.Host == "":
			e.bad = "an empty host"
		case len(b.Host) > maxHostBytes:
			e.bad = fmt.Sprintf("a host of %d bytes", len(b.Host))
		case b.PortQUIC == 0:
			e.bad = "port 0"
		default:
			e.addr = net.JoinHostPort(b.Host, strconv.Itoa(int(b.PortQUIC)))
		}
		if _, dup := out[b.ID]; dup {
			e = brokerEntry{bad: "two entries"}
		}
		out[b.ID] = e
	}
	return out
}

// checkTopic validates the partitions of tm against brokers: ids dense
// from 0 (each once), at most max of them, every leader a listed broker
// with a usable address. It returns the leader address of each partition
// ("" where none is named) or the reason the answer cannot be believed.
func checkTopic(tm *wire.TopicMetadata, brokers map[string]brokerEntry, max int) ([]string, string) {
	n := len(tm.Partitions)
	if n > max {
		return nil, fmt.Sprintf("%d partitions listed, more than the %d accepted (MaxPartitions)", n, max)
	}
	leaders := make([]string, n)
	seen := make([]bool, n)
	for _, p := range tm.Partitions {
		if uint64(p.PartitionID) >= uint64(n) {
			return nil, fmt.Sprintf("partition id %d among %d partitions (ids must be 0..%d)", p.PartitionID, n, n-1)
		}
		if seen[p.PartitionID] {
			return nil, fmt.Sprintf("partition id %d listed twice", p.PartitionID)
		}
		seen[p.PartitionID] = true
		if p.Leader == nil {
			continue
		}
		e, ok := brokers[*p.Leader]
		switch {
		case !ok:
			return nil, fmt.Sprintf("the leader of partition %d, broker %s, is not among the %d listed brokers", p.PartitionID, quoteShort(*p.Leader), len(brokers))
		case e.bad != "":
			return nil, fmt.Sprintf("the leader of partition %d, broker %s, is listed with %s", p.PartitionID, quoteShort(*p.Leader), e.bad)
		}
		leaders[p.PartitionID] = e.addr
	}
	return leaders, ""
}

// apply believes what passes the checks of an answer from addr. A topic
// whose part of the answer fails them keeps the metadata it had; one that
// had none fails with the *MetadataError. Topics the answer does not list
// are asked about again until UnknownTopicGrace has passed since the first
// answer that did not list them, then fail with ErrUnknownTopic. Only the
// brokers that lead a partition in use are dialled, on demand (answer).
func (a *metadataActor) apply(addr string, resp *wire.MetadataResponse) {
	brokers := listedBrokers(resp)
	listed := make(map[string]*wire.TopicMetadata, len(resp.TopicsMetadata))
	for i := range resp.TopicsMetadata {
		listed[resp.TopicsMetadata[i].Name] = &resp.TopicsMetadata[i]
	}
	now := time.Now()
	var grace time.Duration // the shortest time left of a grace
	for name, t := range a.topics {
		if t.gone {
			continue
		}
		oldN, oldKnown := t.partitions, t.known
		tm := listed[name]
		switch {
		case tm != nil && len(tm.Partitions) > 0:
			leaders, reason := checkTopic(tm, brokers, a.cfg.MaxPartitions)
			if reason != "" {
				a.rejected(name, t, &MetadataError{Topic: name, Broker: addr, Reason: reason})
				continue
			}
			a.logLeaderChanges(name, t, leaders)
			t.partitions, t.leaders, t.known, t.unknownSince, t.invalid = int32(len(leaders)), leaders, true, time.Time{}, nil
		case a.cfg.StaticPartitions[name] > 0:
			t.partitions, t.leaders, t.known, t.unknownSince = int32(a.cfg.StaticPartitions[name]), nil, true, time.Time{}
		case t.known:
			// Listed before, not now: keep what was believed.
		default:
			if t.unknownSince.IsZero() {
				t.unknownSince = now
			}
			left := a.cfg.UnknownTopicGrace - now.Sub(t.unknownSince)
			if left <= 0 {
				err := fmt.Errorf("%w %q: the brokers' metadata does not list it (asked %s)", ErrUnknownTopic, name, addr)
				if !a.cfg.Upstream && len(resp.TopicsMetadata) == 0 && a.looksUpstream(addr) {
					err = fmt.Errorf("%w %q: %w: %s lists no topics at all and left the capabilities probe unanswered; set Config.Upstream and StaticPartitions[%q]",
						ErrUnknownTopic, name, ErrUpstreamBroker, addr, name)
				}
				a.cfg.Logger.Warn("rustmq: unknown topic; failing its messages", slog.String("topic", name), slog.String("broker", addr),
					slog.Duration("grace", a.cfg.UnknownTopicGrace))
				a.fail(name, t, err)
				continue
			}
			if grace == 0 || left < grace {
				grace = left
			}
		}
		if t.known && (t.partitions != oldN || !oldKnown) {
			for _, s := range t.subscribers {
				a.sys.Root.Send(s, &TopicInfo{Topic: name, Partitions: t.partitions})
			}
		}
	}
	if grace > 0 {
		a.graceRetry(grace)
	} else {
		a.graceTries = 0
	}
}

// graceRetry asks again for topics in their grace: soon at first, then
// spaced by the retry backoff, and once more right when the shortest grace
// ends, so that the verdict comes on time.
func (a *metadataActor) graceRetry(left time.Duration) {
	if a.gracePending {
		return
	}
	a.graceTries++
	d := min(a.cfg.RetryBackoff.Delay(a.graceTries, nil), left)
	a.gracePending = true
	a.after(d, &metaGraceTick{})
}

// rejected handles a topic whose metadata failed the checks.
func (a *metadataActor) rejected(name string, t *topicMeta, err *MetadataError) {
	if t.invalid == nil || t.invalid.Error() != err.Error() {
		a.cfg.Logger.Warn("rustmq: broker metadata not believed", slog.String("topic", name), slog.String("broker", err.Broker),
			slog.String("reason", err.Reason), slog.Bool("previous_kept", t.known))
	}
	t.invalid = err
	if !t.known {
		a.fail(name, t, err)
	}
}

func (a *metadataActor) logLeaderChanges(name string, t *topicMeta, leaders []string) {
	if !t.known {
		return
	}
	for i := range leaders {
		if i < len(t.leaders) && t.leaders[i] != leaders[i] {
			a.cfg.Logger.Info("rustmq: partition leader changed", slog.String("topic", name), slog.Int("partition", i),
				slog.String("from", t.leaders[i]), slog.String("to", leaders[i]))
		}
	}
}

// looksUpstream reports whether the connection to addr found a broker that
// left the capabilities probe unanswered, as upstream RustMQ does.
func (a *metadataActor) looksUpstream(addr string) bool {
	if a.cfg.Health == nil {
		return false
	}
	b, ok := a.cfg.Health.get(addr)
	return ok && b.Upstream
}
