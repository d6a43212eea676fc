package sip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/teamline/teamline/media"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

// legTarget is one registered contact of one agent to ring.
type legTarget struct {
	agent   *roster.Agent
	binding Binding
}

// agentLeg is one outgoing INVITE to one contact of an agent. Its goroutine
// reads the INVITE transaction's responses and reports to the call; the
// first 2xx claims the call, any later 2xx is ACKed and hung up at once.
type agentLeg struct {
	uacDialog
	c      *call
	events chan<- legEvent // the step's events
	step   int             // the routing step that rang it
	agent  *roster.Agent
	log    zerolog.Logger
	offer  []byte
	tx     gosip.ClientTransaction
	// webrtc terminates ICE and DTLS-SRTP for a browser agent (registered
	// over WS/WSS); nil for a softphone speaking plain RTP.
	webrtc *media.WebRTCLeg

	cancelOnce sync.Once
	cancelCh   chan struct{}
	// failStatus is the final status of a leg that failed, set before
	// its legFailed event is sent.
	failStatus int
	// owner is the customer call that took this leg over from a
	// consultation (an attended transfer); nil while c owns it.
	owner atomic.Pointer[call]
}

// ownerCall is the call the leg's in-dialog requests belong to.
func (l *agentLeg) ownerCall() *call {
	if o := l.owner.Load(); o != nil {
		return o
	}
	return l.c
}

// contextID is the call record an agent's screen shows for this call: a
// consultation shows the customer call it is about.
func (c *call) contextID() string {
	if c.consultBy != nil {
		return c.contextCall
	}
	return c.id
}

// newLeg builds the INVITE for one agent contact and starts its transaction.
func (c *call) newLeg(ctx context.Context, t legTarget, offer []byte, events chan<- legEvent) (*agentLeg, error) {
	s := c.s
	transport := strings.ToUpper(t.binding.Transport)
	if transport == "" {
		transport = "UDP"
	}
	// A browser agent gets WebRTC: Teamline's own offer (ICE, DTLS-SRTP,
	// PCMU), complete before it goes out since SIP has no trickle ICE.
	var rtc *media.WebRTCLeg
	if isBrowserTransport(transport) {
		var err error
		rtc, err = media.NewWebRTCLeg(ctx, s.opts.WebRTC, c.log.With().Str("agent", t.agent.ID).Logger())
		if err != nil {
			return nil, fmt.Errorf("webrtc leg for %s: %w", t.agent.ID, err)
		}
		if offer, err = rtc.Offer(ctx); err != nil {
			_ = rtc.Close()
			return nil, fmt.Errorf("webrtc offer for %s: %w", t.agent.ID, err)
		}
	}

	// Who is calling: the customer's name when we know them, else what the
	// trunk said, and the normalised number (RFC 3261 §8.1.1.3); and the
	// customer's context, so the agent knows the story before answering.
	name := c.display
	if c.customer != nil && c.customer.Name != "" {
		name = c.customer.Name
		if c.consultBy != nil {
			name = c.consultBy.Name + " about " + c.customer.Name
		}
	}
	customer := c.customerID()
	if customer == "" {
		customer = "unknown"
	}
	extra := []gosip.Header{
		gosip.NewHeader("X-Teamline-Customer", customer),
		gosip.NewHeader("X-Teamline-Team", c.team.ID),
	}
	if id := c.contextID(); id != "" {
		extra = append(extra, gosip.NewHeader("X-Teamline-Call", id))
	}
	if c.consultBy != nil {
		extra = append(extra, gosip.NewHeader("X-Teamline-Consult-By", c.consultBy.ID))
	}
	if c.callbackID != "" {
		extra = append(extra, gosip.NewHeader("X-Teamline-Callback", c.callbackID))
	}
	if c.transferredBy != "" {
		extra = append(extra, gosip.NewHeader("X-Teamline-Transferred-By", c.transferredBy))
	}
	if u := c.historyLink(t.agent.ID); u != "" {
		extra = append(extra, gosip.NewHeader("Call-Info", "<"+u+">;purpose=info"))
	}
	req := s.newInvite(*t.binding.Contact.Clone(), transport,
		gosip.Uri{Scheme: "sip", User: c.number, Host: s.opts.Realm},
		gosip.Uri{Scheme: "sip", User: t.agent.Username, Host: s.opts.Realm},
		name, t.agent.Name, offer, extra...)
	if dst := legDestination(t.binding); dst != "" {
		req.SetDestination(dst)
	}

	leg := &agentLeg{
		uacDialog: uacDialog{s: s, invite: req, cseq: 1},
		c:         c,
		events:    events,
		agent:     t.agent,
		offer:     offer,
		webrtc:    rtc,
		cancelCh:  make(chan struct{}),
		log: c.log.With().Str("leg_call_id", req.CallID().Value()).Str("ringing_agent", t.agent.ID).
			Str("contact", t.binding.Contact.String()).Logger(),
	}
	tx, err := s.client.TransactionRequest(ctx, req, keepRequest)
	if err != nil {
		leg.closeMedia()
		return nil, fmt.Errorf("invite agent %s: %w", t.agent.ID, err)
	}
	leg.tx = tx
	leg.log.Debug().Msg("ringing agent")
	return leg, nil
}

