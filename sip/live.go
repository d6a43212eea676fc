package sip

import (
	"sync"
	"sync/atomic"
)

// LiveCall is what an agent's screen shows about a call that is ringing or
// in progress: who is calling, which team, and why it came to this agent.
type LiveCall struct {
	// ID is the call record id (X-Teamline-Call in the agents' INVITEs).
	ID string
	// Number is the caller's number, E.164 when it parsed.
	Number string
	// CustomerID is the resolved customer; empty when unknown.
	CustomerID string
	// CustomerName is the customer's display name; may be empty.
	CustomerName string
	// TeamID is the team that takes the call.
	TeamID string
	// Trace is the routing decision trace so far.
	Trace []string
	// Callback is the callback id on a callback call.
	Callback string
}

// liveCalls indexes the calls in progress by record id, for the agents'
// screens. Routing never reads it.
type liveCalls struct {
	mu sync.RWMutex
	m  map[string]*call
}

func (l *liveCalls) add(c *call) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*call)
	}
	l.m[c.id] = c
	l.mu.Unlock()
}

func (l *liveCalls) remove(id string) {
	l.mu.Lock()
	delete(l.m, id)
	l.mu.Unlock()
}

func (l *liveCalls) get(id string) (*call, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	c, ok := l.m[id]
	return c, ok
}

// liveTrace holds a copy of the routing trace the call's goroutine
// publishes before it rings anybody, so other goroutines can read it.
type liveTrace struct{ p atomic.Pointer[[]string] }

func (t *liveTrace) publish(trace []string) {
	cp := append([]string(nil), trace...)
	t.p.Store(&cp)
}

func (t *liveTrace) load() []string {
	if p := t.p.Load(); p != nil {
		return *p
	}
	return nil
}

// LiveCall returns a call in progress by its record id.
func (s *Server) LiveCall(id string) (LiveCall, bool) {
	c, ok := s.live.get(id)
	if !ok {
		return LiveCall{}, false
	}
	lc := LiveCall{ID: c.id, Number: c.number, CustomerID: c.customerID(), Trace: c.trace.load(), Callback: c.callbackID}
	if c.customer != nil {
		lc.CustomerName = c.customer.Name
	}
	if t := c.liveTeam.Load(); t != nil {
		lc.TeamID = *t
	}
	return lc, true
}
