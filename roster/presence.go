package roster

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// AgentState is what an agent is doing, as far as call routing cares.
type AgentState int

// The values of Available, Ringing and OnCall are kept from the first
// release; new states come after them.
const (
	// Available means the agent may be rung.
	Available AgentState = iota
	// Ringing means the agent's phone rings for a call.
	Ringing
	// OnCall means the agent answered a call and is talking.
	OnCall
	// Offline means the agent has no registration.
	Offline
	// WrapUp means the agent finishes the last call's paperwork and is not
	// rung until the team's wrap-up time has passed.
	WrapUp
	// Away means the agent is not to be rung, for a reason.
	Away
)

// String returns the state's name in lower case ("available", "on call").
func (s AgentState) String() string {
	switch s {
	case Available:
		return "available"
	case Ringing:
		return "ringing"
	case OnCall:
		return "on call"
	case Offline:
		return "offline"
	case WrapUp:
		return "wrap-up"
	case Away:
		return "away"
	}
	return "unknown"
}

// Token returns the state as one lower-case word ("on_call", "wrap_up"),
// for storage and APIs.
func (s AgentState) Token() string {
	switch s {
	case OnCall:
		return "on_call"
	case WrapUp:
		return "wrap_up"
	}
	return s.String()
}

// ReasonNoAnswer is the away reason of an agent who let too many calls in a
// row ring out.
const ReasonNoAnswer = "no answer"

// Defaults for PresenceOptions.
const (
	// DefaultRingLease is how long a ringing reservation lives without
	// renewal: longer than every ring step of a plan together.
	DefaultRingLease = 2 * time.Minute
	// DefaultCallLease is how long an answered call holds its agent without
	// renewal: longer than the longest call, so that a call layer that does
	// not renew never loses an agent mid-call.
	DefaultCallLease = 4*time.Hour + 5*time.Minute
)

// ErrUnknownAgent is returned for an agent ID that the roster does not know.
var ErrUnknownAgent = errors.New("unknown agent")

// ErrBusy is returned when an agent cannot be made available because a
// call holds them.
var ErrBusy = errors.New("agent is on a call")

// AgentStatus is an agent's live state, as routing reads it.
type AgentStatus struct {
	// AgentID identifies the agent.
	AgentID string
	// State is what the agent is doing.
	State AgentState
	// Reason says why the agent is away; empty otherwise.
	Reason string
	// Since is when the agent entered State; zero when unknown (never
	// changed since the process started).
	Since time.Time
	// IdleSince is when the agent last became available; zero when they
	// have been available since the process started (longest idle of all).
	IdleSince time.Time
	// Registered reports whether the agent has a registration (or, when
	// registration is not tracked, is assumed to have one).
	Registered bool
	// CallID is the call ringing the agent or talking to them; empty
	// otherwise.
	CallID string
}

// AgentStateChange is one change of an agent's state, for listeners that
// write it through to the database, log it or show it on the wallboard.
type AgentStateChange struct {
	// AgentID identifies the agent.
	AgentID string
	// From is the state before the change.
	From AgentState
	// To is the state after the change.
	To AgentState
	// Reason is the away reason when To is Away, else what caused the
	// change ("call c1 ended", "lease of call c1 expired").
	Reason string
	// CallID is the call involved, if any.
	CallID string
	// At is when the change happened.
	At time.Time
}

// PresenceOptions configures a Presence; every field may be left zero.
type PresenceOptions struct {
	// Now is the clock; nil means time.Now. Tests pass a fake clock.
	Now func() time.Time
	// Roster returns the current roster, used for each team's wrap-up time
	// and to refuse unknown agents in SetAway and SetAvailable; nil means no
	// wrap-up and every agent is known.
	Roster func() *Snapshot
	// NoAnswerLimit is how many calls in a row an agent may let ring out
	// (RangOut) before being set away with reason "no answer"; 0 means
	// never.
	NoAnswerLimit int
	// RingLease is how long a reservation for a ringing call lives without
	// Renew; 0 means DefaultRingLease.
	RingLease time.Duration
	// CallLease is how long an answered call holds its agent without Renew;
	// 0 means DefaultCallLease.
	CallLease time.Duration
	// RequireRegistration makes agents offline until SetRegistered reports
	// a registration. Without it an agent whose registration was never
	// reported counts as registered, as the first release did.
	RequireRegistration bool
	// OnChange is told every state change, in order, after the change is
	// made. It must not block and must not call the Presence.
	OnChange func(AgentStateChange)
}

