package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/teamline/teamline/callback"
	"github.com/teamline/teamline/media"
	"github.com/teamline/teamline/phone"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
	"github.com/teamline/teamline/store"
)

// A hotline call is one inbound leg (customer via trunk <-> Teamline) and,
// while it rings, one outbound leg per registered contact of every agent
// rung. The INVITE handler goroutine owns the call until the caller
// acknowledges the answer, and a goroutine of the call's own from then on
// (see detach); legs report to the owner through events, and in-dialog
// requests (ACK, BYE) reach it through the dialogs map.

// legEventKind says what happened on an agent leg.
type legEventKind int

const (
	legRinging legEventKind = iota + 1
	legAnswered
	legFailed
)

type legEvent struct {
	kind   legEventKind
	leg    *agentLeg
	status int
	err    error
}

// hangup says which side ended an established call.
type hangup struct {
	by  store.HangupBy
	leg *agentLeg // the agent leg the BYE came on, for agent hangups
}

type call struct {
	s     *Server
	id    string // call record id
	log   zerolog.Logger
	req   *gosip.Request
	tx    gosip.ServerTransaction
	tag   string // Teamline's To tag towards the caller
	trunk Trunk

	display  string
	number   string // E.164, or the raw user part when it does not parse
	e164     string // the normalised number; empty when it did not parse
	withheld bool
	resolved roster.Resolution
	customer *roster.Customer
	team     *roster.Team // the team that takes the call (after routing)

	media *media.Session

	cancelled chan struct{}
	acked     chan struct{}
	hangups   chan hangup

	// cleanup is what the call does when it ends (atEnd, finish, detach);
	// only the goroutine that owns the call touches it.
	cleanup []func()

	cancelOnce sync.Once
	ackOnce    sync.Once

	mu      sync.Mutex
	winner  *agentLeg
	settled bool // no leg may win any more
	step    int  // the step whose legs may win; -1 between steps

	loadState int          // how the call counts in its team's load
	routing   *router.Plan // the routing plan, once made; nil once answered
	routed    *routed      // what the answered call keeps of it
	finished  sync.Once

	answerSDP  []byte // SDP Teamline answered the caller with (for re-INVITEs)
	callbackID string // set on callback calls: sent to the agent

	// Transfers: REFERs accepted for the talk loop (nil on callbacks,
	// which cannot be transferred), whether one is in progress, the agent
	// transferring (sent to the target), and the step numbers in use.
	transfers     chan transferRequest
	transferring  atomic.Bool
	transferredBy string
	stepBase      int
	answered      atomic.Bool

	live liveInfo // what agents' screens show about the call

	// Consultations (an agent calling a colleague): the agent, the
	// customer call it is about (record id, "" for none), the colleague's
	// answered leg, the channel a customer call takes the colleague over
	// by, closed when the consultation ends.
	consultBy   *roster.Agent
	contextCall string
	// callerRTC and callerAnswer: the WebRTC leg that answered a browser
	// calling a colleague, and its answer; nil otherwise.
	callerRTC    *media.WebRTCLeg
	callerAnswer []byte
	consultLeg   atomic.Pointer[agentLeg]
	handovers    chan handover
	consultDone  chan struct{}
	offerPT      uint8 // the G.711 payload type Teamline speaks to the caller in
	byeCSeq      uint32
}

func (s *Server) handleInvite(req *gosip.Request, tx gosip.ServerTransaction) {
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			s.handleReinvite(req, tx)
			return
		}
	}
	// An agent calling a colleague; on one box the agents' phones may
	// share an address with a trunk, so this is told by who calls whom.
	if s.agentToAgent(req) {
		s.handleAgentInvite(req, tx)
		return
	}
	trunk, ok := s.trunkFor(req)
	if !ok {
		s.log.Warn().Str("call_id", req.CallID().Value()).Str("source", req.Source()).
			Msg("INVITE from an address that is not a configured trunk: 403")
		s.respond(req, tx, 403)
		return
	}
	if s.draining.Load() {
		res := gosip.NewResponseFromRequest(req, 503, statusText(503), nil)
		res.AppendHeader(gosip.NewHeader("Retry-After", "30"))
		_ = tx.Respond(res)
		return
	}
	s.calls.Add(1)
	s.active.Add(1)
	c := s.newCall()
	c.req, c.tx, c.trunk = req, tx, trunk
	c.transfers = make(chan transferRequest, 1)
	c.log = s.log.With().Str("call_id", req.CallID().Value()).Str("record", c.id).Logger()
	s.live.add(c.id, c)
	ctx, cancel := context.WithTimeout(s.baseCtx, s.opts.MaxCallDuration)
	c.atEnd(func() {
		cancel()
		s.live.remove(c.id)
		s.active.Add(-1)
		s.calls.Done()
	})
	defer c.finish()
	c.run(ctx)
}

