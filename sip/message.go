package sip

import (
	"strconv"
	"strings"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// Builders for the requests a B2BUA sends on its own behalf inside a dialog or
// transaction. sipgo keeps its equivalents unexported, and a B2BUA needs exact
// control over Via, CSeq and Route (RFC 3261 §9.1, §12.2.1.1, §17.1.1.3).

// buildCancel builds the CANCEL for an outgoing INVITE (RFC 3261 §9.1): same
// Request-URI, Call-ID, From, To, CSeq number and the single top Via of the
// request being cancelled, so the peer matches it to the INVITE transaction.
func buildCancel(invite *gosip.Request) *gosip.Request {
	req := gosip.NewRequest(gosip.CANCEL, *invite.Recipient.Clone())
	req.AppendHeader(invite.Via().Clone())
	gosip.CopyHeaders("Route", invite, req)
	maxFwd := gosip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(gosip.HeaderClone(invite.From()))
	req.AppendHeader(gosip.HeaderClone(invite.To()))
	req.AppendHeader(gosip.HeaderClone(invite.CallID()))
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: gosip.CANCEL})
	req.SetTransport(invite.Transport())
	req.SetDestination(invite.Destination())
	req.SetBody(nil)
	return req
}

// buildAck builds the ACK for a 2xx response to our INVITE (RFC 3261
// §13.2.2.4): a new transaction sent to the remote target from the response's
// Contact, with the route set from its Record-Route in reverse order.
func buildAck(invite *gosip.Request, res *gosip.Response) *gosip.Request {
	req := newInDialogUAC(gosip.ACK, invite, res, invite.CSeq().SeqNo)
	return req
}

// buildByeUAC builds a BYE for a dialog in which Teamline sent the INVITE.
func buildByeUAC(invite *gosip.Request, res *gosip.Response, cseq uint32) *gosip.Request {
	return newInDialogUAC(gosip.BYE, invite, res, cseq)
}

func newInDialogUAC(method gosip.RequestMethod, invite *gosip.Request, res *gosip.Response, cseq uint32) *gosip.Request {
	target := invite.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	req := gosip.NewRequest(method, *target.Clone())
	// Route set: Record-Route of the response, reversed (RFC 3261 §12.1.2).
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		req.AppendHeader(gosip.NewHeader("Route", rr[i].Value()))
	}
	maxFwd := gosip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(gosip.HeaderClone(invite.From()))
	req.AppendHeader(gosip.HeaderClone(res.To()))
	req.AppendHeader(gosip.HeaderClone(invite.CallID()))
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.SetTransport(invite.Transport())
	req.SetDestination(invite.Destination())
	req.SetBody(nil)
	return req
}

// buildByeUAS builds a BYE for a dialog in which Teamline received the
// INVITE: From and To swap, the remote target is the caller's Contact and the
// route set is the INVITE's Record-Route in order (RFC 3261 §12.1.1).
func buildByeUAS(invite *gosip.Request, localTag string, cseq uint32) *gosip.Request {
	target := invite.Recipient
	if c := invite.Contact(); c != nil {
		target = c.Address
	}
	req := gosip.NewRequest(gosip.BYE, *target.Clone())
	for _, rr := range invite.GetHeaders("Record-Route") {
		req.AppendHeader(gosip.NewHeader("Route", rr.Value()))
	}
	maxFwd := gosip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)

	to := invite.To()
	from := &gosip.FromHeader{DisplayName: to.DisplayName, Address: *to.Address.Clone(), Params: to.Params.Clone()}
	if from.Params == nil {
		from.Params = gosip.NewParams()
	}
	from.Params.Add("tag", localTag)
	req.AppendHeader(from)

	f := invite.From()
	req.AppendHeader(&gosip.ToHeader{DisplayName: f.DisplayName, Address: *f.Address.Clone(), Params: f.Params.Clone()})
	req.AppendHeader(gosip.HeaderClone(invite.CallID()))
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: cseq, MethodName: gosip.BYE})
	req.SetTransport(invite.Transport())
	// Send to where the INVITE came from: trunks and NATed peers answer there.
	req.SetDestination(invite.Source())
	req.SetBody(nil)
	return req
}