// Presence tracks every agent's live state in memory: registration, the
// call ringing or holding them (a lease that expires unless renewed), wrap-up
// after a call, away with a reason, and how long they have been idle. The
// B2BUA reserves an agent before ringing them (TryReserve), marks the
// reservation answered when they pick up and releases it when the call ends,
// so that no agent is rung for two calls at once. It is safe for concurrent
// use.
type Presence struct {
	opts PresenceOptions

	mu     sync.RWMutex
	agents map[string]*agentEntry

	// notifyMu orders OnChange calls: it is taken before mu is released, so
	// listeners see changes in the order they were made.
	notifyMu sync.Mutex
}

// registration is what is known of an agent's registration.
type registration int

const (
	regUnknown registration = iota
	regYes
	regNo
)

// agentEntry is one agent's state. The state is derived from the other
// fields (derive); state, reason and since remember the last derived value
// so that changes can be reported.
type agentEntry struct {
	reg registration

	callID     string
	held       AgentState // Ringing or OnCall while callID is set
	leaseUntil time.Time

	wrapUntil time.Time

	away       bool
	awayReason string

	missed int

	state     AgentState
	reason    string
	since     time.Time
	idleSince time.Time
}

// NewPresence returns a Presence with default options, in which every agent
// is available.
func NewPresence() *Presence {
	return NewPresenceWithOptions(PresenceOptions{})
}

// NewPresenceWithOptions returns a Presence configured by opts.
func NewPresenceWithOptions(opts PresenceOptions) *Presence {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RingLease <= 0 {
		opts.RingLease = DefaultRingLease
	}
	if opts.CallLease <= 0 {
		opts.CallLease = DefaultCallLease
	}
	return &Presence{opts: opts, agents: map[string]*agentEntry{}}
}

// derive computes the agent's state from its fields at now.
func (p *Presence) derive(a *agentEntry, now time.Time) (AgentState, string) {
	switch {
	case a.callID != "":
		return a.held, ""
	case a.away:
		return Away, a.awayReason
	case a.wrapUntil.After(now):
		return WrapUp, ""
	case a.reg == regNo || (a.reg == regUnknown && p.opts.RequireRegistration):
		return Offline, ""
	}
	return Available, ""
}

// entry returns the agent's entry, creating it in its derived state.
// Call with p.mu held.
func (p *Presence) entry(id string, now time.Time) *agentEntry {
	a, ok := p.agents[id]
	if !ok {
		a = &agentEntry{}
		a.state, a.reason = p.derive(a, now)
		p.agents[id] = a
	}
	return a
}

// changes collects the changes of one operation.
type changes []AgentStateChange

// settle re-derives the agent's state at now and records a change, caused
// by cause, when it differs. Call with p.mu held.
func (p *Presence) settle(id string, a *agentEntry, now time.Time, cause, callID string, out *changes) {
	// A wrap-up that ended before now ended at its own time, not now.
	at := now
	if a.state == WrapUp && !a.wrapUntil.IsZero() && !a.wrapUntil.After(now) {
		at = a.wrapUntil
		if cause == "" {
			cause = "wrap-up ended"
		}
	}
	st, reason := p.derive(a, now)
	if st == a.state && reason == a.reason {
		return
	}
	c := AgentStateChange{AgentID: id, From: a.state, To: st, Reason: cause, CallID: callID, At: at}
	if st == Away {
		c.Reason = reason
	}
	a.state, a.reason, a.since = st, reason, at
	if st == Available {
		a.idleSince = at
	}
	*out = append(*out, c)
}

