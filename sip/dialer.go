package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/teamline/teamline/callback"
	"github.com/teamline/teamline/media"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

// A callback is dialled agent first: the routing plan picks the agent (the
// customer's last agent first), the agent's phone rings with the customer's
// context and X-Teamline-Callback, and only when the agent has answered
// does Teamline call the customer through the trunk and bridge the two. The
// customer is never put on hold by the callback.

// customerRingTime is how long the customer's phone rings before the
// attempt counts as not answered.
const customerRingTime = 45 * time.Second

// Dial implements callback.Dialer. It returns once the attempt has an
// outcome; an answered callback goes on as a call of its own.
func (s *Server) Dial(ctx context.Context, req callback.DialRequest) (callback.AttemptResult, error) {
	cb := req.Callback
	snap := s.deps.Roster()
	team, ok := snap.Team(cb.TeamID)
	if !ok {
		return callback.AttemptResult{}, fmt.Errorf("dial callback %s: unknown team %q", cb.ID, cb.TeamID)
	}
	if s.draining.Load() {
		return callback.AttemptResult{Outcome: callback.OutcomeNoAgent, Detail: "server draining"}, nil
	}
	s.calls.Add(1)
	s.active.Add(1)
	c := s.newCall()
	c.number, c.e164, c.callbackID = cb.Number, cb.Number, cb.ID
	c.customer, _ = snap.Customer(cb.Number)
	c.log = s.log.With().Str("callback", cb.ID).Int64("attempt", req.AttemptID).Str("record", c.id).Logger()
	s.live.add(c.id, c)
	c.resolved = roster.Resolution{Team: team, Customer: c.customer, Reason: "callback " + cb.ID + " for team " + team.ID}
	if req.Overflow {
		if pool := s.deps.Router().Pool(); pool != nil {
			c.resolved = roster.Resolution{Team: pool, Customer: c.customer,
				Reason: "callback " + cb.ID + ": nobody of team " + team.ID + " free for too long: national pool"}
		}
	}
	started := time.Now()
	plan := c.plan(started)
	c.routing = plan
	s.deps.Calls.Started(store.CallStart{ID: c.id, SIPCallID: "callback-" + cb.ID + "-" + strconv.FormatInt(req.AttemptID, 10),
		CallerNumber: cb.Number, CustomerID: c.customerID(), TeamID: c.team.ID, Trunk: "callback", At: started})

	res, bridged := s.dialAgentFirst(ctx, c)
	if !bridged {
		c.end(store.OutcomeUnanswered, store.HangupSystem, "callback attempt: "+string(res.Outcome)+" "+res.Detail, time.Now())
		s.active.Add(-1)
		s.calls.Done()
		s.live.remove(c.id)
	}
	c.log.Info().Str("outcome", string(res.Outcome)).Int("sip_status", res.SIPStatus).Str("agent", res.AgentID).Msg("callback attempt")
	return res, nil
}