// atEnd registers f to run when the call ends, after what was registered
// later (as a defer would, but it survives detach).
func (c *call) atEnd(f func()) { c.cleanup = append(c.cleanup, f) }

// finish runs what atEnd registered, latest first. After detach there is
// nothing left here: the detached goroutine runs it.
func (c *call) finish() {
	runCleanup(c.cleanup)
	c.cleanup = nil
}

func runCleanup(fns []func()) {
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// detach lets the INVITE handler return while the call goes on: rest, and
// then the call's cleanup, run on a new goroutine. It is called once the
// INVITE transaction needs nothing more (the 200 was acknowledged); sipgo
// ends the transaction when its handler returns. The handler's stack, grown
// deep by the SIP stack and routing, is freed, and the goroutine that stays
// for the talk starts small and stays small: at 1,500 calls the stack an
// established call keeps fell from 16 KB to about 4 KB (README, Performance).
func (c *call) detach(rest func()) {
	cleanup := c.cleanup
	c.cleanup = nil // the handler's finish has nothing left to do
	go func() {
		rest()
		runCleanup(cleanup)
	}()
}

// newCall returns a call with its record id, Teamline's tag and its
// channels; the caller fills in where it comes from.
func (s *Server) newCall() *call {
	return &call{
		s:         s,
		id:        uuid.NewString(),
		tag:       gosip.GenerateTagN(16),
		cancelled: make(chan struct{}),
		acked:     make(chan struct{}),
		hangups:   make(chan hangup, 4),
		step:      -1,
	}
}

// handleReinvite answers a re-INVITE on an established call. An agent's
// leg answers the offer it carries (hold, resume, a new address) with a
// real answer (RFC 3264 section 8): a browser's from its WebRTC peer on
// the same transport, a softphone's with Teamline's relay address, a codec
// the relay passes on and the mirrored direction. Any other re-INVITE (the
// caller's, or one without an offer) gets the SDP Teamline already gave,
// so the media path stays anchored and the call is not dropped. An offer
// that cannot be answered gets 488 and leaves the call as it was (RFC 3261
// section 14.2).
func (s *Server) handleReinvite(req *gosip.Request, tx gosip.ServerTransaction) {
	d, ok := s.dialogs.get(req.CallID().Value())
	if !ok {
		s.respond(req, tx, 481)
		return
	}
	var body []byte
	if r, ok := d.(reofferAnswerer); ok && len(req.Body()) > 0 && sdpContent(req) {
		ctx, cancel := context.WithTimeout(s.baseCtx, 10*time.Second)
		answer, err := r.answerReoffer(ctx, req.Body())
		cancel()
		if err != nil {
			s.log.Warn().Err(err).Str("call_id", req.CallID().Value()).Msg("re-INVITE offer not acceptable: 488")
			s.respond(req, tx, 488)
			return
		}
		body = answer
	} else {
		body = d.currentSDP()
	}
	if body == nil {
		s.respond(req, tx, 488)
		return
	}
	res := gosip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(s.contactHeader(req.Transport()))
	_ = tx.Respond(res)
}

func (c *call) run(ctx context.Context) {
	started := time.Now()
	c.sendProvisional(100)

	if !c.tx.OnCancel(func(*gosip.Request) { c.cancelOnce.Do(func() { close(c.cancelled) }) }) {
		c.log.Debug().Msg("caller cancelled before the call was set up")
		return
	}

	offer, err := c.parseOffer()
	c.identify()
	plan := c.plan(started)
	c.routing = plan
	c.atEnd(c.finishPlan)
	c.s.deps.Calls.Started(store.CallStart{
		ID: c.id, SIPCallID: c.req.CallID().Value(), CallerNumber: c.number,
		CustomerID: c.customerID(), TeamID: c.team.ID, Trunk: c.trunk.Name, At: started,
	})
	if err != nil {
		c.log.Warn().Err(err).Msg("caller SDP not acceptable: 488")
		c.reject(488, store.OutcomeRejected, "sdp: "+err.Error())
		return
	}

	sess, err := c.s.deps.Media.NewSession(c.req.CallID().Value(), c.log)
	if err != nil {
		c.log.Error().Err(err).Msg("no media ports: 503")
		c.reject(503, store.OutcomeRejected, "media: "+err.Error())
		return
	}
	c.media = sess
	c.atEnd(func() { _ = sess.Close() })
	sess.SetRemoteA(offer.RTP)
	c.offerPT = firstG711(offer)

	// Whether the caller has a callback booked is read from the database
	// while the agents ring, so that a slow database never delays them.
	bookedF := make(chan *callback.Callback, 1)
	go func() { bookedF <- c.openCallback(ctx) }()
	winner, outcome, reason := c.route(ctx, plan)
	if winner != nil {
		c.atEnd(func() { c.s.deps.Presence.Release(winner.agent.ID, c.id) })
		c.talk(ctx, winner, bookedF)
		return
	}
	booked := <-bookedF
	if outcome == store.OutcomeUnanswered && ctx.Err() == nil &&
		(plan.Fallback == router.FallbackCallback || booked != nil) {
		if c.offerCallback(ctx, plan, booked, started) {
			return
		}
		if pool := c.poolPlan(time.Now()); pool != nil {
			c.log.Info().Str("pool", pool.Team.ID).Msg("no callback could be booked: ringing the national pool")
			winner, outcome, reason = c.route(ctx, pool)
			for _, line := range pool.Trace() {
				plan.Note("pool: " + line)
			}
		}
	}
	bookedF <- booked
	if winner == nil {
		switch outcome {
		case store.OutcomeAbandoned:
			// sipgo already answered the CANCEL with 200 and the INVITE with 487.
			c.log.Info().Msg("caller hung up while agents rang")
			c.end(outcome, store.HangupCaller, reason, time.Now())
		default:
			c.log.Info().Str("reason", reason).Str("fallback", plan.Fallback.String()).Msg("no agent answered: 480")
			c.reject(480, outcome, reason)
		}
		return
	}
	c.atEnd(func() { c.s.deps.Presence.Release(winner.agent.ID, c.id) })
	c.talk(ctx, winner, bookedF)
}

// firstG711 is the payload type Teamline speaks to the caller in: the
// first of PCMU and PCMA in their offer.
func firstG711(offer media.MediaInfo) uint8 {
	for _, codec := range offer.Codecs {
		if codec.PT == 0 || codec.PT == 8 {
			return codec.PT
		}
	}
	return 0
}

// sdpContent reports whether req's body is SDP: its Content-Type says so,
// or it has none.
func sdpContent(req *gosip.Request) bool {
	ct := req.ContentType()
	return ct == nil || strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp")
}

// parseOffer reads the caller's SDP offer.
func (c *call) parseOffer() (media.MediaInfo, error) {
	if len(c.req.Body()) == 0 {
		return media.MediaInfo{}, errors.New("INVITE without SDP offer")
	}
	if !sdpContent(c.req) {
		return media.MediaInfo{}, fmt.Errorf("content type %q", c.req.ContentType().Value())
	}
	_, info, err := media.ParseSDP(c.req.Body())
	return info, err
}

// identify normalises the caller ID and resolves the customer and team.
func (c *call) identify() {
	display, user := callerID(c.req)
	c.display = display
	snap := c.s.deps.Roster()
	number, err := phone.Normalize(user, c.s.opts.DefaultCountry)
	if err != nil {
		c.number = user
		if c.number == "" {
			c.number = "anonymous"
		}
		c.withheld = errors.Is(err, phone.ErrWithheld)
		c.resolved = snap.Resolve("")
		c.team = c.resolved.Team
		c.log.Info().Str("from", user).Err(err).Msg("caller number not usable")
		return
	}
	c.number, c.e164 = number, number
	c.resolved = snap.Resolve(number)
	c.team, c.customer = c.resolved.Team, c.resolved.Customer
	c.log.Info().Str("from", number).Str("customer", c.customerID()).Msg("hotline call")
}

func (c *call) customerID() string {
	if c.customer == nil {
		return ""
	}
	return c.customer.ID
}

// claim makes leg the winner if no other leg won and ringing is not over.
func (c *call) claim(leg *agentLeg) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.winner != nil || c.settled || leg.step != c.step {
		return false
	}
	c.winner = leg
	return true
}

