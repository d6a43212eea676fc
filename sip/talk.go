package sip

import (
	"context"
	"strconv"
	"time"

	"github.com/teamline/teamline/store"
)

// talkLoop follows an answered call until it ends: hangups from either
// side, media failures, lease renewals, and transfers from agent to agent.
// It runs on the call's goroutine; a transfer's ringing runs beside it and
// reports back, and the loop never ends before that report.
type talkLoop struct {
	c        *call
	leg      *agentLeg // the agent the customer talks to
	original *agentLeg // the agent who answered first

	// The transfer in progress, if any.
	xfer       *transferRequest
	xferDone   chan transferResult
	xferCancel context.CancelFunc
	// transferorGone is set when the transferring agent hung up (or their
	// browser vanished) before the target answered.
	transferorGone bool
	transfers      int
	// legDone is the current leg's mediaDone, nil once handled.
	legDone <-chan struct{}
}

// run returns who ended the call and why.
func (x *talkLoop) run(ctx context.Context) (by store.HangupBy, reason string) {
	c := x.c
	x.original = x.leg
	x.legDone = x.leg.mediaDone()
	defer func() {
		if x.leg != x.original {
			c.s.dialogs.remove(x.leg.invite.CallID().Value())
			x.leg.closeMedia()
		}
	}()
	renew := time.NewTicker(leaseRenewal)
	defer renew.Stop()
	for by == "" {
		select {
		case <-renew.C:
			// Keep the agents' leases alive: a call that vanished without
			// a BYE frees its agent when the lease runs out.
			c.s.deps.Presence.Renew(c.id)
		case tr := <-c.transfers:
			x.startTransfer(ctx, tr, false)
		case r := <-x.xferDone:
			retry, ok := x.finishTransfer(ctx, r)
			switch {
			case retry != nil:
				x.startTransfer(ctx, *retry, true)
			case !ok:
				by, reason = store.HangupSystem, "transfer failed: "+r.reason
				c.hangupCaller()
			}
		case h := <-c.hangups:
			switch {
			case h.by == store.HangupCaller:
				x.abortTransfer()
				x.leg.hangup()
				by, reason = store.HangupCaller, "caller hung up"
			case x.xfer != nil && h.leg == x.leg:
				x.transferorLeft("transferring agent hung up")
			case h.leg != nil && h.leg != x.leg:
				// A BYE from a leg the call already let go of.
			default:
				c.hangupCaller()
				by, reason = store.HangupAgent, "agent hung up"
			}
		case <-x.legDone:
			x.legDone = nil
			if x.xfer != nil {
				if !x.transferorGone {
					x.leg.hangup()
					x.transferorLeft("transferring agent's browser connection lost")
				}
				continue // the transfer decides
			}
			by, reason = store.HangupAgent, "browser connection lost"
			x.leg.hangup()
			c.hangupCaller()
		case <-c.media.Done():
			x.abortTransfer()
			by, reason = store.HangupSystem, "no RTP"
			if err := c.media.Err(); err != nil {
				reason = "media: " + err.Error()
			}
			x.leg.hangup()
			c.hangupCaller()
		case <-ctx.Done():
			x.abortTransfer()
			by, reason = store.HangupSystem, "maximum call duration or shutdown"
			x.leg.hangup()
			c.hangupCaller()
		}
	}
	return by, reason
}

// startTransfer tells the transferring agent the target is being rung,
// plays ringback to the customer and rings the target.
// A retry (after a colleague did not answer a transfer whose agent had
// left) keeps knowing that agent is gone.
func (x *talkLoop) startTransfer(ctx context.Context, tr transferRequest, retry bool) {
	c := x.c
	x.transfers++
	x.xfer, x.transferorGone = &tr, retry && x.transferorGone
	c.transferring.Store(true)
	c.transferredBy = tr.from.agent.ID
	c.note("transfer " + strconv.Itoa(x.transfers) + ": " + tr.from.agent.ID + " transfers the call (" +
		string(tr.kind) + ") to " + tr.target.name)
	c.publishLines(c.traceLines())
	c.log.Info().Str("from_agent", tr.from.agent.ID).Str("target", tr.target.name).Str("kind", string(tr.kind)).
		Msg("transfer: ringing the target")

	xctx, cancel := context.WithCancel(ctx)
	x.xferCancel = cancel
	go func() {
		if err := tr.from.notifyRefer(xctx, tr.referSeq, 100, false); err != nil {
			c.log.Debug().Err(err).Msg("transfer progress not notified")
		}
	}()
	done := make(chan transferResult, 1)
	x.xferDone = done
	if tr.consult != nil {
		// Attended: the colleague is on the line already.
		go func() { done <- c.takeOver(xctx, tr.consult) }()
		return
	}
	// The customer hears ringback while the target's phone rings.
	go func() {
		for xctx.Err() == nil {
			if err := c.media.PlayA(xctx, ringback, c.offerPT); err != nil {
				return
			}
		}
	}()
	n := x.transfers
	go func() { done <- c.ringTransfer(xctx, tr, n) }()
}

