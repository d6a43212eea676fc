// Package web serves Teamline's HTTP side: health checks and the customer
// history page that an agent's softphone opens from the Call-Info link of a
// ringing call.
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

// LinkSigner makes and checks expiring, signed links to a customer's history,
// so a softphone can open the page for the call it rings with no login.
type LinkSigner struct {
	base string
	ttl  time.Duration
	key  []byte
	now  func() time.Time
}

// NewLinkSigner returns a signer for links under base (the public URL of the
// HTTP server) valid for ttl. The key is random per process: links die with
// a restart, which is fine for a page tied to one ringing call.
func NewLinkSigner(base string, ttl time.Duration) *LinkSigner {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &LinkSigner{base: strings.TrimRight(base, "/"), ttl: ttl, key: key, now: time.Now}
}

// CustomerURL returns the signed history link for a customer id and caller
// number; either may be empty.
func (s *LinkSigner) CustomerURL(customerID, number string) string {
	exp := strconv.FormatInt(s.now().Add(s.ttl).Unix(), 10)
	q := url.Values{}
	q.Set("customer", customerID)
	q.Set("number", number)
	q.Set("exp", exp)
	q.Set("sig", s.sign(customerID, number, exp))
	return s.base + "/history?" + q.Encode()
}

// Verify checks a link's parameters and returns the customer id and number.
func (s *LinkSigner) Verify(q url.Values) (customerID, number string, ok bool) {
	customerID, number, exp := q.Get("customer"), q.Get("number"), q.Get("exp")
	want := s.sign(customerID, number, exp)
	if !hmac.Equal([]byte(want), []byte(q.Get("sig"))) {
		return "", "", false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.now().Unix() > unix {
		return "", "", false
	}
	return customerID, number, true
}

func (s *LinkSigner) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