// unlockNotify releases p.mu and tells the listener about out, in order.
func (p *Presence) unlockNotify(out changes) {
	if len(out) == 0 || p.opts.OnChange == nil {
		p.mu.Unlock()
		return
	}
	p.notifyMu.Lock()
	p.mu.Unlock()
	defer p.notifyMu.Unlock()
	for _, c := range out {
		p.opts.OnChange(c)
	}
}

// TryReserve marks the agent as ringing for callID and reports whether it
// did. It fails when the agent is ringing for, or talking on, another call,
// is in wrap-up or away, or is offline while registration is required;
// reserving again for the same call succeeds and changes nothing.
func (p *Presence) TryReserve(agentID, callID string) bool {
	now := p.opts.Now()
	p.mu.Lock()
	var out changes
	defer func() { p.unlockNotify(out) }()
	a := p.entry(agentID, now)
	p.settle(agentID, a, now, "", "", &out)
	if a.callID != "" {
		return a.callID == callID
	}
	switch st, _ := p.derive(a, now); st {
	case Available:
	case Offline:
		if p.opts.RequireRegistration {
			return false
		}
	default:
		return false
	}
	a.callID, a.held, a.leaseUntil = callID, Ringing, now.Add(p.opts.RingLease)
	p.settle(agentID, a, now, "rung for call "+callID, callID, &out)
	return true
}

// Answered moves the agent from ringing to on call, if the agent is held by
// callID, and clears their count of calls rung out.
func (p *Presence) Answered(agentID, callID string) {
	now := p.opts.Now()
	p.mu.Lock()
	var out changes
	defer func() { p.unlockNotify(out) }()
	a, ok := p.agents[agentID]
	if !ok || a.callID != callID || callID == "" {
		return
	}
	a.held, a.leaseUntil, a.missed = OnCall, now.Add(p.opts.CallLease), 0
	p.settle(agentID, a, now, "answered call "+callID, callID, &out)
}

// Release ends the agent's hold by callID, if the agent is held by it: an
// agent who was on the call goes into their team's wrap-up (or straight to
// available), a ringing agent becomes available again. A late release from a
// call that lost the agent changes nothing. Release does not count as a
// call rung out; see RangOut.
func (p *Presence) Release(agentID, callID string) {
	now := p.opts.Now()
	p.mu.Lock()
	var out changes
	defer func() { p.unlockNotify(out) }()
	a, ok := p.agents[agentID]
	if !ok || a.callID != callID || callID == "" {
		return
	}
	cause := "call " + callID + " stopped ringing"
	if a.held == OnCall {
		cause = "call " + callID + " ended"
		if w := p.wrapUp(agentID); w > 0 {
			a.wrapUntil = now.Add(w)
		}
	}
	a.callID, a.leaseUntil = "", time.Time{}
	p.settle(agentID, a, now, cause, callID, &out)
}

// RangOut releases a ringing agent whose phone rang for callID until the
// step's time ran out, and counts it: after NoAnswerLimit such calls in a
// row the agent goes away with reason "no answer" (ReasonNoAnswer), and
// RangOut reports true so that the call's trace and log can say so.
func (p *Presence) RangOut(agentID, callID string) (wentAway bool) {
	now := p.opts.Now()
	p.mu.Lock()
	var out changes
	defer func() { p.unlockNotify(out) }()
	a, ok := p.agents[agentID]
	if !ok || a.callID != callID || callID == "" || a.held != Ringing {
		return false
	}
	a.callID, a.leaseUntil = "", time.Time{}
	a.missed++
	if p.opts.NoAnswerLimit > 0 && a.missed >= p.opts.NoAnswerLimit {
		a.away, a.awayReason, a.missed = true, ReasonNoAnswer, 0
		wentAway = true
	}
	p.settle(agentID, a, now, "call "+callID+" rang out", callID, &out)
	return wentAway
}