func (l *agentLeg) emit(kind legEventKind, status int, err error) {
	// The channel has room for every event every leg can send.
	if kind == legFailed {
		l.failStatus = status
	}
	l.events <- legEvent{kind: kind, leg: l, status: status, err: err}
}

// run follows the INVITE transaction until it has a final response.
func (l *agentLeg) run() {
	provisional, cancelWanted, cancelSent, ringing := false, false, false, false
	cancelCh := l.cancelCh
	for {
		select {
		case res := <-l.tx.Responses():
			switch {
			case res.IsProvisional():
				if res.StatusCode > 100 {
					provisional = true
				}
				if cancelWanted && !cancelSent {
					cancelSent = true
					l.sendCancel()
				}
				if !ringing && !cancelWanted && res.StatusCode >= 180 {
					ringing = true
					l.emit(legRinging, res.StatusCode, nil)
				}
			case res.IsSuccess():
				l.accept(res)
				if !cancelWanted && l.c.claim(l) {
					l.emit(legAnswered, res.StatusCode, nil)
					return
				}
				// Lost the race, or the 2xx crossed our CANCEL: ACK and BYE
				// (RFC 3261 §9.1 leaves this to the UAC).
				l.log.Info().Msg("agent answered after the call was taken: hanging up that leg")
				l.hangup()
				l.closeMedia()
				l.emit(legFailed, res.StatusCode, nil)
				return
			default:
				l.closeMedia()
				l.emit(legFailed, res.StatusCode, nil)
				return
			}
		case <-cancelCh:
			cancelCh = nil
			cancelWanted = true
			// RFC 3261 §9.1: CANCEL only once a provisional response came;
			// otherwise it is sent when one does.
			if provisional && !cancelSent {
				cancelSent = true
				l.sendCancel()
			}
		case <-l.tx.Done():
			l.closeMedia()
			l.emit(legFailed, 0, l.tx.Err())
			return
		}
	}
}

// cancel asks the leg to stop ringing.
func (l *agentLeg) cancel() { l.cancelOnce.Do(func() { close(l.cancelCh) }) }

func (l *agentLeg) sendCancel() {
	req := buildCancel(l.invite)
	go func() {
		ctx, cancel := l.c.s.requestCtx()
		defer cancel()
		if _, err := finalResponse(ctx, l.c.s.client, req); err != nil {
			l.log.Debug().Err(err).Msg("CANCEL to agent failed")
		}
	}()
}

// accept ACKs a 2xx and keeps ACKing its retransmissions.
func (l *agentLeg) accept(res *gosip.Response) {
	ack := buildAck(l.invite, res)
	l.answered(res)
	if err := l.c.s.client.WriteRequest(ack, keepRequest); err != nil {
		l.log.Warn().Err(err).Msg("ACK to agent failed")
	}
	l.tx.OnRetransmission(func(*gosip.Response) {
		if err := l.c.s.client.WriteRequest(ack, keepRequest); err != nil {
			l.log.Debug().Err(err).Msg("ACK retransmission failed")
		}
	})
}

// hangup sends BYE on an answered leg (once).
func (l *agentLeg) hangup() {
	status, sent, err := l.bye()
	switch {
	case err != nil:
		l.log.Warn().Err(err).Msg("BYE to agent failed")
	case sent:
		l.log.Debug().Int("status", status).Msg("BYE to agent answered")
	}
}

// ack implements dialogEnd; an agent never ACKs Teamline.
func (l *agentLeg) ack(*gosip.Request) {}

// byeReceived implements dialogEnd: the agent hung up.
func (l *agentLeg) byeReceived(*gosip.Request) {
	l.remoteHungUp()
	select {
	case l.ownerCall().hangups <- hangup{by: store.HangupAgent, leg: l}:
	default:
	}
}

// currentSDP implements dialogEnd.
func (l *agentLeg) currentSDP() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.offer
}