// newInvite builds an INVITE Teamline sends on its own behalf (to an agent,
// or to a customer for a callback): a fresh Call-ID, From tag and CSeq 1,
// Teamline's Contact, and the SDP offer; extra headers follow in order.
func (s *Server) newInvite(target gosip.Uri, transport string, from, to gosip.Uri, fromName, toName string, offer []byte, extra ...gosip.Header) *gosip.Request {
	req := gosip.NewRequest(gosip.INVITE, target)
	req.SetTransport(transport)
	fh := &gosip.FromHeader{DisplayName: quoteDisplay(fromName), Address: from, Params: gosip.NewParams()}
	fh.Params.Add("tag", gosip.GenerateTagN(16))
	req.AppendHeader(fh)
	req.AppendHeader(&gosip.ToHeader{DisplayName: quoteDisplay(toName), Address: to})
	callID := gosip.CallIDHeader(uuid.NewString())
	req.AppendHeader(&callID)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.INVITE})
	maxFwd := gosip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(s.contactHeader(transport))
	req.AppendHeader(gosip.NewHeader("User-Agent", s.opts.UserAgent))
	for _, h := range extra {
		req.AppendHeader(h)
	}
	req.AppendHeader(gosip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	return req
}

// responseWithTag builds a response to the caller's INVITE carrying
// Teamline's To tag, so provisional and final responses form one dialog.
func responseWithTag(req *gosip.Request, code int, reason, tag string, body []byte) *gosip.Response {
	res := gosip.NewResponseFromRequest(req, code, reason, body)
	// sipgo puts a random tag of its own on a response to a request
	// without one; the dialog's tag must be ours, the one Teamline's BYE
	// will carry in From.
	if rt := req.To(); code > 100 && rt != nil && !rt.Params.Has("tag") {
		if to := res.To(); to != nil {
			if to.Params == nil {
				to.Params = gosip.NewParams()
			}
			to.Params.Add("tag", tag)
		}
	}
	return res
}

// callerID returns the display name and user part that identify the caller:
// P-Asserted-Identity when the trunk sent one (RFC 3325), else From.
func callerID(req *gosip.Request) (display, user string) {
	if h := req.GetHeader("P-Asserted-Identity"); h != nil {
		// A tel: URI (RFC 3966) carries the number itself.
		if before, rest, ok := strings.Cut(h.Value(), "tel:"); ok {
			n, _, _ := strings.Cut(rest, ">")
			n, _, _ = strings.Cut(n, ";")
			if n = strings.TrimSpace(n); n != "" {
				return strings.Trim(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(before), "<")), `"`), n
			}
		}
		var uri gosip.Uri
		params := gosip.NewParams()
		if name, err := gosip.ParseAddressValue(h.Value(), &uri, &params); err == nil {
			if uri.User != "" {
				return name, uri.User
			}
		}
	}
	if f := req.From(); f != nil {
		return f.DisplayName, f.Address.User
	}
	return "", ""
}

// quoteDisplay makes a display name safe for a quoted-string (RFC 3261 §25.1).
func quoteDisplay(s string) string {
	if !strings.ContainsAny(s, "\"\\\r\n") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\r', '\n':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// statusText is the reason phrase Teamline sends for a status code.
func statusText(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 200:
		return "OK"
	case 202:
		return "Accepted"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 405:
		return "Method Not Allowed"
	case 415:
		return "Unsupported Media Type"
	case 480:
		return "Temporarily Unavailable"
	case 404:
		return "Not Found"
	case 491:
		return "Request Pending"
	case 501:
		return "Not Implemented"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	}
	return "Status " + strconv.Itoa(code)
}
