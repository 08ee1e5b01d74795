package actors

import (
	"sort"
	"sync"
	"time"
)

// ConnState is the state of one broker connection actor.
type ConnState int

// Connection states, in the order a connection actor goes through them.
const (
	// StateConnecting: a dial, or the first request on a new connection,
	// is in progress.
	StateConnecting ConnState = iota
	// StateConnected: the connection is up, answered its first request
	// (a health check run right after the dial) and serves requests.
	StateConnected
	// StateFailed: the last dial failed or the connection was lost; the
	// supervisor restarts the actor after a backoff.
	StateFailed
	// StateStopped: the supervisor gave up on the actor, or the runtime
	// closed.
	StateStopped
)

// String returns the name of the ConnState value.
func (s ConnState) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateFailed:
		return "failed"
	case StateStopped:
		return "stopped"
	}
	return "unknown"
}

// BrokerHealth is a snapshot of one connection actor's health.
type BrokerHealth struct {
	Addr  string
	State ConnState
	// LastError is the most recent dial, connection or health-check
	// failure, nil if none happened since the last success.
	LastError error
	// Restarts counts how often the supervisor restarted the actor.
	Restarts int
	// RTT is the duration of the last successful health check.
	RTT time.Duration
	// Since is when State was entered.
	Since time.Time
	// Principal is the identity the connection authenticated as.
	Principal string
	// ALPN is the application protocol negotiated ("" without ALPN).
	ALPN string
	// Features are the extensions the broker listed in its answer to the
	// capabilities probe (wire.Feature* names).
	Features []string
	// Upstream says the broker did not answer the probe, as upstream
	// RustMQ does not: it serves none of this project's extensions.
	Upstream bool
	// DialFailures counts the dials in a row that failed (the probe
	// included) since the broker was last connected.
	DialFailures int
	// failedAt is when LastError was recorded.
	failedAt time.Time
}

// HealthRegistry collects the health of every connection actor of one
// runtime. It is safe for concurrent use.
type HealthRegistry struct {
	mu      sync.Mutex
	brokers map[string]*BrokerHealth
	reached bool // some connection was up at some point
}

// NewHealthRegistry returns an empty registry.
func NewHealthRegistry() *HealthRegistry {
	return &HealthRegistry{brokers: make(map[string]*BrokerHealth)}
}

func (h *HealthRegistry) update(addr string, f func(b *BrokerHealth)) {
	h.mu.Lock()
	b := h.brokers[addr]
	if b == nil {
		b = &BrokerHealth{Addr: addr, Since: time.Now()}
		h.brokers[addr] = b
	}
	f(b)
	h.mu.Unlock()
}

func (h *HealthRegistry) setState(addr string, s ConnState, err error) {
	h.update(addr, func(b *BrokerHealth) {
		if b.State != s {
			b.State = s
			b.Since = time.Now()
		}
		if err != nil || s == StateConnected {
			b.LastError = err
			b.failedAt = time.Now()
		}
		if s == StateConnected {
			b.DialFailures = 0
			h.reached = true
		}
	})
}

// Register lists addr in the registry, as "connecting", before its
// connection actor has done anything: Health shows every configured broker
// from the start.
func (h *HealthRegistry) Register(addr string) { h.update(addr, func(*BrokerHealth) {}) }

// dialFailed records a failed dial of addr and returns how many dials in a
// row have failed.
func (h *HealthRegistry) dialFailed(addr string, err error) int {
	n := 0
	h.setState(addr, StateFailed, err)
	h.update(addr, func(b *BrokerHealth) {
		b.DialFailures++
		n = b.DialFailures
	})
	return n
}

// Reached reports whether any connection of the runtime was ever up.
func (h *HealthRegistry) Reached() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reached
}

// AnyConnected reports whether some broker is connected now.
func (h *HealthRegistry) AnyConnected() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.brokers {
		if b.State == StateConnected {
			return true
		}
	}
	return false
}

// LastFailure returns the most recent dial or connection failure of any
// broker that is not connected now, nil if there is none.
func (h *HealthRegistry) LastFailure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var last *BrokerHealth
	for _, b := range h.brokers {
		if b.State != StateConnected && b.LastError != nil && (last == nil || b.failedAt.After(last.failedAt)) {
			last = b
		}
	}
	if last == nil {
		return nil
	}
	return last.LastError
}

// get returns a copy of addr's health, and whether addr is listed.
func (h *HealthRegistry) get(addr string) (BrokerHealth, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.brokers[addr]; b != nil {
		return *b, true
	}
	return BrokerHealth{}, false
}

// CountRestart records that the supervisor decided to restart the
// connection actor of addr. The runtime calls it from the connection
// supervisor's observer, so Restarts counts supervision decisions.
func (h *HealthRegistry) CountRestart(addr string) {
	h.update(addr, func(b *BrokerHealth) { b.Restarts++ })
}

// restarts returns the restart count of addr.
func (h *HealthRegistry) restarts(addr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.brokers[addr]; b != nil {
		return b.Restarts
	}
	return 0
}

// Snapshot returns every broker's health, sorted by address.
func (h *HealthRegistry) Snapshot() []BrokerHealth {
	h.mu.Lock()
	out := make([]BrokerHealth, 0, len(h.brokers))
	for _, b := range h.brokers {
		out = append(out, *b)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// Connected reports whether the broker at addr is connected.
func (h *HealthRegistry) Connected(addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.brokers[addr]
	return b != nil && b.State == StateConnected
}
