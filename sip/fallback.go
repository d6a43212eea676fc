package sip

import (
	"context"
	"errors"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/teamline/teamline/callback"
	"github.com/teamline/teamline/media"
	"github.com/teamline/teamline/router"
	"github.com/teamline/teamline/store"
)

// When nobody of the team can take a call, Teamline books a callback slot,
// and only once the booking is committed answers the caller, says the time
// in one sentence and hangs up. A caller who already has a callback booked
// is told its time. When no slot can be booked the call goes to the
// national pool instead of failing.

// Callbacks books callbacks for callers nobody could take; callback.Service
// satisfies it.
type Callbacks interface {
	BookEarliest(ctx context.Context, r callback.Request) (callback.Callback, error)
	OpenCallback(ctx context.Context, number string) (callback.Callback, error)
	MarkDone(ctx context.Context, id string) (callback.Callback, error)
}

// Announcer composes the sentences the caller hears; media.Prompts
// satisfies it.
type Announcer interface {
	CallbackBooked(lang string, now, slot time.Time) ([]byte, error)
	CallbackAlreadyBooked(lang string, now, slot time.Time) ([]byte, error)
}

// callbackTimeout bounds a booking or lookup on the call path: a slow
// database must not keep a caller in silence.
const callbackTimeout = 3 * time.Second

// noCallbackTTL is how long "this number has no open callback" is
// believed without asking the database again. Most callers have none, and
// at a thousand calls a second the lookup was a noticeable share of a core.
// A booking made in this process clears the entry at once; one made by
// another process is seen within the TTL.
const noCallbackTTL = 10 * time.Second

// noCallbacks remembers numbers recently found to have no open callback.
type noCallbacks struct {
	mu      sync.Mutex
	until   map[string]time.Time
	checked time.Time
}

func (n *noCallbacks) known(number string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return now.Before(n.until[number])
}

func (n *noCallbacks) remember(number string, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.until == nil {
		n.until = make(map[string]time.Time)
	}
	if now.Sub(n.checked) > noCallbackTTL {
		for k, t := range n.until {
			if !now.Before(t) {
				delete(n.until, k)
			}
		}
		n.checked = now
	}
	n.until[number] = now.Add(noCallbackTTL)
}

func (n *noCallbacks) forget(number string) {
	n.mu.Lock()
	delete(n.until, number)
	n.mu.Unlock()
}

// openCallback returns the caller's booked callback, if any; a database
// problem counts as none.
func (c *call) openCallback(ctx context.Context) *callback.Callback {
	if c.s.deps.Callbacks == nil || c.e164 == "" {
		return nil
	}
	if c.s.noCallbacks.known(c.e164, time.Now()) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	defer cancel()
	cb, err := c.s.deps.Callbacks.OpenCallback(ctx, c.e164)
	if err != nil {
		if errors.Is(err, callback.ErrNotFound) {
			c.s.noCallbacks.remember(c.e164, time.Now())
		} else {
			c.log.Warn().Err(err).Msg("could not look up the caller's callback")
		}
		return nil
	}
	c.log.Info().Str("callback", cb.ID).Time("slot", cb.SlotStart).Msg("caller has a callback booked")
	return &cb
}

// markCallbackDone closes the caller's booked callback: they got through.
func (c *call) markCallbackDone(cb *callback.Callback) {
	if cb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(context.Background()), callbackTimeout)
	defer cancel()
	if _, err := c.s.deps.Callbacks.MarkDone(ctx, cb.ID); err != nil {
		c.log.Warn().Err(err).Str("callback", cb.ID).Msg("could not mark the callback done")
		return
	}
	c.log.Info().Str("callback", cb.ID).Msg("callback done: the caller got through")
}

