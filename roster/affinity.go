package roster

import (
	"sync"
	"time"
)

// Affinity remembers, per customer, the agent who last talked to them and
// when, so that routing can ring that agent first without reading the
// database on the call path. It is loaded from the call records at start and
// updated as calls are answered. It is safe for concurrent use.
type Affinity struct {
	mu   sync.RWMutex
	last map[string]lastContact
}

type lastContact struct {
	agentID string
	at      time.Time
}

// NewAffinity returns an empty Affinity.
func NewAffinity() *Affinity { return &Affinity{last: make(map[string]lastContact)} }

// Record notes that agentID talked to customerID at the given time; an
// older contact than the one known is ignored.
func (a *Affinity) Record(customerID, agentID string, at time.Time) {
	if customerID == "" || agentID == "" {
		return
	}
	a.mu.Lock()
	if cur, ok := a.last[customerID]; !ok || at.After(cur.at) {
		a.last[customerID] = lastContact{agentID: agentID, at: at}
	}
	a.mu.Unlock()
}

// Last returns the agent who last talked to customerID and when; ok is false
// when none is known.
func (a *Affinity) Last(customerID string) (agentID string, at time.Time, ok bool) {
	if customerID == "" {
		return "", time.Time{}, false
	}
	a.mu.RLock()
	c, ok := a.last[customerID]
	a.mu.RUnlock()
	return c.agentID, c.at, ok
}