// talk bridges the caller with the agent who answered until one hangs up.
func (c *call) talk(ctx context.Context, leg *agentLeg, booked <-chan *callback.Callback) {
	// One logger for the answered call and its agent leg: every line names
	// the call, the record, the agent and the leg's Call-ID (a zerolog
	// context holds a 500-byte buffer, kept for the whole call).
	c.log = c.log.With().Str("agent", leg.agent.ID).Str("leg_call_id", leg.invite.CallID().Value()).Logger()
	leg.log = c.log

	c.atEnd(leg.closeMedia)
	if err := leg.connectMedia(c.media); err != nil {
		c.log.Warn().Err(err).Msg("agent answered with unusable SDP")
		leg.hangup()
		c.reject(488, store.OutcomeUnanswered, err.Error())
		return
	}
	body, err := media.RewriteSDP(leg.answer.Body(), c.media.LocalA(), sdpSessionID(), 1)
	if err != nil {
		c.log.Warn().Err(err).Msg("rewrite agent SDP for caller")
		leg.hangup()
		c.reject(488, store.OutcomeUnanswered, "agent sdp: "+err.Error())
		return
	}
	c.answerSDP = body

	inbound := callerEnd{c}
	callerID, legID := c.req.CallID().Value(), leg.invite.CallID().Value()
	c.s.dialogs.put(callerID, inbound)
	c.s.dialogs.put(legID, leg)
	c.atEnd(func() {
		c.s.dialogs.remove(legID)
		c.s.dialogs.remove(callerID)
	})

	select {
	case <-c.cancelled:
		// The caller gave up in the same instant the agent answered.
		leg.hangup()
		c.end(store.OutcomeAbandoned, store.HangupCaller, "caller cancelled as agent answered", time.Now())
		return
	default:
	}
	res := responseWithTag(c.req, 200, "OK", c.tag, body)
	res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(c.s.contactHeader(c.req.Transport()))
	res.AppendHeader(gosip.NewHeader("Server", c.s.opts.UserAgent))
	if err := c.tx.Respond(res); err != nil {
		c.log.Warn().Err(err).Msg("send 200 to caller")
		leg.hangup()
		c.end(store.OutcomeAbandoned, store.HangupSystem, "200 to caller failed", time.Now())
		return
	}
	answeredAt := time.Now()
	c.answered.Store(true)
	c.s.deps.Presence.Answered(leg.agent.ID, c.id)
	if c.customer != nil && c.s.deps.Affinity != nil {
		c.s.deps.Affinity.Record(c.customer.ID, leg.agent.ID, answeredAt)
	}
	c.s.deps.Calls.Answered(c.id, leg.agent.ID, answeredAt)
	go func() { c.markCallbackDone(<-booked) }()
	c.media.Start(ctx)
	c.log.Info().Msg("call answered")

	if !c.waitAck(ctx, res) {
		c.log.Warn().Msg("caller never acknowledged the 200: ending the call")
		leg.hangup()
		c.hangupCaller()
		c.end(store.OutcomeAnswered, store.HangupSystem, "no ACK from caller", time.Now())
		return
	}

	// Established: the call lets go of its routing plan and of the
	// finished INVITE transactions (sipgo drops them TransactionLinger later).
	c.compactRouting()
	c.tx, leg.tx = nil, nil
	c.detach(func() {
		x := talkLoop{c: c, leg: leg}
		by, reason := x.run(ctx)
		st := c.media.Stats()
		c.log.Info().Str("hangup_by", string(by)).Str("reason", reason).Str("last_agent", x.leg.agent.ID).
			Dur("talk", time.Since(answeredAt)).Interface("rtp", st).Msg("call ended")
		c.end(store.OutcomeAnswered, by, reason, time.Now())
		c.s.deps.Presence.Release(x.leg.agent.ID, c.id)
	})
}