// dialAgentFirst rings agents by the plan, then calls the customer. When it
// reports bridged, the call goes on in its own goroutine, which releases
// the call's resources when it ends.
func (s *Server) dialAgentFirst(ctx context.Context, c *call) (callback.AttemptResult, bool) {
	sess, err := s.deps.Media.NewSession(c.id, c.log)
	if err != nil {
		return callback.AttemptResult{Outcome: callback.OutcomeFailed, Detail: "media: " + err.Error()}, false
	}
	c.media = sess
	// The call outlives the job that dials it; shutdown still ends it.
	callCtx, cancel := context.WithTimeout(s.baseCtx, s.opts.MaxCallDuration)
	agent, _, reason := c.route(callCtx, c.routing)
	if agent == nil {
		cancel()
		_ = sess.Close()
		return callback.AttemptResult{Outcome: callback.OutcomeNoAgent, Detail: reason}, false
	}
	release := func() { s.deps.Presence.Release(agent.agent.ID, c.id); agent.closeMedia() }
	if err := agent.connectMedia(sess); err != nil {
		agent.hangup()
		release()
		cancel()
		_ = sess.Close()
		return callback.AttemptResult{Outcome: callback.OutcomeFailed, AgentID: agent.agent.ID, Detail: err.Error()}, false
	}
	agentPT := uint8(0) // browsers speak PCMU only
	if agent.webrtc == nil {
		if _, answer, err := media.ParseSDP(agent.answer.Body()); err == nil {
			agentPT = firstG711(answer)
		}
	}
	s.dialogs.put(agent.invite.CallID().Value(), agent)
	s.deps.Presence.Answered(agent.agent.ID, c.id)
	c.log = c.log.With().Str("agent", agent.agent.ID).Logger()
	c.log.Info().Msg("agent took the callback: calling the customer")

	// The agent hears ringback while the customer's phone rings.
	ringCtx, stopRinging := context.WithCancel(callCtx)
	ringDone := make(chan struct{})
	go func() {
		defer close(ringDone)
		for ringCtx.Err() == nil {
			if err := sess.PlayB(ringCtx, ringback, agentPT); err != nil {
				return
			}
		}
	}()
	cust, status, err := s.callCustomer(ctx, c)
	stopRinging()
	<-ringDone
	if err != nil || cust == nil {
		s.dialogs.remove(agent.invite.CallID().Value())
		agent.hangup()
		release()
		cancel()
		_ = sess.Close()
		out := callback.OutcomeFailed
		switch {
		case status == 486 || status == 600 || status == 603:
			out = callback.OutcomeBusy
		case status == 408 || status == 480 || status == 487 || errors.Is(err, errNoAnswer):
			out = callback.OutcomeNoAnswer
		}
		detail := ""
		if err != nil {
			detail = err.Error()
		}
		return callback.AttemptResult{Outcome: out, AgentID: agent.agent.ID, SIPStatus: status, Detail: detail}, false
	}
	answeredAt := time.Now()
	if c.customer != nil && s.deps.Affinity != nil {
		s.deps.Affinity.Record(c.customer.ID, agent.agent.ID, answeredAt)
	}
	s.deps.Calls.Answered(c.id, agent.agent.ID, answeredAt)
	sess.Start(callCtx)
	go func() {
		defer s.calls.Done()
		defer s.active.Add(-1)
		defer s.live.remove(c.id)
		defer cancel()
		defer func() { _ = sess.Close() }()
		defer release()
		defer s.dialogs.remove(agent.invite.CallID().Value())
		defer s.dialogs.remove(cust.invite.CallID().Value())
		by, why := c.bridge(callCtx, agent, cust)
		c.log.Info().Str("hangup_by", string(by)).Str("reason", why).Dur("talk", time.Since(answeredAt)).Msg("callback call ended")
		c.end(store.OutcomeAnswered, by, why, time.Now())
	}()
	return callback.AttemptResult{Outcome: callback.OutcomeAnswered, AgentID: agent.agent.ID, SIPStatus: 200}, true
}

// ringback is one cadence of the ringback tone agents hear while a
// callback's customer is called.
var ringback = media.Ringback()

// errNoAnswer says the customer's phone rang out.
var errNoAnswer = errors.New("customer did not answer")

// customerLeg is Teamline's call to the customer through the trunk.
type customerLeg struct {
	uacDialog
	c *call
}

