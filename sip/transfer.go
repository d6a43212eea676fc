package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/teamline/teamline/media"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
	"github.com/teamline/teamline/store"
)

// An agent on a call hands it on with REFER (RFC 3515) on their own dialog
// with Teamline: a softphone's transfer key, or the console's button. The
// customer's dialog never changes: Teamline rings the target with the
// customer's context (the call record id, the transferring agent, the
// Call-Info link where the transferring agent's note is), and when the
// target answers it points the relay's agent side at them, tells the
// transferring agent (NOTIFY 200) and hangs up their leg. The customer hears
// ringback meanwhile and is never asked to repeat themselves.

// transferTarget is who an agent hands a call to.
type transferTarget struct {
	// name is what the agent asked for (the Refer-To user part).
	name string
	// agent is a colleague; nil for a team or the pool.
	agent *roster.Agent
	// team is a team or the national pool; nil for an agent.
	team *roster.Team
}

// transferRequest is an accepted REFER, for the call's talk loop.
type transferRequest struct {
	from     *agentLeg
	target   transferTarget
	kind     store.TransferKind
	referSeq uint32
	at       time.Time
	// consult is the consultation whose colleague takes the call, for an
	// attended transfer.
	consult *call
}

// transferResult is how ringing the target ended: the leg that answered, or
// why nobody did.
type transferResult struct {
	winner *agentLeg
	// moved says the winner comes from a consultation: their media must
	// be moved, not connected.
	moved  bool
	status int
	reason string
	// notes are routing decisions taken while ringing, for the call's
	// trace.
	notes []string
}

// PoolTransferUser is the Refer-To user part that transfers a call to the
// national pool ("sip:pool@<realm>"); the pool's team id works too.
const PoolTransferUser = "pool"

// transferStepBase numbers the routing steps of transfers apart from the
// call's first ringing, so a late answer from a leg of those steps can never
// claim the call.
const transferStepBase = 1000

// handleRefer accepts a transfer from the agent on a call — attended when
// the agent has a consultation with the target (named by Replaces, or the
// colleague of the agent's consultation), else blind — or says why not: 481
// for no such dialog, 403 when the sender is not an agent on a customer's
// call or Replaces names another agent's consultation, 400 for an
// unreadable Refer-To, 404 for an unknown target or consultation, 491 while
// another transfer of the call is in progress.
func (s *Server) handleRefer(req *gosip.Request, tx gosip.ServerTransaction) {
	callID := req.CallID().Value()
	d, ok := s.dialogs.get(callID)
	if !ok {
		s.respond(req, tx, 481)
		return
	}
	leg, ok := d.(*agentLeg)
	if !ok || leg.ownerCall().transfers == nil {
		s.log.Info().Str("call_id", callID).Msg("REFER from a leg that cannot transfer: 403")
		s.respond(req, tx, 403)
		return
	}
	c := leg.ownerCall()
	// The leg's logger was set before the leg entered the dialogs map.
	log := leg.log
	uri, err := referTo(req)
	if err != nil {
		log.Info().Err(err).Msg("REFER refused: 400")
		s.respond(req, tx, 400)
		return
	}
	tr := transferRequest{from: leg, kind: store.TransferBlind, referSeq: req.CSeq().SeqNo, at: time.Now()}
	if replaces, ok := uri.Headers.Get("Replaces"); ok {
		k, found := s.consults.get(replacesCallID(replaces))
		if !found {
			log.Info().Str("replaces", replaces).Msg("REFER replaces no consultation Teamline knows: 404")
			s.respond(req, tx, 404)
			return
		}
		if k.consultBy.ID != leg.agent.ID {
			log.Warn().Str("consult_by", k.consultBy.ID).Msg("REFER replaces another agent's consultation: 403")
			s.respond(req, tx, 403)
			return
		}
		colleague := k.consultLeg.Load().agent
		tr.kind, tr.consult = store.TransferAttended, k
		tr.target = transferTarget{name: colleague.Username, agent: colleague}
	} else {
		target, ok := s.transferTarget(uri.User)
		if !ok || (target.agent != nil && target.agent.ID == leg.agent.ID) {
			log.Info().Str("target", uri.User).Msg("REFER to an unknown target: 404")
			s.respond(req, tx, 404)
			return
		}
		tr.target = target
		if target.agent != nil {
			if k, found := s.consults.between(leg.agent.ID, target.agent.ID); found {
				tr.kind, tr.consult = store.TransferAttended, k
			}
		}
	}
	if !c.transferring.CompareAndSwap(false, true) {
		s.respond(req, tx, 491)
		return
	}
	select {
	case c.transfers <- tr:
	default:
		c.transferring.Store(false)
		s.respond(req, tx, 491)
		return
	}
	res := gosip.NewResponseFromRequest(req, 202, statusText(202), nil)
	res.AppendHeader(s.contactHeader(req.Transport()))
	if err := tx.Respond(res); err != nil {
		log.Debug().Err(err).Msg("202 to REFER not sent")
	}
	log.Info().Str("target", tr.target.name).Str("kind", string(tr.kind)).Msg("agent transfers the call")
}

