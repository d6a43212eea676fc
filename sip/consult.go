package sip

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/teamline/teamline/media"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

// An agent may call a colleague through Teamline: to ask something, or to
// talk before handing a customer over (a consultation, RFC 5589's attended
// transfer). The colleague's phone shows the customer the calling agent is
// talking to, so the consultation already carries the story. When the agent
// then transfers the customer's call to that colleague — REFER with Replaces
// naming the consultation (JsSIP, most desk phones), or a plain REFER to the
// colleague while the consultation is up (baresip) — Teamline moves the
// colleague's leg from the consultation to the customer: the colleague
// keeps talking without ringing again, the agent's two dialogs end.
// Consultations are not hotline calls and get no call record of their own;
// the customer's call records the attended transfer.

// consults indexes the answered consultations by the Call-ID of the calling
// agent's dialog, which a REFER's Replaces names.
type consults struct{ callIndex }

// between returns an answered consultation from agent to colleague.
func (cs *consults) between(agentID, colleagueID string) (*call, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	for _, c := range cs.m {
		if l := c.consultLeg.Load(); l != nil && c.consultBy.ID == agentID && l.agent.ID == colleagueID {
			return c, true
		}
	}
	return nil, false
}

// handover is a customer call's request for the colleague of a
// consultation: the consultation answers with the colleague's leg, which
// from then on belongs to the customer's call.
type handover struct {
	to    *call
	reply chan *agentLeg
}

// agentToAgent reports whether an INVITE claims to come from an agent (the
// From user is an agent's SIP user name) and to go to one (the Request-URI
// names an agent): a call between colleagues, never a hotline call.
func (s *Server) agentToAgent(req *gosip.Request) bool {
	from := req.From()
	if from == nil {
		return false
	}
	if _, ok := s.deps.Roster().AgentByUsername(from.Address.User); !ok {
		return false
	}
	t, ok := s.transferTarget(req.Recipient.User)
	return ok && t.agent != nil
}

// handleAgentInvite takes an INVITE between colleagues, authenticated with
// the calling agent's digest credentials like a REGISTER (401 until it is).
func (s *Server) handleAgentInvite(req *gosip.Request, tx gosip.ServerTransaction) {
	auth := s.registrar.Challenger()
	res := auth.Verify(req)
	if !res.OK() {
		if err := auth.Challenge(req, tx, res.Stale()); err != nil {
			s.log.Debug().Err(err).Str("call_id", req.CallID().Value()).Msg("challenge an agent's INVITE")
		}
		return
	}
	caller, ok := s.deps.Roster().Agent(res.Credential.AgentID)
	if !ok {
		s.respond(req, tx, 403)
		return
	}
	s.consult(req, tx, caller)
}

// consult runs one agent's call to a colleague on the INVITE's goroutine.
func (s *Server) consult(req *gosip.Request, tx gosip.ServerTransaction, caller *roster.Agent) {
	log := s.log.With().Str("call_id", req.CallID().Value()).Str("consult_by", caller.ID).Logger()
	if s.draining.Load() {
		s.respond(req, tx, 503)
		return
	}
	target, ok := s.transferTarget(req.Recipient.User)
	if !ok || target.agent == nil || target.agent.ID == caller.ID {
		log.Info().Str("to", req.Recipient.User).Msg("agent called nobody Teamline knows: 404")
		s.respond(req, tx, 404)
		return
	}
	s.calls.Add(1)
	defer s.calls.Done()

	c := s.newCall()
	c.req, c.tx = req, tx
	c.consultBy = caller
	c.handovers = make(chan handover)
	c.consultDone = make(chan struct{})
	c.log = log.With().Str("record", c.id).Str("consult_to", target.agent.ID).Logger()
	c.team, _ = s.deps.Roster().Team(caller.TeamID)
	c.number, c.display = caller.Username, caller.Name
	// The customer the agent is talking to, if any: the colleague's phone
	// shows them, and the consultation links to their call.
	if st := s.deps.Presence.Status(caller.ID); st.CallID != "" {
		if parent, ok := s.LiveCall(st.CallID); ok {
			c.contextCall = parent.ID
			c.transferredBy = caller.ID
			c.number = parent.Number
			snap := s.deps.Roster()
			c.customer, _ = snap.Customer(parent.Number)
			if t, ok := snap.Team(parent.TeamID); ok {
				c.team = t
			}
		}
	}
	if c.team == nil {
		c.team = &roster.Team{ID: caller.TeamID}
	}
	ctx, cancel := context.WithTimeout(s.baseCtx, s.opts.MaxCallDuration)
	defer cancel()
	c.runConsult(ctx, target.agent)
}

