package router

import (
	"fmt"
	"time"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/roster"
)

// Fallback is what happens to a call when its plan's steps are exhausted.
type Fallback int

const (
	// FallbackCallback books a callback for the caller (a clean 480 until
	// booking exists).
	FallbackCallback Fallback = iota
	// FallbackNationalPool hands the call over to the national pool. It is a
	// team setting: a Plan that hands over carries the pool's steps itself
	// and ends in the pool's own fallback, so Plan.Fallback is never this.
	FallbackNationalPool
	// FallbackReject480 ends the call with 480 Temporarily Unavailable.
	FallbackReject480
)

// String names the fallback ("callback", "national pool", "reject 480").
func (f Fallback) String() string {
	switch f {
	case FallbackCallback:
		return "callback"
	case FallbackNationalPool:
		return "national pool"
	case FallbackReject480:
		return "reject 480"
	}
	return "unknown"
}

// parseFallback maps a configuration value to a Fallback.
func parseFallback(s string) (Fallback, error) {
	switch s {
	case config.FallbackCallback:
		return FallbackCallback, nil
	case config.FallbackNationalPool:
		return FallbackNationalPool, nil
	case config.FallbackReject:
		return FallbackReject480, nil
	}
	return 0, fmt.Errorf("unknown fallback %q", s)
}

// Call is what the router knows of an inbound call.
type Call struct {
	// Number is the caller's E.164 number; empty when withheld or unusable.
	Number string
	// Withheld marks a caller whose number is withheld (anonymous).
	Withheld bool
	// Customer is the caller's customer record; nil for unknown callers.
	Customer *roster.Customer
	// Team is the team roster.Snapshot.Resolve found for the caller.
	Team *roster.Team
	// Reason is Resolve's explanation; it opens the decision trace.
	Reason string
	// LastAgent is the ID of the agent who last talked to the customer;
	// empty when unknown.
	LastAgent string
	// LastAgentAt is when LastAgent last talked to the customer.
	LastAgentAt time.Time
	// CallerLocation is the caller's time zone (roster.CallerLocation); nil
	// when unknown. Used only when hours are read in the caller's zone.
	CallerLocation *time.Location
}

// View is the live state the router reads: agents' states (roster.Presence
// satisfies AgentSource) and teams' loads (kept by the call layer).
type View interface {
	// Status returns the agent's live state.
	Status(agentID string) roster.AgentStatus
	// Load returns the team's current load and storm state.
	Load(teamID string) Load
}

// AgentSource gives agents' live states; roster.Presence satisfies it.
type AgentSource interface {
	// Status returns the agent's live state.
	Status(agentID string) roster.AgentStatus
}

// Live is a View made of an AgentSource and a load function.
type Live struct {
	// Agents gives agents' live states.
	Agents AgentSource
	// Loads returns a team's load; nil means every team is idle.
	Loads func(teamID string) Load
}

// Status implements View.
func (l Live) Status(agentID string) roster.AgentStatus { return l.Agents.Status(agentID) }

// Load implements View.
func (l Live) Load(teamID string) Load {
	if l.Loads == nil {
		return Load{}
	}
	return l.Loads(teamID)
}

// Router makes routing plans from a roster snapshot and the routing
// configuration. It is immutable: build a new one when either changes. It
// does no I/O, starts no goroutines, never reads the clock and never logs,
// so it is safe for concurrent use.
type Router struct {
	teams        map[string]*teamPolicy
	agentTeam    map[string]string
	pool         *teamPolicy
	affinityDays int
	callerZone   bool
	poolCap      int
}

// teamPolicy is one team's routing configuration, compiled.
type teamPolicy struct {
	team         *roster.Team
	hours        hours
	affinityRing time.Duration
	waveSize     int
	waveRing     time.Duration
	allRing      time.Duration
	fallback     Fallback
	neighbours   []neighbour
	storm        config.Storm
}