// callCustomer calls the customer through the first trunk and waits for an
// answer. It returns the answered leg, or the final status.
func (s *Server) callCustomer(ctx context.Context, c *call) (*customerLeg, int, error) {
	if len(s.opts.Trunks) == 0 || s.opts.Trunks[0].Outbound == "" {
		// Callbacks go out through the first trunk.
		return nil, 0, errors.New("no trunk to call customers through")
	}
	trunk := s.opts.Trunks[0]
	host, portStr, err := net.SplitHostPort(trunk.Outbound)
	if err != nil {
		return nil, 0, fmt.Errorf("trunk %s outbound %q: %w", trunk.Name, trunk.Outbound, err)
	}
	port, _ := strconv.Atoi(portStr)
	offer, err := media.RewriteSDP(defaultOffer, c.media.LocalA(), sdpSessionID(), 1)
	if err != nil {
		return nil, 0, fmt.Errorf("offer to the customer: %w", err)
	}
	req := s.newInvite(gosip.Uri{Scheme: "sip", User: c.e164, Host: host, Port: port}, "UDP",
		gosip.Uri{Scheme: "sip", User: s.opts.CallbackCallerID, Host: s.opts.Realm},
		gosip.Uri{Scheme: "sip", User: c.e164, Host: host}, c.team.Name, "", offer)

	leg := &customerLeg{uacDialog: uacDialog{s: s, invite: req, cseq: 1}, c: c}
	tx, err := s.client.TransactionRequest(ctx, req, keepRequest)
	if err != nil {
		return nil, 0, fmt.Errorf("invite customer: %w", err)
	}
	timer := time.NewTimer(customerRingTime)
	defer timer.Stop()
	provisional, cancelled := false, false
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				if res.StatusCode > 100 {
					provisional = true
				}
				if cancelled {
					s.sendCancel(leg.invite)
				}
			case res.IsSuccess():
				ack := buildAck(req, res)
				_ = s.client.WriteRequest(ack, keepRequest)
				tx.OnRetransmission(func(*gosip.Response) { _ = s.client.WriteRequest(ack, keepRequest) })
				leg.answered(res)
				if cancelled {
					leg.hangup()
					return nil, 487, errNoAnswer
				}
				_, info, err := media.ParseSDP(res.Body())
				if err != nil {
					leg.hangup()
					return nil, res.StatusCode, fmt.Errorf("customer sdp: %w", err)
				}
				c.media.SetRemoteA(info.RTP)
				s.dialogs.put(req.CallID().Value(), leg)
				return leg, res.StatusCode, nil
			default:
				if cancelled {
					return nil, res.StatusCode, errNoAnswer
				}
				return nil, res.StatusCode, nil
			}
		case <-timer.C:
			if !cancelled {
				cancelled = true
				if provisional {
					s.sendCancel(leg.invite)
				}
			}
		case <-tx.Done():
			if cancelled {
				return nil, 0, errNoAnswer
			}
			return nil, 0, fmt.Errorf("customer leg: %w", tx.Err())
		}
	}
}

func (s *Server) sendCancel(invite *gosip.Request) {
	go func() {
		ctx, cancel := s.requestCtx()
		defer cancel()
		_, _ = finalResponse(ctx, s.client, buildCancel(invite))
	}()
}

// hangup sends BYE to the customer (once).
func (l *customerLeg) hangup() {
	if _, _, err := l.bye(); err != nil {
		l.c.log.Warn().Err(err).Msg("BYE to the customer failed")
	}
}

// ack implements dialogEnd.
func (l *customerLeg) ack(*gosip.Request) {}

// byeReceived implements dialogEnd: the customer hung up.
func (l *customerLeg) byeReceived(*gosip.Request) {
	l.remoteHungUp()
	select {
	case l.c.hangups <- hangup{by: store.HangupCaller}:
	default:
	}
}

// currentSDP implements dialogEnd.
func (l *customerLeg) currentSDP() []byte { return l.invite.Body() }

// bridge keeps a callback call up until either side hangs up.
func (c *call) bridge(ctx context.Context, agent *agentLeg, cust *customerLeg) (store.HangupBy, string) {
	renew := time.NewTicker(leaseRenewal)
	defer renew.Stop()
	for {
		select {
		case <-renew.C:
			c.s.deps.Presence.Renew(c.id)
		case h := <-c.hangups:
			if h.by == store.HangupCaller {
				agent.hangup()
				return store.HangupCaller, "customer hung up"
			}
			cust.hangup()
			return store.HangupAgent, "agent hung up"
		case <-agent.mediaDone():
			cust.hangup()
			return store.HangupAgent, "browser connection lost"
		case <-c.media.Done():
			agent.hangup()
			cust.hangup()
			return store.HangupSystem, "no RTP"
		case <-ctx.Done():
			agent.hangup()
			cust.hangup()
			return store.HangupSystem, "maximum call duration or shutdown"
		}
	}
}