// runConsult rings the colleague and bridges the two agents until one hangs
// up or a customer's call takes the colleague over.
func (c *call) runConsult(ctx context.Context, colleague *roster.Agent) {
	defer close(c.consultDone)
	c.sendProvisional(100)
	if !c.tx.OnCancel(func(*gosip.Request) { c.cancelOnce.Do(func() { close(c.cancelled) }) }) {
		return
	}
	sess, err := c.s.deps.Media.NewSession(c.req.CallID().Value(), c.log)
	if err != nil {
		c.log.Error().Err(err).Msg("no media ports: 503")
		c.respondFinal(503)
		return
	}
	c.media = sess
	defer func() { _ = sess.Close() }()
	if isBrowserTransport(c.req.Transport()) {
		// A browser calls with a WebRTC offer: Teamline answers it from a
		// WebRTC leg of its own (complete gathering, PCMU) bridged to the
		// relay's side A.
		rtc, err := media.NewWebRTCLeg(ctx, c.s.opts.WebRTC, c.log)
		if err != nil {
			c.log.Error().Err(err).Msg("no webrtc leg for the browser: 503")
			c.respondFinal(503)
			return
		}
		defer func() { _ = rtc.Close() }()
		if c.callerAnswer, err = rtc.Answer(ctx, c.req.Body()); err != nil {
			c.log.Info().Err(err).Msg("browser's offer not acceptable: 488")
			c.respondFinal(488)
			return
		}
		c.callerRTC = rtc
		sess.SetRemoteA(rtc.RTPAddr())
		sess.SetRemoteRTCPA(netip.AddrPort{})
		rtc.Attach(sess.LocalA())
		c.offerPT = media.PayloadPCMU
	} else {
		offer, err := c.parseOffer()
		if err != nil {
			c.log.Info().Err(err).Msg("agent's SDP not acceptable: 488")
			c.respondFinal(488)
			return
		}
		sess.SetRemoteA(offer.RTP)
		c.offerPT = firstG711(offer)
	}

	toColleague, err := c.agentOffer()
	if err != nil {
		c.respondFinal(500)
		return
	}
	legs, events := c.startStep(ctx, 0, []string{colleague.ID}, toColleague, map[string]bool{})
	if len(legs) == 0 {
		c.log.Info().Msg("colleague not available: 486")
		c.respondFinal(486)
		return
	}
	ringCap := time.NewTimer(c.s.opts.RingTimeout)
	defer ringCap.Stop()
	ringing := false
	res := c.ringStep(ctx, legs, events, c.s.opts.RingTimeout, ringCap.C, &ringing)
	for _, l := range legs {
		if l != res.winner {
			c.s.deps.Presence.Release(l.agent.ID, c.id)
		}
	}
	if res.winner == nil {
		if res.outcome == store.OutcomeAbandoned {
			return // sipgo answered the CANCEL and the INVITE
		}
		status := 480
		for l := range res.ended {
			if l.failStatus == 486 || l.failStatus == 603 {
				status = 486
			}
		}
		c.log.Info().Int("status", status).Str("reason", res.reason).Msg("colleague did not answer")
		c.respondFinal(status)
		return
	}
	leg := res.winner
	defer c.s.deps.Presence.Release(leg.agent.ID, c.id) // changes nothing once handed over
	c.consultTalk(ctx, leg)
}

// consultTalk bridges the agent with the colleague who answered.
func (c *call) consultTalk(ctx context.Context, leg *agentLeg) {
	handedOver := false
	defer func() {
		if !handedOver {
			leg.closeMedia()
		}
	}()
	if err := leg.connectMedia(c.media); err != nil {
		c.log.Warn().Err(err).Msg("colleague answered with unusable SDP")
		leg.hangup()
		c.respondFinal(488)
		return
	}
	body := c.callerAnswer
	if body == nil {
		var err error
		if body, err = media.RewriteSDP(leg.answer.Body(), c.media.LocalA(), sdpSessionID(), 1); err != nil {
			leg.hangup()
			c.respondFinal(488)
			return
		}
	}
	c.answerSDP = body
	callerID, legID := c.req.CallID().Value(), leg.invite.CallID().Value()
	c.s.dialogs.put(callerID, callerEnd{c})
	defer c.s.dialogs.remove(callerID)
	c.s.dialogs.put(legID, leg)
	defer func() {
		if !handedOver {
			c.s.dialogs.remove(legID)
		}
	}()
	res := responseWithTag(c.req, 200, "OK", c.tag, body)
	res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(c.s.contactHeader(c.req.Transport()))
	if err := c.tx.Respond(res); err != nil {
		leg.hangup()
		return
	}
	c.answered.Store(true)
	c.s.deps.Presence.Answered(leg.agent.ID, c.id)
	c.media.Start(ctx)
	if !c.waitAck(ctx, res) {
		leg.hangup()
		c.hangupCaller()
		return
	}
	c.consultLeg.Store(leg)
	c.s.consults.add(callerID, c)
	defer c.s.consults.remove(callerID)
	c.log.Info().Msg("consultation answered")

	var callerGone <-chan struct{} // a browser caller's WebRTC leg ending
	if c.callerRTC != nil {
		callerGone = c.callerRTC.Done()
	}
	renew := time.NewTicker(leaseRenewal)
	defer renew.Stop()
	for {
		select {
		case <-renew.C:
			c.s.deps.Presence.Renew(c.id)
		case h := <-c.hangups:
			if h.by == store.HangupCaller {
				leg.hangup()
			} else {
				c.hangupCaller()
			}
			c.log.Info().Str("hangup_by", string(h.by)).Msg("consultation ended")
			return
		case <-leg.mediaDone():
			leg.hangup()
			c.hangupCaller()
			return
		case <-callerGone:
			// The calling agent's browser went away.
			leg.hangup()
			c.hangupCaller()
			return
		case <-c.media.Done():
			leg.hangup()
			c.hangupCaller()
			return
		case <-ctx.Done():
			leg.hangup()
			c.hangupCaller()
			return
		case h := <-c.handovers:
			// The colleague now talks to the customer; the agent's
			// consultation ends.
			handedOver = true
			leg.owner.Store(h.to)
			h.reply <- leg
			c.log.Info().Str("customer_call", h.to.id).Msg("consultation handed over to the customer's call")
			c.hangupCaller()
			return
		}
	}
}