// waitAck retransmits the 2xx over UDP until the caller's ACK arrives
// (RFC 3261 §13.3.1.4): T1, doubling to T2, for 64*T1 in all.
func (c *call) waitAck(ctx context.Context, res *gosip.Response) bool {
	reliable := gosip.IsReliable(c.req.Transport())
	interval := gosip.T1
	deadline := time.NewTimer(64 * gosip.T1)
	defer deadline.Stop()
	retrans := time.NewTimer(interval)
	defer retrans.Stop()
	for {
		select {
		case <-c.acked:
			return true
		case h := <-c.hangups:
			// A BYE before the ACK still proves the 200 arrived; hand the
			// hangup on to the talk loop.
			c.hangups <- h
			return true
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		case <-retrans.C:
			if !reliable {
				_ = c.tx.Respond(res)
			}
			interval = min(2*interval, gosip.T2)
			retrans.Reset(interval)
		}
	}
}

// end closes the call record: the decision trace first, then the outcome.
func (c *call) end(outcome store.Outcome, by store.HangupBy, reason string, at time.Time) {
	c.finishPlan()
	c.s.deps.Calls.Ended(c.id, outcome, by, reason, at)
}

// reject answers the caller with a final error status and closes the record.
func (c *call) reject(code int, outcome store.Outcome, reason string) {
	c.respondFinal(code)
	c.end(outcome, store.HangupSystem, reason, time.Now())
}

