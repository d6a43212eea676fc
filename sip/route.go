package sip

import (
	"context"
	"time"

	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
	"github.com/teamline/teamline/store"
)

// defaultOffer is the SDP Teamline offers when it starts a call itself (a
// callback): G.711 both ways and RFC 4733 events; RewriteSDP puts in the
// relay's address.
var defaultOffer = []byte("v=0\r\no=teamline 0 0 IN IP4 0.0.0.0\r\ns=Teamline\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
	"m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")

// pcmuOffer is defaultOffer without PCMA, for a call whose other side is a
// browser: the relay does not transcode.
var pcmuOffer = []byte("v=0\r\no=teamline 0 0 IN IP4 0.0.0.0\r\ns=Teamline\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
	"m=audio 9 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")

// leaseRenewal is how often a call renews the presence leases of the agents
// it holds; well inside roster.DefaultRingLease.
const leaseRenewal = 20 * time.Second

// plan asks the router how to route the call and applies what the plan
// says about the team and storm mode.
func (c *call) plan(now time.Time) *router.Plan {
	rc := router.Call{
		Number:   c.e164,
		Withheld: c.withheld,
		Customer: c.customer,
		Team:     c.resolved.Team,
		Reason:   c.resolved.Reason,
	}
	if c.e164 != "" {
		rc.CallerLocation = roster.CallerLocation(c.e164)
	}
	if c.customer != nil && c.s.deps.Affinity != nil {
		rc.LastAgent, rc.LastAgentAt, _ = c.s.deps.Affinity.Last(c.customer.ID)
	}
	p := c.s.deps.Router().Plan(rc, c.s.view, now)
	c.team = p.Team
	c.log = c.log.With().Str("team", c.team.ID).Logger()
	if p.Storm.Kind != router.StormNone {
		c.s.loads.setStorm(p.Storm.Team, p.Storm.State)
		c.s.log.Warn().Str("team", p.Storm.Team).Str("storm", p.Storm.Kind.String()).Msg(p.Storm.String())
	}
	if p.Overflow {
		c.s.loads.add(p.Team.ID, 0, 0, 1)
	}
	c.s.loads.add(p.HomeTeam.ID, 0, 1, 0)
	c.loadState = loadWaiting
	return &p
}

// routed is what an answered call keeps of its routing plan (a router.Plan
// holds its whole trace inline, 4 KB, for a call that lasts minutes): the
// teams its load counts against and the trace as text, which transfers
// extend.
type routed struct {
	home, team *roster.Team
	overflow   bool
	trace      []string
}

// compactRouting replaces the plan of an answered call by its routed
// summary. The call's share of the load is none by then.
func (c *call) compactRouting() {
	p := c.routing
	if p == nil {
		return
	}
	c.routed = &routed{home: p.HomeTeam, team: p.Team, overflow: p.Overflow, trace: p.Trace()}
	c.routing = nil
	// The agents' screens read the same text from now on; the copy of the
	// plan's decisions they were rendered from goes with the plan.
	c.publish(&liveSnapshot{lines: c.routed.trace})
}

// note adds a line to the decision trace of the call, planned or answered.
func (c *call) note(line string) {
	if c.routed != nil {
		c.routed.trace = append(c.routed.trace, line)
		return
	}
	if c.routing != nil {
		c.routing.Note(line)
	}
}

// traceLines is the call's decision trace so far.
func (c *call) traceLines() []string {
	if c.routed != nil {
		return c.routed.trace
	}
	if c.routing != nil {
		return c.routing.Trace()
	}
	return nil
}

// finishPlan undoes the call's share of the team loads, lets storm mode end
// when the load allows, and stores and logs the decision trace; once, before
// the call's end is recorded.
func (c *call) finishPlan() {
	switch {
	case c.routing != nil:
		p := c.routing
		c.finished.Do(func() {
			c.setLoad(p, loadNone)
			c.finishRouting(routed{home: p.HomeTeam, team: p.Team, overflow: p.Overflow, trace: p.Trace()})
		})
	case c.routed != nil:
		c.finished.Do(func() { c.finishRouting(*c.routed) })
	}
}

