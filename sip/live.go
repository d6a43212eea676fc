package sip

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/teamline/teamline/router"
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

// callIndex is a concurrent index of calls by a string key: the calls in
// progress by record id (Server.live, for the agents' screens; routing never
// reads it) and the answered consultations by Call-ID (consults).
type callIndex struct {
	mu sync.RWMutex
	m  map[string]*call
}

func (x *callIndex) add(key string, c *call) {
	x.mu.Lock()
	if x.m == nil {
		x.m = make(map[string]*call)
	}
	x.m[key] = c
	x.mu.Unlock()
}

func (x *callIndex) remove(key string) {
	x.mu.Lock()
	delete(x.m, key)
	x.mu.Unlock()
}

func (x *callIndex) get(key string) (*call, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.m[key]
	return c, ok
}

// liveInfo is what the call's goroutine publishes about itself for other
// goroutines to read: a snapshot, replaced whole, never changed in place.
type liveInfo struct{ p atomic.Pointer[liveSnapshot] }

// liveSnapshot is a call as published. The routing trace is kept as the
// plan's decisions (a copy) and rendered only when somebody reads it, so
// that routing does not format text nobody may look at.
type liveSnapshot struct {
	call      LiveCall // Trace unset
	decisions []router.Decision
	dropped   int
	lines     []string // the trace of an answered call, text already
}

// publishPlan publishes the call's identity and team and the decisions of
// its plan so far. Only the goroutine that owns the call's fields calls it.
func (c *call) publishPlan(p *router.Plan) {
	c.publish(&liveSnapshot{decisions: slices.Clone(p.Decisions()), dropped: p.Dropped})
}

// publishLines is publishPlan for a call whose trace is text already.
func (c *call) publishLines(lines []string) {
	c.publish(&liveSnapshot{lines: slices.Clone(lines)})
}

func (c *call) publish(snap *liveSnapshot) {
	snap.call = LiveCall{ID: c.id, Number: c.number, CustomerID: c.customerID(), Callback: c.callbackID}
	if c.customer != nil {
		snap.call.CustomerName = c.customer.Name
	}
	if c.team != nil {
		snap.call.TeamID = c.team.ID
	}
	c.live.p.Store(snap)
}

// LiveCall returns a call in progress by its record id, as its goroutine
// last published it (when it rings agents, and on transfers).
func (s *Server) LiveCall(id string) (LiveCall, bool) {
	c, ok := s.live.get(id)
	if !ok {
		return LiveCall{}, false
	}
	snap := c.live.p.Load()
	if snap == nil {
		return LiveCall{}, false
	}
	lc := snap.call
	lc.Trace = append(slices.Clone(snap.lines), router.RenderTrace(snap.decisions, snap.dropped)...)
	return lc, true
}
