package roster

import "sync"

// AgentState is what an agent is doing, as far as call routing cares.
type AgentState int

const (
	// Available means the agent may be rung.
	Available AgentState = iota
	// Ringing means the agent's phone rings for a call.
	Ringing
	// OnCall means the agent answered a call and is talking.
	OnCall
)

// String returns the state's name in lower case ("available").
func (s AgentState) String() string {
	switch s {
	case Available:
		return "available"
	case Ringing:
		return "ringing"
	case OnCall:
		return "on call"
	}
	return "unknown"
}

// Presence tracks which agents are busy, in memory. The B2BUA reserves an
// agent before ringing them, marks the reservation answered when they pick
// up and releases it when the call ends, so that no agent is rung for two
// calls at once. It is safe for concurrent use.
type Presence struct {
	mu   sync.Mutex
	busy map[string]hold // agent ID -> current call
}

// hold is an agent's current call.
type hold struct {
	callID string
	state  AgentState
}

// NewPresence returns a Presence in which every agent is available.
func NewPresence() *Presence {
	return &Presence{busy: map[string]hold{}}
}

// TryReserve marks the agent as ringing for callID and reports whether it
// did. It fails when the agent is ringing for, or talking on, another call;
// reserving again for the same call succeeds and changes nothing.
func (p *Presence) TryReserve(agentID, callID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.busy[agentID]; ok {
		return h.callID == callID
	}
	p.busy[agentID] = hold{callID: callID, state: Ringing}
	return true
}

// Answered moves the agent from ringing to on call, if the agent is held by
// callID.
func (p *Presence) Answered(agentID, callID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.busy[agentID]; ok && h.callID == callID {
		h.state = OnCall
		p.busy[agentID] = h
	}
}

// Release makes the agent available again, if the agent is held by callID;
// a late release from a call that lost the agent changes nothing.
func (p *Presence) Release(agentID, callID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.busy[agentID]; ok && h.callID == callID {
		delete(p.busy, agentID)
	}
}

// State returns what the agent is doing and the call holding them (empty
// when available).
func (p *Presence) State(agentID string) (state AgentState, callID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.busy[agentID]
	if !ok {
		return Available, ""
	}
	return h.state, h.callID
}