// neighbour is a team that takes storm overflow, up to cap calls.
type neighbour struct {
	p   *teamPolicy
	cap int
}

// New builds a Router for the teams of snap with the routing settings of cfg
// (the configuration snap was built from).
func New(snap *roster.Snapshot, cfg *config.Config) (*Router, error) {
	r := &Router{
		teams:        make(map[string]*teamPolicy, len(cfg.Teams)),
		agentTeam:    map[string]string{},
		affinityDays: cfg.Routing.AffinityDays,
		callerZone:   cfg.Routing.HoursTimeZone == config.HoursCallerZone,
		poolCap:      cfg.Routing.NationalPoolCap,
	}
	for i := range cfg.Teams {
		ct := &cfg.Teams[i]
		t, ok := snap.Team(ct.ID)
		if !ok {
			return nil, fmt.Errorf("build router: team %s is not in the roster", ct.ID)
		}
		fb, err := parseFallback(cfg.TeamFallback(ct))
		if err != nil {
			return nil, fmt.Errorf("build router: team %s: %w", ct.ID, err)
		}
		p := &teamPolicy{
			team:         t,
			hours:        compileHours(&ct.Hours, ct.Exceptions),
			affinityRing: or(ct.Routing.AffinityRing, cfg.Routing.AffinityRing),
			waveSize:     cfg.Routing.WaveSize,
			waveRing:     or(ct.Routing.WaveRing, cfg.Routing.WaveRing),
			allRing:      or(ct.Routing.AllRing, cfg.Routing.AllRing),
			fallback:     fb,
			storm:        ct.Storm,
		}
		if ct.Routing.WaveSize > 0 {
			p.waveSize = ct.Routing.WaveSize
		}
		r.teams[t.ID] = p
		for _, a := range t.Agents {
			r.agentTeam[a.ID] = t.ID
		}
	}
	for _, t := range snap.Teams() {
		if _, ok := r.teams[t.ID]; !ok {
			return nil, fmt.Errorf("build router: team %s has no configuration", t.ID)
		}
	}
	for i := range cfg.Teams {
		ct := &cfg.Teams[i]
		p := r.teams[ct.ID]
		for _, n := range ct.Neighbours {
			np, ok := r.teams[n.Team]
			if !ok {
				return nil, fmt.Errorf("build router: team %s: neighbour %s does not exist", ct.ID, n.Team)
			}
			p.neighbours = append(p.neighbours, neighbour{p: np, cap: n.Cap})
		}
	}
	poolID := cfg.Routing.PoolID(cfg.DefaultTeam)
	var ok bool
	if r.pool, ok = r.teams[poolID]; !ok {
		return nil, fmt.Errorf("build router: national pool %q does not exist", poolID)
	}
	return r, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Pool returns the national pool team.
func (r *Router) Pool() *roster.Team { return r.pool.team }

// maxSteps is the most steps a plan holds: a team's three and the pool's
// two.
const maxSteps = 6

// StepKind says whom a step rings.
type StepKind int

const (
	// StepLastAgent rings the customer's last agent alone.
	StepLastAgent StepKind = iota
	// StepLongestIdle rings the Size available members of the step's team
	// who have been idle longest.
	StepLongestIdle
	// StepAll rings every available member of the step's team.
	StepAll
)

// StepSpec is one step of a plan: whom to ring, together, for how long.
// Which agents is decided only when the step starts (Plan.Pick), so that the
// step sees who is free at that moment.
type StepSpec struct {
	// Kind says whom the step rings.
	Kind StepKind
	// Team is the team whose members the step rings.
	Team *roster.Team
	// Size is the most agents a StepLongestIdle step rings.
	Size int
	// RingFor is how long the step rings before the next step.
	RingFor time.Duration
}

// String describes the step ("3 longest-idle of berlin for 20s").
func (s StepSpec) String() string {
	return stepLabel(s.Kind, s.Team.ID, s.Size, s.RingFor)
}

func stepLabel(k StepKind, team string, size int, ring time.Duration) string {
	switch k {
	case StepLastAgent:
		return "last agent for " + ring.String()
	case StepLongestIdle:
		return fmt.Sprintf("%d longest-idle of %s for %s", size, team, ring)
	}
	return "all available of " + team + " for " + ring.String()
}

// Plan is how one call is routed: the team that takes it, the steps that
// ring its agents, what happens when they are exhausted, and why (the
// decision trace). Keep it in one place (a variable or a pointer): Steps
// returns a view into it, and Pick adds to its trace. It is not safe for
// concurrent use.
type Plan struct {
	// Team is the team that takes the call: the caller's, the national pool
	// or, in a storm, a neighbour.
	Team *roster.Team
	// HomeTeam is the team Resolve found for the caller; callbacks are
	// booked for it.
	HomeTeam *roster.Team
	// LastAgent is the agent a StepLastAgent step rings; empty without one.
	LastAgent string
	// Fallback is what happens after the last step: FallbackCallback or
	// FallbackReject480.
	Fallback Fallback
	// Overflow reports that Team takes the call as storm overflow: count it
	// in Team's Load.Overflow while the call lasts.
	Overflow bool
	// Storm reports a change of the storm mode of the team the call was
	// headed for (Kind StormNone when nothing changed): store Storm.State
	// as the team's StormState, and log or show the event.
	Storm StormEvent
	// Dropped counts decisions that did not fit in the trace.
	Dropped int

	steps  [maxSteps]StepSpec
	nSteps int
	trace  [maxTrace]Decision
	nTrace int
}

// Steps returns the plan's steps in order; the slice points into the plan.
func (p *Plan) Steps() []StepSpec { return p.steps[:p.nSteps] }

// Decisions returns the decision trace; the slice points into the plan.
func (p *Plan) Decisions() []Decision { return p.trace[:p.nTrace] }

// Trace renders the decision trace, one human-readable line per decision.
func (p *Plan) Trace() []string { return RenderTrace(p.Decisions(), p.Dropped) }

// RenderTrace renders decisions, one human-readable line each, and how many
// more a plan did not keep: what Plan.Trace returns, for a copy of a plan's
// decisions taken while it was being made.
func RenderTrace(decisions []Decision, dropped int) []string {
	out := make([]string, 0, len(decisions)+1)
	for _, d := range decisions {
		out = append(out, d.String())
	}
	if dropped > 0 {
		out = append(out, fmt.Sprintf("(%d more decisions not kept)", dropped))
	}
	return out
}

// Note adds a line of the call layer's own to the trace.
func (p *Plan) Note(line string) { p.add(Decision{kind: dResolved, text: line}) }

// NoteNoAnswer records in the trace that agentID went away after letting
// limit calls in a row ring out (roster.Presence.RangOut reported it).
func (p *Plan) NoteNoAnswer(agentID string, limit int) {
	p.add(Decision{kind: dNoAnswer, agent: agentID, n: limit, text: roster.ReasonNoAnswer})
}

func (p *Plan) add(d Decision) {
	if p.nTrace == len(p.trace) {
		p.Dropped++
		return
	}
	p.trace[p.nTrace] = d
	p.nTrace++
}

func (p *Plan) addStep(s StepSpec) {
	if p.nSteps < len(p.steps) {
		p.steps[p.nSteps] = s
		p.nSteps++
	}
}

// Plan routes call at now. It reads agents' states and teams' loads from
// view, and does not allocate.
//
// The rules, in order: a withheld number and an opted-out customer go to
// the national pool; a team outside its opening hours hands the call to the
// national pool; a team in storm mode overflows to its neighbours, then to
// the national pool (each up to its cap), or straight to its fallback. The
// team's steps are: the customer's last agent alone (when they talked to
// the customer within the affinity window and belong to the team), then the
// longest-idle available members, then every available member; a team whose
// fallback is the national pool continues with the pool's steps.
func (r *Router) Plan(call Call, view View, now time.Time) Plan {
	var p Plan
	withheld := call.Withheld || call.Number == ""
	hp := r.pool
	if call.Team != nil {
		if tp, ok := r.teams[call.Team.ID]; ok {
			hp = tp
		} else {
			p.add(Decision{kind: dResolved, text: "team " + call.Team.ID + " has no routing configuration: national pool " + r.pool.team.ID})
		}
	}
	p.HomeTeam = hp.team
	if call.Reason != "" && !withheld {
		p.add(Decision{kind: dResolved, text: call.Reason})
	}
	target, teamRules := hp, true
	switch {
	case withheld:
		p.add(Decision{kind: dWithheld, team: r.pool.team.ID})
		target, teamRules = r.pool, false
	case call.Customer != nil && call.Customer.OptedOut:
		who := call.Customer.Name
		if who == "" {
			who = call.Customer.Number
		}
		p.add(Decision{kind: dOptedOut, team: r.pool.team.ID, text: who})
		target, teamRules = r.pool, false
	default:
		v, t, caller := r.hoursAt(hp, call, now)
		d := Decision{kind: dOpen, team: hp.team.ID, at: t, caller: caller, rng: v.rng, rule: v.rule, note: v.note}
		if !v.open {
			d.kind, d.other = dClosed, r.pool.team.ID
			target, teamRules = r.pool, false
		}
		p.add(d)
	}
	if target == r.pool && target != hp {
		v, t, caller := r.hoursAt(target, call, now)
		d := Decision{kind: dOpen, team: target.team.ID, at: t, caller: caller, rng: v.rng, rule: v.rule, note: v.note}
		if !v.open {
			fb := r.terminal(r.pool)
			d.kind, d.text = dPoolClosed, fb.String()
			p.add(d)
			p.Team, p.Fallback = r.pool.team, fb
			p.add(Decision{kind: dFallback, text: fb.String()})
			return p
		}
		p.add(d)
	}

	if ld := view.Load(target.team.ID); target.storm.Enabled || ld.Storm.Active {
		// The state machine only compares the free agents with the callers
		// ringing plus the exit margin: counting stops there, so a calm team
		// costs a few status reads, not one per member.
		limit := ld.Ringing + max(target.storm.ExitMargin, 1)
		free := countFree(target.team, view, true, limit)
		st, ev := EvalStorm(target.storm, ld.Storm, ld, free, now)
		if ev.Kind != StormNone {
			ev.Free = countFree(target.team, view, true, -1)
			ev.Team = target.team.ID
			p.Storm = ev
			p.add(Decision{kind: dStormChange, team: ev.Team, text: ev.Kind.String(), n: ev.Ringing, m: ev.Free, k: ev.Waiting})
		}
		if st.Active {
			if ev.Kind == StormNone {
				p.add(Decision{kind: dStorm, team: target.team.ID, at: st.Since})
			}
			r.overflow(&p, target, call, view, now)
			return p
		}
	}

	p.Team = target.team
	last := ""
	if teamRules && call.LastAgent != "" && r.affinityDays > 0 {
		last = r.affinity(&p, target, call, now)
	}
	r.teamSteps(&p, target, last)
	r.finish(&p, target, call, now)
	return p
}

// affinity decides whether the customer's last agent rings first.
func (r *Router) affinity(p *Plan, tp *teamPolicy, call Call, now time.Time) string {
	age := now.Sub(call.LastAgentAt)
	teamID, known := r.agentTeam[call.LastAgent]
	switch {
	case !known:
		p.add(Decision{kind: dAffinityUnknown, agent: call.LastAgent})
	case teamID != tp.team.ID:
		p.add(Decision{kind: dAffinityElsewhere, agent: call.LastAgent, team: tp.team.ID})
	case age > time.Duration(r.affinityDays)*24*time.Hour:
		p.add(Decision{kind: dAffinityOld, agent: call.LastAgent, age: age, n: r.affinityDays})
	default:
		p.add(Decision{kind: dAffinity, agent: call.LastAgent, age: age, ring: tp.affinityRing})
		return call.LastAgent
	}
	return ""
}

// teamSteps appends tp's steps, with the last-agent step when last is set.
func (r *Router) teamSteps(p *Plan, tp *teamPolicy, last string) {
	n := 0
	if last != "" {
		p.LastAgent = last
		p.addStep(StepSpec{Kind: StepLastAgent, Team: tp.team, Size: 1, RingFor: tp.affinityRing})
		n++
	}
	if tp.waveSize > 0 {
		p.addStep(StepSpec{Kind: StepLongestIdle, Team: tp.team, Size: tp.waveSize, RingFor: tp.waveRing})
		n++
	}
	p.addStep(StepSpec{Kind: StepAll, Team: tp.team, RingFor: tp.allRing})
	n++
	p.add(Decision{kind: dSteps, team: tp.team.ID, n: n})
}

// finish sets the plan's fallback after tp's steps: the pool's steps and
// then its fallback when tp hands over to the pool, else tp's fallback.
func (r *Router) finish(p *Plan, tp *teamPolicy, call Call, now time.Time) {
	fb := tp.fallback
	if fb == FallbackNationalPool && tp != r.pool {
		v, t, caller := r.hoursAt(r.pool, call, now)
		if v.open {
			before := p.nSteps
			r.poolSteps(p)
			p.add(Decision{kind: dHandover, other: r.pool.team.ID, n: p.nSteps - before})
		} else {
			p.add(Decision{kind: dPoolClosed, team: r.pool.team.ID, at: t, caller: caller, rule: v.rule,
				note: v.note, text: r.terminal(r.pool).String()})
		}
		fb = r.terminal(r.pool)
	} else if fb == FallbackNationalPool {
		fb = FallbackReject480
	}
	p.Fallback = fb
	p.add(Decision{kind: dFallback, text: fb.String()})
}

// poolSteps appends the pool's steps (never a last-agent step).
func (r *Router) poolSteps(p *Plan) {
	tp := r.pool
	if tp.waveSize > 0 {
		p.addStep(StepSpec{Kind: StepLongestIdle, Team: tp.team, Size: tp.waveSize, RingFor: tp.waveRing})
	}
	p.addStep(StepSpec{Kind: StepAll, Team: tp.team, RingFor: tp.allRing})
}

// terminal is tp's fallback as a plan's last word: never the pool.
func (r *Router) terminal(tp *teamPolicy) Fallback {
	if tp.fallback != FallbackNationalPool {
		return tp.fallback
	}
	if tp == r.pool {
		return FallbackReject480
	}
	return r.terminal(r.pool)
}

// overflow routes a call of team tp, which is in storm mode.
func (r *Router) overflow(p *Plan, tp *teamPolicy, call Call, view View, now time.Time) {
	if tp.storm.Overflow == config.OverflowFallback {
		p.add(Decision{kind: dStormFallback, team: tp.team.ID, text: tp.fallback.String()})
		if tp.fallback == FallbackNationalPool && r.overflowPool(p, tp, call, view, now) {
			return
		}
		p.Team, p.Fallback = tp.team, r.terminal(tp)
		p.add(Decision{kind: dFallback, text: p.Fallback.String()})
		return
	}
	for _, nb := range tp.neighbours {
		nl := view.Load(nb.p.team.ID)
		skip := ""
		switch {
		case nl.Storm.Active:
			skip = "in storm mode itself"
		case nl.Overflow >= nb.cap:
			skip = "at its cap of overflow calls"
		case !r.open(nb.p, call, now):
			skip = "closed"
		case countFree(nb.p.team, view, false, 1) == 0:
			skip = "no agent available"
		}
		if skip != "" {
			p.add(Decision{kind: dNeighbourSkipped, other: nb.p.team.ID, text: skip})
			continue
		}
		p.Team, p.Overflow = nb.p.team, true
		p.add(Decision{kind: dNeighbour, other: nb.p.team.ID, n: nl.Overflow, m: nb.cap})
		r.teamSteps(p, nb.p, "")
		p.Fallback = r.terminal(tp)
		p.add(Decision{kind: dFallback, text: p.Fallback.String()})
		return
	}
	if r.overflowPool(p, tp, call, view, now) {
		return
	}
	p.Team, p.Fallback = tp.team, r.terminal(tp)
	p.add(Decision{kind: dFallback, text: p.Fallback.String()})
}

// overflowPool sends a storm call of team tp to the national pool when the
// pool can take it, and reports whether it did.
func (r *Router) overflowPool(p *Plan, tp *teamPolicy, call Call, view View, now time.Time) bool {
	pool := r.pool
	skip := ""
	var pl Load
	switch {
	case tp == pool:
		skip = "it is the team in storm"
	default:
		pl = view.Load(pool.team.ID)
		switch {
		case pl.Storm.Active:
			skip = "in storm mode itself"
		case r.poolCap > 0 && pl.Overflow >= r.poolCap:
			skip = "at its cap of overflow calls"
		case !r.open(pool, call, now):
			skip = "closed"
		}
	}
	if skip != "" {
		p.add(Decision{kind: dOverflowPoolSkipped, other: pool.team.ID, text: skip})
		return false
	}
	p.Team, p.Overflow = pool.team, true
	p.add(Decision{kind: dOverflowPool, other: pool.team.ID, n: pl.Overflow, m: r.poolCap})
	r.teamSteps(p, pool, "")
	p.Fallback = r.terminal(pool)
	p.add(Decision{kind: dFallback, text: p.Fallback.String()})
	return true
}

// hoursAt evaluates tp's hours at now on the configured clock: the caller's
// zone when configured and known, else the team's.
func (r *Router) hoursAt(tp *teamPolicy, call Call, now time.Time) (hoursVerdict, time.Time, bool) {
	loc, caller := tp.team.Location, false
	if r.callerZone && call.CallerLocation != nil {
		loc, caller = call.CallerLocation, true
	}
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	return tp.hours.at(t), t, caller
}

func (r *Router) open(tp *teamPolicy, call Call, now time.Time) bool {
	v, _, _ := r.hoursAt(tp, call, now)
	return v.open
}

// Open reports whether team teamID is open at now, on the configured clock
// for a caller in callerLoc (nil: unknown). Unknown teams are closed.
func (r *Router) Open(teamID string, callerLoc *time.Location, now time.Time) bool {
	tp, ok := r.teams[teamID]
	if !ok {
		return false
	}
	return r.open(tp, Call{CallerLocation: callerLoc}, now)
}

// Storm re-evaluates team teamID's storm mode at now, for the call layer to
// call when load drops (a call ends, an agent becomes free) so that a storm
// ends without waiting for the next call. It returns the next state and the
// transition; unknown teams are never in storm.
func (r *Router) Storm(teamID string, view View, now time.Time) (StormState, StormEvent) {
	tp, ok := r.teams[teamID]
	if !ok {
		return StormState{}, StormEvent{Team: teamID, At: now}
	}
	ld := view.Load(teamID)
	st, ev := EvalStorm(tp.storm, ld.Storm, ld, countFree(tp.team, view, true, -1), now)
	ev.Team = teamID
	return st, ev
}

// countFree counts the team's registered agents that are available, and,
// with ringing, those ringing too (they are about to answer somebody). It
// stops counting at limit, unless limit is negative.
func countFree(t *roster.Team, view View, ringing bool, limit int) int {
	n := 0
	for _, a := range t.Agents {
		if n == limit {
			break
		}
		st := view.Status(a.ID)
		if st.Registered && (st.State == roster.Available || (ringing && st.State == roster.Ringing)) {
			n++
		}
	}
	return n
}