func (c *call) finishRouting(r routed) {
	if r.overflow {
		c.s.loads.add(r.team.ID, 0, 0, -1)
	}
	if st, ev := c.s.deps.Router().Storm(r.home.ID, c.s.view, time.Now()); ev.Kind != router.StormNone {
		c.s.loads.setStorm(r.home.ID, st)
		c.s.log.Info().Str("team", r.home.ID).Str("storm", ev.Kind.String()).Msg(ev.String())
	}
	c.s.deps.Calls.Traced(c.id, r.trace)
	c.log.Info().Strs("trace", r.trace).Msg("routing decisions")
}

// Load states of a call, counted in its home team's router.Load.
const (
	loadNone = iota
	loadWaiting
	loadRinging
)

// setLoad moves the call's share of its home team's load (the first
// plan's, also while a pool plan rings).
func (c *call) setLoad(_ *router.Plan, state int) {
	p := c.routing
	if c.loadState == state || p == nil {
		return
	}
	ringing, waiting := 0, 0
	switch c.loadState {
	case loadWaiting:
		waiting--
	case loadRinging:
		ringing--
	}
	switch state {
	case loadWaiting:
		waiting++
	case loadRinging:
		ringing++
	}
	c.loadState = state
	c.s.loads.add(p.HomeTeam.ID, ringing, waiting, 0)
}

// route executes the plan's steps: each rings the agents the router picks
// when the step starts, in parallel, for the step's time. It returns the leg
// that answered, or why nobody did.
func (c *call) route(ctx context.Context, p *router.Plan) (*agentLeg, store.Outcome, string) {
	// Agents get the caller's offer anchored at Teamline (or, for a
	// callback, Teamline's own offer).
	offer, err := c.agentOffer()
	if err != nil {
		c.log.Error().Err(err).Msg("rewrite SDP for agents")
		return nil, store.OutcomeUnanswered, "sdp for agents: " + err.Error()
	}
	// The ring time is a cap on the whole search, whatever the steps say.
	capTimer := time.NewTimer(c.s.opts.RingTimeout)
	defer capTimer.Stop()
	rung := make(map[string]bool)
	picked := make([]string, 0, 8)
	ringing := false
	for i, step := range p.Steps() {
		picked = p.Pick(picked[:0], i, c.s.view, rung)
		c.publishPlan(p)
		legs, events := c.startStep(ctx, c.stepBase+i, picked, offer, rung)
		if len(legs) == 0 {
			continue
		}
		c.setLoad(p, loadRinging)
		res := c.ringStep(ctx, legs, events, step.RingFor, capTimer.C, &ringing)
		c.endStep(p, legs, res)
		if res.winner != nil {
			// Answered: the caller waits no more (a talking call counted as
			// waiting would push its team into storm mode).
			c.setLoad(p, loadNone)
			return res.winner, "", ""
		}
		c.setLoad(p, loadWaiting)
		switch {
		case res.stop:
			return nil, res.outcome, res.reason
		}
	}
	return nil, store.OutcomeUnanswered, "no agent answered"
}

// startStep reserves the picked agents and sends an INVITE to each of
// their registered contacts.
func (c *call) startStep(ctx context.Context, step int, agents []string, offer []byte, rung map[string]bool) ([]*agentLeg, chan legEvent) {
	snap := c.s.deps.Roster()
	var targets []legTarget
	for _, id := range agents {
		rung[id] = true
		a, ok := snap.Agent(id)
		if !ok {
			continue
		}
		bindings := c.s.registrar.BindingsByAgent(id)
		if len(bindings) == 0 {
			continue
		}
		if !c.s.deps.Presence.TryReserve(id, c.id) {
			c.log.Debug().Str("agent", id).Msg("agent became busy before ringing")
			continue
		}
		for _, b := range bindings {
			targets = append(targets, legTarget{agent: a, binding: b})
		}
	}
	c.mu.Lock()
	c.step = step
	c.mu.Unlock()
	events := make(chan legEvent, 2*len(targets))
	legs := make([]*agentLeg, 0, len(targets))
	reserved := make(map[string]bool, len(agents))
	for _, t := range targets {
		reserved[t.agent.ID] = true
		leg, err := c.newLeg(ctx, t, offer, events)
		if err != nil {
			c.log.Warn().Err(err).Str("agent", t.agent.ID).Str("contact", t.binding.Contact.String()).Msg("could not ring agent")
			continue
		}
		leg.step = step
		legs = append(legs, leg)
		go leg.run()
	}
	// Agents reserved whose every INVITE failed to go out are free again.
	for id := range reserved {
		if !hasAgentLeg(legs, id) {
			c.s.deps.Presence.Release(id, c.id)
		}
	}
	return legs, events
}

