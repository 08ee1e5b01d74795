package broker

// Controls that change what the broker tells clients about the cluster
// while a test runs, beside the per-request fault rules of faults.go.

import "github.com/rustmq/rustmq-go/transport/wire"

// AdvertiseBrokers adds infos to the broker list of every Metadata answer
// from now on, after the broker's own nodes, as a cluster that grows
// would list its new members. Nothing listens for them unless the test
// starts something at their addresses, and they lead no partition: it is
// for checking what a client does with brokers it learns of (how many it
// dials, how it handles ones it cannot reach). Calls accumulate; see
// ClearAdvertisedBrokers. Answers crafted by a Fault are not changed.
func (b *Broker) AdvertiseBrokers(infos ...wire.BrokerInfo) {
	b.faults.mu.Lock()
	b.faults.extraBrokers = append(b.faults.extraBrokers, infos...)
	n := len(b.faults.extraBrokers)
	b.faults.mu.Unlock()
	b.log.Info("brokers advertised", "added", len(infos), "advertised", n)
}

// ClearAdvertisedBrokers removes every broker AdvertiseBrokers added.
func (b *Broker) ClearAdvertisedBrokers() {
	b.faults.mu.Lock()
	b.faults.extraBrokers = nil
	b.faults.mu.Unlock()
}

// advertisedBrokers returns a copy of the extra brokers to list.
func (f *faults) advertisedBrokers() []wire.BrokerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.BrokerInfo(nil), f.extraBrokers...)
}