// transferorLeft notes that the transferring agent is gone: the customer
// waits for the target, and the agent is free for wrap-up.
func (x *talkLoop) transferorLeft(why string) {
	x.transferorGone = true
	x.leg.remoteHungUp()
	x.c.s.deps.Presence.Release(x.leg.agent.ID, x.c.id)
	x.c.log.Info().Str("agent", x.leg.agent.ID).Msg(why + ": the customer waits for the transfer")
}

// abortTransfer stops a transfer in progress and waits for its ringing to
// end; a target that answered in that instant is hung up.
func (x *talkLoop) abortTransfer() {
	if x.xfer == nil {
		return
	}
	x.xferCancel()
	r := <-x.xferDone
	if r.winner != nil {
		r.winner.hangup()
		r.winner.closeMedia()
		x.c.s.deps.Presence.Release(r.winner.agent.ID, x.c.id)
	}
	x.record(r, "call ended during the transfer")
	x.clearTransfer()
}

func (x *talkLoop) clearTransfer() {
	if x.xferCancel != nil {
		x.xferCancel()
	}
	x.xfer, x.xferDone, x.xferCancel = nil, nil, nil
	x.c.transferredBy = ""
	x.c.transferring.Store(false)
}

// finishTransfer moves the customer to the target who answered, or tells
// the transferring agent it failed. When a colleague did not answer and the
// transferring agent has already left, it returns a transfer to that
// colleague's team to try next; it reports false when the call cannot go on.
func (x *talkLoop) finishTransfer(ctx context.Context, r transferResult) (retry *transferRequest, ok bool) {
	c, tr := x.c, *x.xfer
	defer x.clearTransfer()
	for _, line := range r.notes {
		c.note(line)
	}
	x.xferCancel() // stops the ringback
	from := x.leg
	if r.winner == nil {
		c.note("transfer " + strconv.Itoa(x.transfers) + " failed: " + r.reason)
		c.log.Info().Str("target", tr.target.name).Str("reason", r.reason).Msg("transfer failed")
		x.record(r, r.reason)
		if x.transferorGone {
			if tr.target.agent == nil {
				return nil, false
			}
			team, found := c.s.deps.Roster().Team(tr.target.agent.TeamID)
			if !found {
				return nil, false
			}
			next := tr
			next.target = transferTarget{name: team.ID, team: team}
			next.at = time.Now()
			return &next, true
		}
		go func() {
			if err := from.notifyRefer(ctx, tr.referSeq, max(r.status, 400), true); err != nil {
				c.log.Debug().Err(err).Msg("transfer failure not notified")
			}
		}()
		return nil, true
	}
	to := r.winner
	var err error
	if r.moved {
		err = to.moveMedia(ctx, c)
	} else {
		err = to.connectMedia(c.media)
	}
	if err != nil {
		c.log.Warn().Err(err).Str("agent", to.agent.ID).Msg("transfer target answered with unusable SDP")
		to.hangup()
		to.closeMedia()
		c.s.deps.Presence.Release(to.agent.ID, c.id)
		x.record(transferResult{status: 488, reason: err.Error()}, "target sdp: "+err.Error())
		if x.transferorGone {
			return nil, false
		}
		go func() { _ = from.notifyRefer(ctx, tr.referSeq, 488, true) }()
		return nil, true
	}
	c.s.dialogs.put(to.invite.CallID().Value(), to)
	c.s.dialogs.remove(from.invite.CallID().Value())
	at := time.Now()
	c.s.deps.Presence.Answered(to.agent.ID, c.id)
	c.s.deps.Presence.Release(from.agent.ID, c.id)
	if c.customer != nil && c.s.deps.Affinity != nil {
		c.s.deps.Affinity.Record(c.customer.ID, to.agent.ID, at)
	}
	x.leg = to
	x.legDone = to.mediaDone()
	c.note("transfer " + strconv.Itoa(x.transfers) + ": " + to.agent.ID + " took the call from " + from.agent.ID)
	c.publishLines(c.traceLines())
	x.record(r, "")
	c.log.Info().Str("from_agent", from.agent.ID).Str("to_agent", to.agent.ID).Msg("transfer completed")
	// The transferring agent's media stops now (a browser's WebRTC leg
	// would go on); they learn the outcome, then their leg ends.
	from.closeMedia()
	go func() {
		if err := from.notifyRefer(context.WithoutCancel(ctx), tr.referSeq, 200, true); err != nil {
			c.log.Debug().Err(err).Msg("transfer success not notified")
		}
		from.hangup()
	}()
	return nil, true
}

// record writes the transfer into the call record.
func (x *talkLoop) record(r transferResult, detail string) {
	tr := x.xfer
	t := store.Transfer{CallID: x.c.id, FromAgent: tr.from.agent.ID, Target: tr.target.name, Kind: tr.kind,
		Detail: detail, RequestedAt: tr.at, EndedAt: time.Now()}
	if r.winner != nil && detail == "" {
		t.ToAgent, t.Completed = r.winner.agent.ID, true
	}
	x.c.s.deps.Calls.Transferred(t)
}
