package sip

import (
	"context"
	"errors"
	"sync"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
)

// uacDialog is what ending a dialog Teamline started with an INVITE needs:
// the INVITE, the 2xx that answered it, and the next CSeq. Agent legs and
// callback legs to customers embed it.
type uacDialog struct {
	s      *Server
	invite *gosip.Request

	mu     sync.Mutex
	answer *gosip.Response
	cseq   uint32
	hungUp bool
}

// answered records the 2xx that established the dialog.
func (d *uacDialog) answered(res *gosip.Response) {
	d.mu.Lock()
	d.answer = res
	d.mu.Unlock()
}

// remoteHungUp records that the other side sent BYE.
func (d *uacDialog) remoteHungUp() {
	d.mu.Lock()
	d.hungUp = true
	d.mu.Unlock()
}

// bye sends BYE once, on an answered dialog nobody has hung up yet
// (RFC 3261 §15.1.1). sent is false when there was nothing to end.
func (d *uacDialog) bye() (status int, sent bool, err error) {
	d.mu.Lock()
	if d.hungUp || d.answer == nil {
		d.mu.Unlock()
		return 0, false, nil
	}
	d.hungUp = true
	d.cseq++
	req := buildByeUAC(d.invite, d.answer, d.cseq)
	d.mu.Unlock()
	ctx, cancel := d.s.requestCtx()
	defer cancel()
	res, err := finalResponse(ctx, d.s.client, req)
	if err != nil {
		return 0, true, err
	}
	return res.StatusCode, true, nil
}

// errNoFinalResponse is finalResponse's error for a transaction that ended
// without a final response and without an error of its own.
var errNoFinalResponse = errors.New("transaction ended without a final response")

// finalResponse sends req, exactly as built (keepRequest), in a client
// transaction and returns its final response. sipgo's Client.Do returns
// neither a response nor an error when something else terminates the
// transaction (its WebSocket connection closing: ClientTx.Terminate closes
// Done before it sets the error), which once let a BYE to a departing
// browser dereference a nil response; here that is errNoFinalResponse.
func finalResponse(ctx context.Context, client *sipgo.Client, req *gosip.Request) (*gosip.Response, error) {
	res, err := client.Do(ctx, req, keepRequest)
	if err == nil && res == nil {
		err = errNoFinalResponse
	}
	return res, err
}
