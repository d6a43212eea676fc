package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CallLink is what a signed Call-Info link grants: one agent may see the
// customer view of one call, and write notes on it, until it expires.
type CallLink struct {
	// CallID is the call record id.
	CallID string
	// AgentID is the agent the link was made for.
	AgentID string
	// CustomerID is the customer; empty for an unknown caller.
	CustomerID string
	// Number is the caller's number.
	Number string
	// Expires is when the link stops working.
	Expires time.Time
}

// LinkSigner makes and checks expiring, signed links to the customer view of
// one call for one agent, so a softphone opens the page for the call it rings
// (and its note form) with no login.
type LinkSigner struct {
	base string
	ttl  time.Duration
	key  []byte
	now  func() time.Time
}

// historyPath is where the Call-Info page is served. The name is older
// than the per-call view; softphones only ever follow the links.
const historyPath = "/history"

// NewLinkSigner returns a signer for links under base (the public URL of the
// HTTP server) valid for ttl. The key is random per process: links die with
// a restart, which is fine for a page tied to one call.
func NewLinkSigner(base string, ttl time.Duration) *LinkSigner {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &LinkSigner{base: strings.TrimRight(base, "/"), ttl: ttl, key: key, now: time.Now}
}

// CallURL returns the signed link to the customer view of call callID for
// agentID; customerID may be empty for an unknown caller. It has the
// signature of sip.Options.HistoryURL.
func (s *LinkSigner) CallURL(callID, agentID, customerID, number string) string {
	return s.base + historyPath + "?" + s.Query(callID, agentID, customerID, number).Encode()
}

// Query returns the signed query parameters of a link: the page's note
// form posts them back.
func (s *LinkSigner) Query(callID, agentID, customerID, number string) url.Values {
	exp := strconv.FormatInt(s.now().Add(s.ttl).Unix(), 10)
	q := url.Values{}
	q.Set("call", callID)
	q.Set("agent", agentID)
	q.Set("customer", customerID)
	q.Set("number", number)
	q.Set("exp", exp)
	q.Set("sig", s.sign(callID, agentID, customerID, number, exp))
	return q
}

// Verify checks a link's parameters (a query or a posted form) and returns
// what it grants; ok is false when the signature does not match or the link
// has expired.
func (s *LinkSigner) Verify(q url.Values) (link CallLink, ok bool) {
	callID, agentID, customerID, number, exp := q.Get("call"), q.Get("agent"), q.Get("customer"), q.Get("number"), q.Get("exp")
	want := s.sign(callID, agentID, customerID, number, exp)
	if !hmac.Equal([]byte(want), []byte(q.Get("sig"))) {
		return CallLink{}, false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.now().Unix() > unix || callID == "" || agentID == "" {
		return CallLink{}, false
	}
	return CallLink{CallID: callID, AgentID: agentID, CustomerID: customerID, Number: number, Expires: time.Unix(unix, 0)}, true
}

func (s *LinkSigner) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("call-link\x00"))
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