// respondFinal sends a final error response without closing the record.
func (c *call) respondFinal(code int) {
	res := responseWithTag(c.req, code, statusText(code), c.tag, nil)
	res.AppendHeader(gosip.NewHeader("Server", c.s.opts.UserAgent))
	if err := c.tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Int("status", code).Msg("final response not sent")
	}
}

func (c *call) sendProvisional(code int) {
	if c.tx == nil || c.answered.Load() {
		return // a callback, or a transfer: nobody waits for a provisional response
	}
	res := responseWithTag(c.req, code, statusText(code), c.tag, nil)
	if err := c.tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Int("status", code).Msg("provisional response not sent")
	}
}

// hangupCaller sends BYE to the caller.
func (c *call) hangupCaller() {
	c.mu.Lock()
	c.byeCSeq++
	cseq := c.byeCSeq
	c.mu.Unlock()
	bye := buildByeUAS(c.req, c.tag, cseq)
	ctx, cancel := c.s.requestCtx()
	defer cancel()
	res, err := finalResponse(ctx, c.s.client, bye)
	if err != nil {
		c.log.Warn().Err(err).Msg("BYE to caller failed")
		return
	}
	c.log.Debug().Int("status", res.StatusCode).Msg("BYE to caller answered")
}

// callerEnd receives the in-dialog requests of the inbound leg.
type callerEnd struct{ c *call }

func (e callerEnd) ack(*gosip.Request) { e.c.ackOnce.Do(func() { close(e.c.acked) }) }

func (e callerEnd) byeReceived(*gosip.Request) {
	select {
	case e.c.hangups <- hangup{by: store.HangupCaller}:
	default:
	}
}

func (e callerEnd) currentSDP() []byte { return e.c.answerSDP }

// keepRequest is a client request option that sends the request exactly as
// built, only adding Teamline's Via when it has none.
func keepRequest(c *sipgo.Client, req *gosip.Request) error {
	if req.Via() == nil {
		return sipgo.ClientRequestAddVia(c, req)
	}
	return nil
}

// sdpSessionID returns an o= session id (RFC 4566 §5.2: an NTP-ish number).
func sdpSessionID() uint64 { return uint64(time.Now().UnixNano()) / 1000 }
