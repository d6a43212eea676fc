package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Console sessions and login limits.
const (
	// sessionCookie is the console's session cookie.
	sessionCookie = "teamline_console"
	// sessionTTL is how long a console login lasts.
	sessionTTL = 12 * time.Hour
	// loginFailures is how many failed logins one source address may make
	// per loginWindow before it is refused with 429 until the window ends.
	loginFailures = 5
	loginWindow   = time.Minute
	// maxTracked bounds the entries the login limiter and the seen-calls
	// memory keep; expired ones are dropped first.
	maxTracked = 100000
)

// sessions signs and checks console session cookies: the agent ID and an
// expiry, signed with a key random per process (a restart logs everybody
// out, and their pages register again after a new login).
type sessions struct {
	key []byte
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &sessions{key: key, now: now}
}

func (s *sessions) sign(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("console-session\x00"))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// cookie returns the session cookie for agentID. Secure is set when the
// console is served over TLS.
func (s *sessions) cookie(r *http.Request, agentID string) *http.Cookie {
	exp := s.now().Add(sessionTTL)
	payload := base64.RawURLEncoding.EncodeToString([]byte(agentID)) + "." + strconv.FormatInt(exp.Unix(), 10)
	return &http.Cookie{
		Name: sessionCookie, Value: payload + "." + s.sign(payload), Path: "/console/",
		Expires: exp, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	}
}

// clear returns a cookie that removes the session.
func (s *sessions) clear(r *http.Request) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	}
}

// agent returns the agent ID of the request's valid session.
func (s *sessions) agent(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	payload, sig, ok := cutLast(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign(payload))) {
		return "", false
	}
	id64, exp, ok := strings.Cut(payload, ".")
	if !ok {
		return "", false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.now().Unix() > unix {
		return "", false
	}
	id, err := base64.RawURLEncoding.DecodeString(id64)
	if err != nil || len(id) == 0 {
		return "", false
	}
	return string(id), true
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// passwordMatches compares a typed password with the agent's in constant
// time, also in its length: both are hashed first.
func passwordMatches(typed, want string) bool {
	a, b := sha256.Sum256([]byte(typed)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// loginLimiter counts failed logins per source address in fixed windows.
type loginLimiter struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	n     int
	until time.Time // end of the window
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, m: map[string]*failures{}}
}

// blocked reports whether ip has used up its failed logins, and until when.
func (l *loginLimiter) blocked(ip string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[ip]
	if !ok || !l.now().Before(f.until) {
		return time.Time{}, false
	}
	return f.until, f.n >= loginFailures
}

// failed counts one failed login from ip.
func (l *loginLimiter) failed(ip string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[ip]
	if !ok || !now.Before(f.until) {
		if len(l.m) >= maxTracked {
			for k, v := range l.m {
				if !now.Before(v.until) {
					delete(l.m, k)
				}
			}
		}
		if len(l.m) >= maxTracked {
			return // under a flood of addresses, stop counting rather than grow
		}
		f = &failures{until: now.Add(loginWindow)}
		l.m[ip] = f
	}
	f.n++
}

// sourceIP is the address a request came from. Forwarding headers are not
// trusted: anybody can send them.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// seenCalls remembers which calls rang which agent, so that an agent may
// still read and annotate a call after it stopped ringing them (to write
// the wrap-up note) even before the call log has written its record.
type seenCalls struct {
	now func() time.Time

	mu sync.Mutex
	m  map[seenKey]seenCall
}

type seenKey struct{ agent, call string }

type seenCall struct {
	customerID, number string
	until              time.Time
}

// seenTTL is how long an agent may annotate a call that rang them.
const seenTTL = 24 * time.Hour

func newSeenCalls(now func() time.Time) *seenCalls {
	return &seenCalls{now: now, m: map[seenKey]seenCall{}}
}

func (s *seenCalls) add(agentID, callID, customerID, number string) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxTracked {
		for k, v := range s.m {
			if !now.Before(v.until) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= maxTracked {
			return
		}
	}
	s.m[seenKey{agentID, callID}] = seenCall{customerID: customerID, number: number, until: now.Add(seenTTL)}
}

func (s *seenCalls) get(agentID, callID string) (seenCall, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[seenKey{agentID, callID}]
	if !ok || !s.now().Before(c.until) {
		return seenCall{}, false
	}
	return c, true
}