// Renew extends the leases of every agent held by callID, as the call layer
// does while the call is alive, and returns how many it renewed (0 when
// the call holds nobody, for instance because its lease expired).
func (p *Presence) Renew(callID string) int {
	if callID == "" {
		return 0
	}
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.agents {
		if a.callID != callID {
			continue
		}
		if a.held == OnCall {
			a.leaseUntil = now.Add(p.opts.CallLease)
		} else {
			a.leaseUntil = now.Add(p.opts.RingLease)
		}
		n++
	}
	return n
}

// Handover moves the agent's hold from call from to call to, keeping its
// state: an agent who took a colleague's consultation call becomes the
// agent of the customer's call the colleague transferred (an attended
// transfer). It reports false, changing nothing, when from does not hold the
// agent.
func (p *Presence) Handover(agentID, from, to string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.agents[agentID]
	if !ok || from == "" || to == "" || a.callID != from {
		return false
	}
	a.callID = to
	return true
}

// Holds reports whether callID holds the agent (ringing or on call).
func (p *Presence) Holds(agentID, callID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.agents[agentID]
	return ok && callID != "" && a.callID == callID
}

// Tick applies what time did by now: holds whose lease expired are dropped
// (the agent becomes available, without wrap-up and without counting a call
// rung out) and wrap-ups that ended make agents available. It returns the
// changes, which OnChange is also told. Call it every second or so.
func (p *Presence) Tick(now time.Time) []AgentStateChange {
	p.mu.Lock()
	var out changes
	for _, id := range p.sortedIDs() {
		a := p.agents[id]
		if a.callID != "" && !a.leaseUntil.After(now) {
			callID := a.callID
			a.callID, a.leaseUntil = "", time.Time{}
			p.settle(id, a, now, "lease of call "+callID+" expired", callID, &out)
			continue
		}
		p.settle(id, a, now, "", "", &out)
	}
	p.unlockNotify(out)
	return out
}

// ReleaseVanished drops every hold whose call alive says is gone (a crashed
// leg, a lost BYE), making those agents available, and returns the changes.
func (p *Presence) ReleaseVanished(alive func(callID string) bool) []AgentStateChange {
	now := p.opts.Now()
	p.mu.Lock()
	var out changes
	for _, id := range p.sortedIDs() {
		a := p.agents[id]
		if a.callID == "" || alive(a.callID) {
			continue
		}
		callID := a.callID
		a.callID, a.leaseUntil = "", time.Time{}
		p.settle(id, a, now, "call "+callID+" vanished", callID, &out)
	}
	p.unlockNotify(out)
	return out
}

// SetRegistered records that the agent gained their first registration or
// lost their last one. Its signature fits the registrar's OnChange hook.
// An agent who loses their registration mid-call keeps the call's hold and
// goes offline when it ends.
func (p *Presence) SetRegistered(agentID string, registered bool) {
	now := p.opts.Now()
	p.mu.Lock()
	var out changes
	defer func() { p.unlockNotify(out) }()
	a := p.entry(agentID, now)
	p.settle(agentID, a, now, "", "", &out)
	cause := "unregistered"
	a.reg = regNo
	if registered {
		a.reg, cause = regYes, "registered"
	}
	p.settle(agentID, a, now, cause, "", &out)
}

// SetAway marks the agent away with a reason ("lunch"); an agent on a call
// keeps it and is away when it ends. It fails with ErrUnknownAgent for an
// agent the roster does not know.
func (p *Presence) SetAway(agentID, reason string) error {
	if !p.known(agentID) {
		return ErrUnknownAgent
	}
	if reason == "" {
		reason = "away"
	}
	now := p.opts.Now()
	p.mu.Lock()
	var out changes
	defer func() { p.unlockNotify(out) }()
	a := p.entry(agentID, now)
	p.settle(agentID, a, now, "", "", &out)
	a.away, a.awayReason = true, reason
	p.settle(agentID, a, now, reason, "", &out)
	return nil
}