// answerReoffer answers the offer of a re-INVITE the agent sent (hold,
// resume, a new address). A browser's WebRTC peer answers it on the
// transport it has. A softphone gets Teamline's side of the relay as the
// leg's current SDP has it, the G.711 codec it speaks already (or another
// that both SDPs list with the same payload type) and the mirrored
// direction, and the relay sends to the address the offer names from then
// on. The answer becomes the leg's current SDP.
func (l *agentLeg) answerReoffer(ctx context.Context, offer []byte) ([]byte, error) {
	l.mu.Lock()
	ours, first := l.offer, l.answer
	l.mu.Unlock()
	var answer []byte
	if l.webrtc != nil {
		a, err := l.webrtc.AnswerReoffer(ctx, offer)
		if err != nil {
			return nil, fmt.Errorf("browser re-offer: %w", err)
		}
		answer = a
	} else {
		prefer := ""
		if first != nil {
			if _, info, err := media.ParseSDP(first.Body()); err == nil {
				for _, codec := range info.Codecs {
					if strings.EqualFold(codec.Name, media.CodecPCMU) || strings.EqualFold(codec.Name, media.CodecPCMA) {
						prefer = codec.Name
						break
					}
				}
			}
		}
		a, remote, err := media.AnswerSDP(offer, ours, prefer)
		if err != nil {
			return nil, fmt.Errorf("agent re-offer: %w", err)
		}
		if sess := l.ownerCall().media; sess != nil {
			sess.SetRemoteB(remote.RTP)
		}
		answer = a
	}
	l.mu.Lock()
	l.offer = answer
	l.mu.Unlock()
	if _, info, err := media.ParseSDP(answer); err == nil {
		l.log.Info().Str("answer_direction", info.Direction).Msg("agent's re-INVITE answered")
	}
	return answer, nil
}

// legDestination picks where an INVITE to a binding goes: the Contact when
// it names the host the REGISTER came from, else the source address of the
// REGISTER — the only path to a phone behind NAT advertising its private
// address, or to a browser whose Contact host is *.invalid (RFC 7118); over
// TCP that is the connection the phone keeps open. Empty means the Contact.
func legDestination(b Binding) string {
	if b.Source == "" {
		return ""
	}
	host, _, err := net.SplitHostPort(b.Source)
	if err != nil {
		return ""
	}
	src, err1 := netip.ParseAddr(host)
	contact, err2 := netip.ParseAddr(b.Contact.Host)
	if err1 == nil && err2 == nil && src.Unmap() == contact.Unmap() {
		return ""
	}
	return b.Source
}

// historyLink is the signed link to the call's customer view for one agent.
func (c *call) historyLink(agentID string) string {
	if c.s.opts.HistoryURL == nil || c.contextID() == "" {
		return ""
	}
	return c.s.opts.HistoryURL(c.contextID(), agentID, c.customerID(), c.number)
}

// isBrowserTransport reports whether agents registered over transport are
// browsers, whose media is WebRTC (RFC 7118 agents).
func isBrowserTransport(transport string) bool {
	return strings.EqualFold(transport, "WS") || strings.EqualFold(transport, "WSS")
}

// closeMedia ends the leg's WebRTC peer, if it has one.
func (l *agentLeg) closeMedia() {
	if l.webrtc != nil {
		_ = l.webrtc.Close()
	}
}

// mediaDone is closed when the leg's WebRTC connection fails or the browser
// closes it; nil (never ready) for plain RTP legs.
func (l *agentLeg) mediaDone() <-chan struct{} {
	if l.webrtc == nil {
		return nil
	}
	return l.webrtc.Done()
}

// connectMedia points the relay's agent side at the leg that answered: the
// agent's RTP address from their SDP answer, or, for a browser, the WebRTC
// leg's gateway socket once the answer completes ICE and DTLS.
func (l *agentLeg) connectMedia(sess *media.Session) error {
	if l.webrtc == nil {
		_, answer, err := media.ParseSDP(l.answer.Body())
		if err != nil {
			return fmt.Errorf("agent sdp: %w", err)
		}
		sess.SetRemoteB(answer.RTP)
		return nil
	}
	if err := l.webrtc.SetAnswer(l.answer.Body()); err != nil {
		return fmt.Errorf("browser answer: %w", err)
	}
	sess.SetRemoteB(l.webrtc.RTPAddr())
	sess.SetRemoteRTCPB(netip.AddrPort{}) // the browser's RTCP is pion's business
	l.webrtc.Attach(sess.LocalB())
	return nil
}