// takeOver asks consultation k for its colleague's leg, for an attended
// transfer of c, and moves the colleague's hold to c.
func (c *call) takeOver(ctx context.Context, k *call) transferResult {
	h := handover{to: c, reply: make(chan *agentLeg, 1)}
	select {
	case k.handovers <- h:
	case <-k.consultDone:
		return transferResult{status: 481, reason: "the consultation ended before the transfer"}
	case <-ctx.Done():
		return transferResult{status: 487, reason: "call ended during the transfer"}
	}
	leg := <-h.reply
	if !c.s.deps.Presence.Handover(leg.agent.ID, k.id, c.id) {
		c.log.Warn().Str("agent", leg.agent.ID).Msg("attended transfer: the colleague's hold was not the consultation's")
	}
	return transferResult{winner: leg, moved: true}
}

// moveMedia points the colleague of a finished consultation at c's relay:
// a browser's WebRTC leg is re-attached inside Teamline; a softphone gets a
// re-INVITE with c's relay address and answers with its own.
func (l *agentLeg) moveMedia(ctx context.Context, c *call) error {
	if l.webrtc != nil {
		c.media.SetRemoteB(l.webrtc.RTPAddr())
		c.media.SetRemoteRTCPB(netip.AddrPort{})
		l.webrtc.Attach(c.media.LocalB())
		return nil
	}
	offer, err := c.agentOffer()
	if err != nil {
		return err
	}
	res, err := l.reinvite(ctx, offer, c.s.contactHeader(l.invite.Transport()))
	if err != nil {
		return err
	}
	_, answer, err := media.ParseSDP(res.Body())
	if err != nil {
		return fmt.Errorf("colleague's answer to the re-INVITE: %w", err)
	}
	c.media.SetRemoteB(answer.RTP)
	l.mu.Lock()
	l.offer = offer
	l.mu.Unlock()
	return nil
}

// reinvite sends a re-INVITE with a new offer on the dialog and ACKs its
// 2xx (RFC 3261 §14.1).
func (d *uacDialog) reinvite(ctx context.Context, offer []byte, contact gosip.Header) (*gosip.Response, error) {
	d.mu.Lock()
	if d.hungUp || d.answer == nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("re-INVITE: the dialog has ended")
	}
	d.cseq++
	req := newInDialogUAC(gosip.INVITE, d.invite, d.answer, d.cseq)
	d.mu.Unlock()
	req.AppendHeader(contact)
	req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	tx, err := d.s.client.TransactionRequest(ctx, req, keepRequest)
	if err != nil {
		return nil, fmt.Errorf("re-INVITE: %w", err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				continue
			case res.IsSuccess():
				if err := d.s.client.WriteRequest(buildAck(req, res), keepRequest); err != nil {
					return nil, fmt.Errorf("ACK to re-INVITE: %w", err)
				}
				return res, nil
			default:
				return nil, fmt.Errorf("re-INVITE answered %d", res.StatusCode)
			}
		case <-tx.Done():
			return nil, fmt.Errorf("re-INVITE: %w", tx.Err())
		case <-ctx.Done():
			return nil, fmt.Errorf("re-INVITE: %w", ctx.Err())
		}
	}
}

// replacesCallID reads the Call-ID a Refer-To's Replaces header names
// ("callid;to-tag=...;from-tag=...", RFC 3891), URL-decoded.
func replacesCallID(v string) string {
	if u, err := url.PathUnescape(v); err == nil { // not QueryUnescape: a "+" stays a "+"
		v = u
	}
	id, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(id)
}
