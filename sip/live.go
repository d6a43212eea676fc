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

// liveInfo is what the call's goroutine publishes about itself for other
// goroutines to read: a copy, replaced whole, never changed in place.
type liveInfo struct{ p atomic.Pointer[LiveCall] }

func (l *liveInfo) load() (LiveCall, bool) {
	if p := l.p.Load(); p != nil {
		return *p, true
	}
	return LiveCall{}, false
}

// publishLive publishes the call's identity, team and the given routing
// trace (copied). Only the goroutine that owns the call's fields calls it.
func (c *call) publishLive(trace []string) {
	lc := &LiveCall{ID: c.id, Number: c.number, CustomerID: c.customerID(), Callback: c.callbackID,
		Trace: append([]string(nil), trace...)}
	if c.customer != nil {
		lc.CustomerName = c.customer.Name
	}
	if c.team != nil {
		lc.TeamID = c.team.ID
	}
	c.live.p.Store(lc)
}

// LiveCall returns a call in progress by its record id, as its goroutine
// last published it (before each routing step and on transfers).
func (s *Server) LiveCall(id string) (LiveCall, bool) {
	c, ok := s.live.get(id)
	if !ok {
		return LiveCall{}, false
	}
	return c.live.load()
}