// SetAvailable ends the agent's away or wrap-up and clears their count of
// calls rung out; the agent becomes available (offline if not registered).
// It fails with ErrUnknownAgent for an agent the roster does not know and
// with ErrBusy while a call holds the agent.
func (p *Presence) SetAvailable(agentID string) error {
	if !p.known(agentID) {
		return ErrUnknownAgent
	}
	now := p.opts.Now()
	p.mu.Lock()
	var out changes
	defer func() { p.unlockNotify(out) }()
	a := p.entry(agentID, now)
	p.settle(agentID, a, now, "", "", &out)
	if a.callID != "" {
		return ErrBusy
	}
	a.away, a.awayReason, a.wrapUntil, a.missed = false, "", time.Time{}, 0
	p.settle(agentID, a, now, "set available", "", &out)
	return nil
}

// State returns what the agent is doing and the call holding them (empty
// unless ringing or on call).
func (p *Presence) State(agentID string) (state AgentState, callID string) {
	st := p.Status(agentID)
	return st.State, st.CallID
}

// Status returns the agent's live state. Routing calls it for every member
// of a team, so the common case takes only a read lock.
func (p *Presence) Status(agentID string) AgentStatus {
	now := p.opts.Now()
	p.mu.RLock()
	a, ok := p.agents[agentID]
	switch {
	case !ok:
		p.mu.RUnlock()
		st, _ := p.derive(&agentEntry{}, now)
		return AgentStatus{AgentID: agentID, State: st, Registered: !p.opts.RequireRegistration}
	case a.state != WrapUp || a.wrapUntil.After(now):
		st := p.status(agentID, a)
		p.mu.RUnlock()
		return st
	}
	p.mu.RUnlock()
	// The wrap-up ended: settle it, which reports the change.
	p.mu.Lock()
	var out changes
	defer func() { p.unlockNotify(out) }()
	a = p.agents[agentID]
	p.settle(agentID, a, now, "", "", &out)
	return p.status(agentID, a)
}

func (p *Presence) status(id string, a *agentEntry) AgentStatus {
	return AgentStatus{
		AgentID:    id,
		State:      a.state,
		Reason:     a.reason,
		Since:      a.since,
		IdleSince:  a.idleSince,
		Registered: a.reg == regYes || (a.reg == regUnknown && !p.opts.RequireRegistration),
		CallID:     a.callID,
	}
}

// Statuses returns the live state of every agent of the roster (or, without
// a roster, of every agent Presence has seen), ordered by agent ID.
func (p *Presence) Statuses() []AgentStatus {
	var ids []string
	if p.opts.Roster != nil {
		if s := p.opts.Roster(); s != nil {
			for _, t := range s.teams {
				for _, a := range t.Agents {
					ids = append(ids, a.ID)
				}
			}
		}
	}
	p.mu.Lock()
	if p.opts.Roster == nil {
		ids = p.sortedIDs()
	}
	p.mu.Unlock()
	slices.Sort(ids)
	out := make([]AgentStatus, 0, len(ids))
	for _, id := range ids {
		out = append(out, p.Status(id))
	}
	return out
}

// sortedIDs returns the tracked agent IDs in order, so that sweeps report
// changes deterministically. Call with p.mu held.
func (p *Presence) sortedIDs() []string {
	ids := make([]string, 0, len(p.agents))
	for id := range p.agents {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// wrapUp returns the wrap-up time of the agent's team.
func (p *Presence) wrapUp(agentID string) time.Duration {
	if p.opts.Roster == nil {
		return 0
	}
	s := p.opts.Roster()
	if s == nil {
		return 0
	}
	a, ok := s.Agent(agentID)
	if !ok {
		return 0
	}
	t, ok := s.Team(a.TeamID)
	if !ok {
		return 0
	}
	return t.WrapUp
}

// known reports whether the roster knows the agent (always true without a
// roster).
func (p *Presence) known(agentID string) bool {
	if p.opts.Roster == nil {
		return true
	}
	s := p.opts.Roster()
	if s == nil {
		return true
	}
	_, ok := s.Agent(agentID)
	return ok
}