// referTo reads the REFER's Refer-To URI.
func referTo(req *gosip.Request) (gosip.Uri, error) {
	h := req.GetHeader("Refer-To")
	if h == nil {
		return gosip.Uri{}, errors.New("no Refer-To")
	}
	var uri gosip.Uri
	if _, err := gosip.ParseAddressValue(strings.TrimSpace(h.Value()), &uri, nil); err != nil {
		return gosip.Uri{}, fmt.Errorf("Refer-To %q: %w", h.Value(), err)
	}
	if uri.User == "" {
		return gosip.Uri{}, fmt.Errorf("Refer-To %q names nobody", h.Value())
	}
	return uri, nil
}

// transferTarget resolves a Refer-To user part: the pool, an agent by SIP
// user name or id, or a team by id.
func (s *Server) transferTarget(user string) (transferTarget, bool) {
	snap := s.deps.Roster()
	pool := s.deps.Router().Pool()
	switch {
	case strings.EqualFold(user, PoolTransferUser) || (pool != nil && user == pool.ID):
		if pool == nil {
			return transferTarget{}, false
		}
		return transferTarget{name: user, team: pool}, true
	}
	if a, ok := snap.AgentByUsername(user); ok {
		return transferTarget{name: user, agent: a}, true
	}
	if a, ok := snap.Agent(user); ok {
		return transferTarget{name: user, agent: a}, true
	}
	if t, ok := snap.Team(user); ok {
		return transferTarget{name: user, team: t}, true
	}
	return transferTarget{}, false
}

// ringTransfer rings the target of a transfer until one of its agents
// answers, nobody can, or ctx ends. It runs beside the talk loop, which
// waits for its result before it touches the call's routing again.
func (c *call) ringTransfer(ctx context.Context, tr transferRequest, n int) transferResult {
	c.mu.Lock()
	c.winner, c.settled = nil, false
	c.mu.Unlock()
	c.stepBase = transferStepBase * n
	if tr.target.agent != nil {
		offer, err := c.agentOffer()
		if err != nil {
			return transferResult{status: 500, reason: err.Error()}
		}
		step := c.stepBase
		legs, events := c.startStep(ctx, step, []string{tr.target.agent.ID}, offer, map[string]bool{})
		if len(legs) == 0 {
			return transferResult{status: 480, reason: tr.target.agent.ID + " is not available"}
		}
		ringing := true
		res := c.ringStep(ctx, legs, events, c.s.opts.RingTimeout, nil, &ringing)
		// The call's own plan is gone (answered); what ringing the colleague
		// decides (a ring-out that sends them away) goes to a plan of its own.
		var notes router.Plan
		c.endStep(&notes, legs, res)
		if res.winner != nil {
			return transferResult{winner: res.winner, notes: notes.Trace()}
		}
		status, reason := 480, tr.target.agent.ID+" did not answer"
		for l := range res.ended {
			if l.agent.ID == tr.target.agent.ID && l.failStatus >= 400 {
				status, reason = l.failStatus, fmt.Sprintf("%s answered %d", tr.target.agent.ID, l.failStatus)
			}
		}
		if res.stop {
			reason = res.reason
		}
		return transferResult{status: status, reason: reason, notes: notes.Trace()}
	}
	rc := router.Call{Number: c.e164, Withheld: c.withheld, Customer: c.customer, Team: tr.target.team,
		Reason: "transferred by " + tr.from.agent.ID + " to team " + tr.target.team.ID}
	p := c.s.deps.Router().Plan(rc, c.s.view, time.Now())
	winner, _, reason := c.route(ctx, &p)
	if winner != nil {
		return transferResult{winner: winner}
	}
	return transferResult{status: 480, reason: reason}
}

// agentOffer is the caller's offer anchored at the relay's agent side: what
// every agent leg of the call is offered.
func (c *call) agentOffer() ([]byte, error) {
	source := defaultOffer
	switch {
	case c.callerRTC != nil:
		// The caller is a browser, which speaks PCMU only.
		source = pcmuOffer
	case c.req != nil:
		source = c.req.Body()
	}
	return media.RewriteSDP(source, c.media.LocalB(), sdpSessionID(), 1)
}

// notifyRefer reports a transfer's progress to the agent who asked for it
// (RFC 3515 §2.4.4): a sipfrag with the target's status; final ends the
// implicit subscription.
func (l *agentLeg) notifyRefer(ctx context.Context, referSeq uint32, status int, final bool) error {
	l.mu.Lock()
	if l.hungUp || l.answer == nil {
		l.mu.Unlock()
		return nil
	}
	l.cseq++
	req := newInDialogUAC(gosip.NOTIFY, l.invite, l.answer, l.cseq)
	l.mu.Unlock()
	req.AppendHeader(gosip.NewHeader("Event", fmt.Sprintf("refer;id=%d", referSeq)))
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(gosip.NewHeader("Subscription-State", state))
	req.AppendHeader(gosip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.AppendHeader(l.c.s.contactHeader(l.invite.Transport()))
	req.SetBody([]byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", status, statusText(status))))
	ctx, cancel := context.WithTimeout(ctx, 8*gosip.T1)
	defer cancel()
	res, err := finalResponse(ctx, l.c.s.client, req)
	if err != nil {
		return fmt.Errorf("NOTIFY %d to %s: %w", status, l.agent.ID, err)
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("NOTIFY %d to %s: answered %d", status, l.agent.ID, res.StatusCode)
	}
	return nil
}