// offerCallback books a callback (or takes the one booked) and tells the
// caller its time. It reports false when no callback could be booked, so
// the caller can be handed to the national pool instead.
func (c *call) offerCallback(ctx context.Context, p *router.Plan, existing *callback.Callback, started time.Time) bool {
	if c.s.deps.Callbacks == nil || c.e164 == "" {
		return false
	}
	cb := existing
	already := existing != nil
	if cb == nil {
		bctx, cancel := context.WithTimeout(ctx, callbackTimeout)
		booked, err := c.s.deps.Callbacks.BookEarliest(bctx, callback.Request{
			TeamID: p.HomeTeam.ID, CustomerID: c.customerID(), Number: c.e164,
			Reason: "nobody of the team was free", RequestedAt: started,
		})
		cancel()
		var dup *callback.AlreadyBookedError
		switch {
		case errors.As(err, &dup):
			cb, already = &dup.Existing, true
		case err != nil:
			c.log.Warn().Err(err).Msg("no callback could be booked")
			p.Note("callback booking failed: " + err.Error())
			return false
		default:
			cb = &booked
		}
		c.s.noCallbacks.forget(c.e164)
	}
	loc := p.HomeTeam.Location
	if loc == nil {
		loc = time.UTC
	}
	slot := cb.SlotStart.In(loc)
	if already {
		p.Note("caller already has a callback at " + slot.Format("Mon 15:04") + ": told its time")
	} else {
		p.Note("callback booked for " + slot.Format("Mon 2006-01-02 15:04 MST") + " (" + cb.ID + ")")
	}
	c.log.Info().Str("callback", cb.ID).Time("slot", slot).Bool("already_booked", already).Msg("callback offered")

	var audio []byte
	if c.s.deps.Announcer != nil {
		var err error
		lang := p.HomeTeam.Language
		if lang == "" {
			lang = "en"
		}
		if already {
			audio, err = c.s.deps.Announcer.CallbackAlreadyBooked(lang, time.Now().In(loc), slot)
		} else {
			audio, err = c.s.deps.Announcer.CallbackBooked(lang, time.Now().In(loc), slot)
		}
		if err != nil {
			c.log.Warn().Err(err).Msg("callback sentence not available")
		}
	}
	c.announce(ctx, audio)
	reason := "callback booked for " + slot.Format(time.RFC3339)
	if already {
		reason = "told the booked callback at " + slot.Format(time.RFC3339)
	}
	c.end(store.OutcomeUnanswered, store.HangupSystem, reason, time.Now())
	return true
}

// announce answers the caller with Teamline's own media, plays the audio
// and hangs up.
func (c *call) announce(ctx context.Context, audio []byte) {
	body, err := media.RewriteSDP(c.req.Body(), c.media.LocalA(), sdpSessionID(), 1)
	if err != nil {
		c.log.Warn().Err(err).Msg("no SDP to answer with: 480")
		c.respondFinal(480)
		return
	}
	c.answerSDP = body
	inbound := callerEnd{c}
	c.s.dialogs.put(c.req.CallID().Value(), inbound)
	defer c.s.dialogs.remove(c.req.CallID().Value())
	res := responseWithTag(c.req, 200, "OK", c.tag, body)
	res.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(c.s.contactHeader(c.req.Transport()))
	res.AppendHeader(gosip.NewHeader("Server", c.s.opts.UserAgent))
	if err := c.tx.Respond(res); err != nil {
		c.log.Warn().Err(err).Msg("answer for the announcement")
		return
	}
	if !c.waitAck(ctx, res) {
		c.hangupCaller()
		return
	}
	// Relay started (there is no agent leg) so that the caller's address
	// latches: behind NAT their SDP address is not where they listen.
	c.media.Start(ctx)
	if len(audio) > 0 {
		pctx, cancel := context.WithCancel(ctx)
		go func() {
			// A caller who hangs up stops the sentence.
			select {
			case <-c.hangups:
				cancel()
			case <-pctx.Done():
			}
		}()
		err := c.media.PlayA(pctx, audio, c.offerPT)
		hungUp := pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if hungUp {
			c.log.Info().Msg("caller hung up during the announcement")
			return
		}
		if err != nil {
			c.log.Warn().Err(err).Msg("announcement not played")
		}
	}
	c.hangupCaller()
}

// poolPlan plans the call for the national pool, for when no callback
// could be booked.
func (c *call) poolPlan(now time.Time) *router.Plan {
	r := c.s.deps.Router()
	pool := r.Pool()
	if pool == nil || pool.ID == c.routing.Team.ID {
		return nil
	}
	p := r.Plan(router.Call{Number: c.e164, Customer: c.customer, Team: pool,
		Reason: "no callback could be booked: national pool " + pool.ID}, c.s.view, now)
	return &p
}