func hasAgentLeg(legs []*agentLeg, agentID string) bool {
	for _, l := range legs {
		if l.agent.ID == agentID {
			return true
		}
	}
	return false
}

// stepResult is how one step ended.
type stepResult struct {
	winner  *agentLeg
	stop    bool // no further step: the caller left or the search is over
	outcome store.Outcome
	reason  string
	// ended holds the legs that reached a final response (or failed)
	// before the step ended; the others were still ringing.
	ended map[*agentLeg]bool
}

// ringStep waits for the first agent of the step to answer, the caller to
// give up, every leg to fail, the step's time or the overall cap to pass.
func (c *call) ringStep(ctx context.Context, legs []*agentLeg, events <-chan legEvent, ringFor time.Duration, capC <-chan time.Time, ringing *bool) stepResult {
	timer := time.NewTimer(ringFor)
	defer timer.Stop()
	renew := time.NewTicker(leaseRenewal)
	defer renew.Stop()
	res := stepResult{ended: make(map[*agentLeg]bool, len(legs))}
	for len(res.ended) < len(legs) && res.winner == nil && !res.stop {
		select {
		case ev := <-events:
			switch ev.kind {
			case legRinging:
				if !*ringing {
					*ringing = true
					c.sendProvisional(180)
				}
			case legFailed:
				res.ended[ev.leg] = true
				ev.leg.log.Debug().Int("status", ev.status).AnErr("error", ev.err).Msg("agent leg ended")
			case legAnswered:
				res.winner = ev.leg
			}
		case <-c.cancelled:
			res.stop, res.outcome, res.reason = true, store.OutcomeAbandoned, "caller cancelled"
		case <-timer.C:
			return c.settleStep(legs, res)
		case <-capC:
			res.stop, res.outcome, res.reason = true, store.OutcomeUnanswered, "ring timeout"
		case <-ctx.Done():
			res.stop, res.outcome, res.reason = true, store.OutcomeUnanswered, "server shutting down"
		case <-renew.C:
			c.s.deps.Presence.Renew(c.id)
		}
	}
	return c.settleStep(legs, res)
}

// settleStep closes the step to late answers and cancels its other legs.
func (c *call) settleStep(legs []*agentLeg, res stepResult) stepResult {
	c.mu.Lock()
	c.step = -1
	if res.stop {
		c.settled = true
	}
	c.mu.Unlock()
	for _, l := range legs {
		if l != res.winner {
			l.cancel()
		}
	}
	return res
}

// endStep frees the agents of a step that did not win: an agent whose
// phone was still ringing when the step's time ran out has let the call
// ring out (counted towards going away for "no answer"); one who declined
// or failed is simply free again.
func (c *call) endStep(p *router.Plan, legs []*agentLeg, res stepResult) {
	stillRinging := make(map[string]bool)
	for _, l := range legs {
		if l != res.winner && !res.ended[l] {
			stillRinging[l.agent.ID] = true
		}
	}
	done := make(map[string]bool)
	for _, l := range legs {
		id := l.agent.ID
		if l == res.winner || (res.winner != nil && res.winner.agent.ID == id) || done[id] {
			continue
		}
		done[id] = true
		if stillRinging[id] && !res.stop {
			if c.s.deps.Presence.RangOut(id, c.id) {
				p.NoteNoAnswer(id, c.s.opts.NoAnswerLimit)
				c.log.Warn().Str("agent", id).Msg("agent let too many calls ring out: set away (no answer)")
			}
			continue
		}
		c.s.deps.Presence.Release(id, c.id)
	}
}
