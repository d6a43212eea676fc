package sip

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// The agent registrar: RFC 3261 §10.3, with digest authentication (§22) in
// front. An agent's address-of-record is its username; each REGISTER adds,
// refreshes or removes contacts of that AOR, and Teamline remembers with
// each contact where the REGISTER really came from (transport and source
// address), because browsers' Contact hosts are "*.invalid" and phones behind
// NAT advertise addresses nobody can reach.

// Registration limits (seconds on the wire; RFC 3261 §10.2.1.1, §10.3 step 7).
const (
	// DefaultRegisterMinExpires is the shortest registration accepted; a
	// shorter one gets 423 Interval Too Brief.
	DefaultRegisterMinExpires = 60 * time.Second
	// DefaultRegisterExpires applies when the REGISTER gives no expiry.
	DefaultRegisterExpires = 3600 * time.Second
	// DefaultRegisterMaxExpires is the longest registration granted; longer
	// requests are shortened to it.
	DefaultRegisterMaxExpires = 3600 * time.Second
	// DefaultRegisterMaxContacts caps the contacts of one AOR; past it the
	// contact closest to expiry is dropped (a browser agent that reloads its
	// tab registers a new random contact every time).
	DefaultRegisterMaxContacts = 10
	// DefaultRegisterSweepInterval is how often Run drops expired bindings.
	DefaultRegisterSweepInterval = 5 * time.Second
)

// errRegOutOfOrder aborts a REGISTER whose CSeq is not above the one that
// last touched a binding from the same Call-ID (RFC 3261 §10.3 step 7).
var errRegOutOfOrder = errors.New("register out of order")

// Binding is one registered contact of an agent.
type Binding struct {
	// AgentID is the roster agent the credential belongs to.
	AgentID string
	// Username is the authenticated digest username (the AOR's user part).
	Username string
	// Contact is the URI from the Contact header.
	Contact gosip.Uri
	// Transport is where the REGISTER came in: "udp", "tcp", "tls", "ws" or
	// "wss".
	Transport string
	// Source is the address the REGISTER came from (host:port). Requests to
	// the agent go there, not to Contact's host, which may be unreachable.
	Source string
	// Expires is when the binding lapses unless refreshed.
	Expires time.Time
	// CallID and CSeq are those of the REGISTER that last wrote the binding.
	CallID string
	// CSeq is the sequence number of that REGISTER.
	CSeq uint32
}

// clone deep-copies b so callers may keep and modify it.
func (b Binding) clone() Binding {
	b.Contact = *b.Contact.Clone()
	return b
}

// RegistrarOption configures a Registrar.
type RegistrarOption func(*Registrar)

// WithRegistrarClock replaces time.Now, for tests. The registrar's digest
// challenger uses the same clock.
func WithRegistrarClock(now func() time.Time) RegistrarOption {
	return func(r *Registrar) {
		if now != nil {
			r.now = now
		}
	}
}

// WithRegistrarExpires sets the minimum, default and maximum registration
// lifetimes (whole seconds; zero keeps a default).
func WithRegistrarExpires(minimum, def, maximum time.Duration) RegistrarOption {
	return func(r *Registrar) {
		if minimum > 0 {
			r.minExpires = regSeconds(minimum)
		}
		if def > 0 {
			r.defExpires = regSeconds(def)
		}
		if maximum > 0 {
			r.maxExpires = regSeconds(maximum)
		}
	}
}

// WithRegistrarMaxContacts caps the contacts of one AOR.
func WithRegistrarMaxContacts(n int) RegistrarOption {
	return func(r *Registrar) {
		if n > 0 {
			r.maxContacts = n
		}
	}
}

// WithRegistrarSweepInterval sets how often Run drops expired bindings.
func WithRegistrarSweepInterval(d time.Duration) RegistrarOption {
	return func(r *Registrar) {
		if d > 0 {
			r.sweepEvery = d
		}
	}
}

// WithRegistrarDigestOptions passes options to the registrar's digest
// challenger (e.g. WithDigestAlgorithms to change the order of challenges).
func WithRegistrarDigestOptions(opts ...DigestOption) RegistrarOption {
	return func(r *Registrar) { r.digestOpts = append(r.digestOpts, opts...) }
}

// Registrar accepts REGISTER requests from agents and keeps their contacts
// in memory. It is safe for concurrent use.
type Registrar struct {
	creds       CredentialSource
	auth        *DigestChallenger
	log         zerolog.Logger
	now         func() time.Time
	minExpires  uint32
	defExpires  uint32
	maxExpires  uint32
	maxContacts int
	sweepEvery  time.Duration
	digestOpts  []DigestOption

	mu      sync.RWMutex
	aors    map[string]*regAOR             // by username
	byAgent map[string]map[string]struct{} // agent ID -> usernames with bindings
	hooks   []func(agentID string, registered bool)

	// notifyMu orders OnChange calls: it is taken before mu is released, so
	// hooks see changes in the order they happened, yet run outside mu.
	notifyMu sync.Mutex
}

// regAOR is the state of one address-of-record.
type regAOR struct {
	agentID  string
	bindings []regEntry
}

// regEntry is a binding plus the Contact header parameters to echo back
// (+sip.instance, reg-id: RFC 5626 clients look for them).
type regEntry struct {
	Binding
	params gosip.HeaderParams
}

// regEvent is an agent gaining its first or losing its last binding.
type regEvent struct {
	agentID    string
	registered bool
}

// NewRegistrar returns a registrar for realm that authenticates agents
// against creds.
func NewRegistrar(realm string, creds CredentialSource, log zerolog.Logger, opts ...RegistrarOption) *Registrar {
	r := &Registrar{
		creds:       creds,
		log:         log,
		now:         time.Now,
		minExpires:  regSeconds(DefaultRegisterMinExpires),
		defExpires:  regSeconds(DefaultRegisterExpires),
		maxExpires:  regSeconds(DefaultRegisterMaxExpires),
		maxContacts: DefaultRegisterMaxContacts,
		sweepEvery:  DefaultRegisterSweepInterval,
		aors:        make(map[string]*regAOR),
		byAgent:     make(map[string]map[string]struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	r.maxExpires = max(r.maxExpires, r.minExpires)
	r.defExpires = min(max(r.defExpires, r.minExpires), r.maxExpires)
	dopts := append([]DigestOption{WithDigestClock(r.now)}, r.digestOpts...)
	r.auth = NewDigestChallenger(realm, creds, dopts...)
	return r
}

func regSeconds(d time.Duration) uint32 {
	s := d / time.Second
	if s > 1<<31 {
		s = 1 << 31
	}
	return uint32(s)
}

// Challenger returns the registrar's digest challenger, so other requests
// from agents (INVITE) are authenticated with the same nonces and realm.
func (r *Registrar) Challenger() *DigestChallenger { return r.auth }

// OnChange registers fn to be told when an agent gains its first binding
// (registered=true) or loses its last one (false). Hooks run outside the
// registrar's lock, one at a time, in the order of the changes; they must not
// block for long.
func (r *Registrar) OnChange(fn func(agentID string, registered bool)) {
	r.mu.Lock()
	r.hooks = append(r.hooks, fn)
	r.mu.Unlock()
}

// Bindings returns copies of username's unexpired bindings.
func (r *Registrar) Bindings(username string) []Binding {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	return regAppendLive(nil, r.aors[username], now)
}

// BindingsByAgent returns copies of the unexpired bindings of every username
// of the agent.
func (r *Registrar) BindingsByAgent(agentID string) []Binding {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Binding
	for username := range r.byAgent[agentID] {
		out = regAppendLive(out, r.aors[username], now)
	}
	return out
}

func regAppendLive(out []Binding, aor *regAOR, now time.Time) []Binding {
	if aor == nil {
		return out
	}
	for _, e := range aor.bindings {
		if e.Expires.After(now) {
			out = append(out, e.clone())
		}
	}
	return out
}

// Run drops expired bindings and used nonces every sweep interval until ctx
// is done.
func (r *Registrar) Run(ctx context.Context) {
	t := time.NewTicker(r.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.regSweep()
			r.auth.Sweep()
		}
	}
}

// regSweep drops expired bindings and reports agents that lost their last.
func (r *Registrar) regSweep() {
	now := r.now()
	r.regDrop(func(e *regEntry) bool { return !e.Expires.After(now) }, "registration expired")
}

// DropSource removes every binding registered over the connection from
// source (a closed WebSocket or TCP connection: nothing can reach those
// contacts any more, and a browser that closed its tab must not be rung).
func (r *Registrar) DropSource(transport, source string) {
	r.regDrop(func(e *regEntry) bool { return e.Transport == transport && e.Source == source },
		"connection closed: registration removed")
}

// regDrop removes the bindings gone says are gone, logging why, and
// reports agents that lost their last.
func (r *Registrar) regDrop(gone func(*regEntry) bool, why string) {
	r.mu.Lock()
	var events []regEvent
	for username, aor := range r.aors {
		kept := aor.bindings[:0]
		for i := range aor.bindings {
			e := aor.bindings[i]
			if !gone(&e) {
				kept = append(kept, e)
				continue
			}
			r.log.Info().Str("agent", e.AgentID).Str("username", username).
				Str("contact", e.Contact.String()).Str("transport", e.Transport).Msg(why)
		}
		clear(aor.bindings[len(kept):])
		aor.bindings = kept
		if len(kept) == 0 {
			events = r.regForgetLocked(username, aor, events)
		}
	}
	r.regNotifyUnlock(events)
}

// regForgetLocked removes an AOR with no bindings and, if it was the agent's
// last, records the agent as unregistered.
func (r *Registrar) regForgetLocked(username string, aor *regAOR, events []regEvent) []regEvent {
	delete(r.aors, username)
	names := r.byAgent[aor.agentID]
	delete(names, username)
	if len(names) == 0 {
		delete(r.byAgent, aor.agentID)
		events = append(events, regEvent{agentID: aor.agentID, registered: false})
	}
	return events
}

// regNotifyUnlock releases mu and calls the hooks for events, in order.
func (r *Registrar) regNotifyUnlock(events []regEvent) {
	if len(events) == 0 || len(r.hooks) == 0 {
		r.mu.Unlock()
		return
	}
	hooks := r.hooks
	r.notifyMu.Lock()
	r.mu.Unlock()
	defer r.notifyMu.Unlock()
	for _, ev := range events {
		for _, fn := range hooks {
			fn(ev.agentID, ev.registered)
		}
	}
}

// regContact is one Contact of a REGISTER with its granted lifetime.
type regContact struct {
	uri     gosip.Uri
	params  gosip.HeaderParams
	expires uint32
}

// HandleRegister serves a REGISTER (RFC 3261 §10.3). Plug it into
// sipgo with srv.OnRegister(r.HandleRegister).
func (r *Registrar) HandleRegister(req *gosip.Request, tx gosip.ServerTransaction) {
	log := r.log.With().Str("source", req.Source()).Str("transport", regTransport(req)).Logger()

	to, from, callID, cseq := req.To(), req.From(), req.CallID(), req.CSeq()
	if to == nil || from == nil || callID == nil || cseq == nil {
		r.regRespond(log, req, tx, 400, "Bad Request", nil)
		return
	}

	// §10.3 steps 1-3 concern proxies and the Require header; step 4 is
	// authentication.
	ar := r.auth.Verify(req)
	if !ar.OK() {
		r.regAuthFailed(log, req, tx, ar)
		return
	}
	username := ar.Credential.Username
	if username == "" {
		username = ar.Username
	}
	log = log.With().Str("agent", ar.Credential.AgentID).Str("username", username).Logger()

	// Step 6: the authenticated user may only register its own AOR.
	if to.Address.User != username {
		log.Warn().Str("aor", to.Address.User).Str("reason", "to user differs from authenticated user").
			Msg("register refused")
		r.regRespond(log, req, tx, 403, "Forbidden", nil)
		return
	}

	contacts, wildcard, ok := regParseContacts(req)
	if !ok {
		r.regRespond(log, req, tx, 400, "Bad Request", nil)
		return
	}
	hdrExpires, hasHdrExpires, ok := regExpiresHeader(req)
	if !ok {
		r.regRespond(log, req, tx, 400, "Bad Request", nil)
		return
	}
	if wildcard {
		// §10.2.2: "*" only alone and only with Expires: 0.
		if len(contacts) != 0 || !hasHdrExpires || hdrExpires != 0 {
			r.regRespond(log, req, tx, 400, "Bad Request", nil)
			return
		}
	}
	// Step 5: per-contact expiry, then Expires header, then default; too
	// short (but not zero) => 423; too long => shortened.
	for i := range contacts {
		c := &contacts[i]
		exp := r.defExpires
		if hasHdrExpires {
			exp = hdrExpires
		}
		if v, ok := c.params.Get("expires"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				exp = uint32(n)
			} else {
				// §20.19: a malformed expiry is taken as 3600 s.
				exp = 3600
			}
		}
		if exp != 0 && exp < r.minExpires {
			res := gosip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(gosip.NewHeader("Min-Expires", strconv.FormatUint(uint64(r.minExpires), 10)))
			r.regSend(log, tx, res)
			return
		}
		c.expires = min(exp, r.maxExpires)
	}

	b := Binding{
		AgentID:   ar.Credential.AgentID,
		Username:  username,
		Transport: regTransport(req),
		Source:    req.Source(),
		CallID:    callID.Value(),
		CSeq:      cseq.SeqNo,
	}
	current, err := r.regApply(log, b, contacts, wildcard, len(contacts) == 0 && !wildcard)
	if err != nil {
		// Step 7: the whole request fails and nothing changes.
		log.Info().Str("call_id", b.CallID).Uint32("cseq", b.CSeq).Msg("register out of order, ignored")
		r.regRespond(log, req, tx, 500, "Server Internal Error", nil)
		return
	}

	// Step 8: 200 OK with every current binding and a Date header.
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	now := r.now()
	for _, e := range current {
		left := max(int64(e.Expires.Sub(now)/time.Second), 0)
		h := &gosip.ContactHeader{Address: *e.Contact.Clone(), Params: e.params.Clone()}
		if h.Params == nil {
			h.Params = gosip.NewParams()
		}
		h.Params.Remove("expires")
		h.Params.Add("expires", strconv.FormatInt(left, 10))
		res.AppendHeader(h)
	}
	res.AppendHeader(gosip.NewHeader("Date", now.UTC().Format(http.TimeFormat)))
	r.regSend(log, tx, res)
}

// regApply commits the contacts of one REGISTER atomically and returns the
// AOR's bindings afterwards. query leaves bindings unchanged (§10.2.3).
func (r *Registrar) regApply(log zerolog.Logger, b Binding, contacts []regContact, wildcard, query bool) ([]regEntry, error) {
	now := r.now()
	r.mu.Lock()
	aor := r.aors[b.Username]
	if query {
		out := regCopyEntries(aor, now)
		r.mu.Unlock()
		return out, nil
	}
	var old []regEntry
	if aor != nil {
		old = aor.bindings
	}
	// Work on a copy so that an out-of-order contact aborts everything.
	next := make([]regEntry, 0, len(old)+len(contacts))
	for _, e := range old {
		if e.Expires.After(now) {
			next = append(next, e)
		}
	}
	var added, removed []regEntry
	if wildcard {
		for _, e := range next {
			if e.CallID == b.CallID && b.CSeq <= e.CSeq {
				r.mu.Unlock()
				return nil, errRegOutOfOrder
			}
		}
		removed = next
		next = nil
	}
	for _, c := range contacts {
		idx := slices.IndexFunc(next, func(e regEntry) bool { return regURIEqual(&e.Contact, &c.uri) })
		if idx >= 0 && next[idx].CallID == b.CallID && b.CSeq <= next[idx].CSeq {
			r.mu.Unlock()
			return nil, errRegOutOfOrder
		}
		if c.expires == 0 {
			if idx >= 0 {
				removed = append(removed, next[idx])
				next = slices.Delete(next, idx, idx+1)
			}
			continue
		}
		e := regEntry{Binding: b, params: c.params}
		e.Contact = c.uri
		e.Expires = now.Add(time.Duration(c.expires) * time.Second)
		if idx >= 0 {
			next[idx] = e
		} else {
			next = append(next, e)
		}
		added = append(added, e)
	}
	// Past the cap, drop the contacts closest to expiry.
	for len(next) > r.maxContacts {
		idx := 0
		for i := range next {
			if next[i].Expires.Before(next[idx].Expires) {
				idx = i
			}
		}
		removed = append(removed, next[idx])
		next = slices.Delete(next, idx, idx+1)
	}

	var events []regEvent
	wasRegistered := len(r.byAgent[b.AgentID]) > 0
	if aor != nil && aor.agentID != b.AgentID {
		// The username moved to another agent in the roster.
		events = r.regForgetLocked(b.Username, aor, events)
		aor = nil
		wasRegistered = len(r.byAgent[b.AgentID]) > 0
	}
	if len(next) == 0 {
		if aor != nil {
			events = r.regForgetLocked(b.Username, aor, events)
		}
	} else {
		if aor == nil {
			aor = &regAOR{agentID: b.AgentID}
			r.aors[b.Username] = aor
		}
		aor.bindings = next
		names := r.byAgent[b.AgentID]
		if names == nil {
			names = make(map[string]struct{}, 1)
			r.byAgent[b.AgentID] = names
		}
		names[b.Username] = struct{}{}
		if !wasRegistered {
			events = append(events, regEvent{agentID: b.AgentID, registered: true})
		}
	}
	out := slices.Clone(next)
	for _, e := range removed {
		log.Info().Str("contact", e.Contact.String()).Msg("unregistered")
	}
	for _, e := range added {
		log.Info().Str("contact", e.Contact.String()).
			Int64("expires", int64(e.Expires.Sub(now)/time.Second)).Msg("registered")
	}
	r.regNotifyUnlock(events)
	return out, nil
}

func regCopyEntries(aor *regAOR, now time.Time) []regEntry {
	if aor == nil {
		return nil
	}
	out := make([]regEntry, 0, len(aor.bindings))
	for _, e := range aor.bindings {
		if e.Expires.After(now) {
			out = append(out, e)
		}
	}
	return out
}

// regAuthFailed answers a REGISTER that did not authenticate: a challenge
// when the client has to (re)compute credentials, 403 when it proved to know
// a wrong password or an unknown user, 400 when the request is inconsistent.
func (r *Registrar) regAuthFailed(log zerolog.Logger, req *gosip.Request, tx gosip.ServerTransaction, ar DigestResult) {
	switch {
	case errors.Is(ar.Err, ErrAuthUnknownUser), errors.Is(ar.Err, ErrAuthBadResponse):
		// Never log the Authorization header or the password.
		log.Warn().Str("username", ar.Username).Str("reason", ar.Err.Error()).Msg("register authentication failed")
		r.regRespond(log, req, tx, 403, "Forbidden", nil)
	case errors.Is(ar.Err, ErrAuthURI):
		log.Warn().Str("username", ar.Username).Str("reason", ar.Err.Error()).Msg("register authentication failed")
		r.regRespond(log, req, tx, 400, "Bad Request", nil)
	case ar.Stale():
		if errors.Is(ar.Err, ErrAuthReplay) {
			log.Warn().Str("username", ar.Username).Str("reason", ar.Err.Error()).Msg("register authentication replayed")
		} else {
			log.Debug().Str("username", ar.Username).Str("reason", ar.Err.Error()).Msg("register nonce stale")
		}
		if err := r.auth.Challenge(req, tx, true); err != nil {
			log.Warn().Err(err).Msg("register challenge not sent")
		}
	default:
		if !errors.Is(ar.Err, ErrAuthMissing) {
			log.Warn().Str("username", ar.Username).Str("reason", ar.Err.Error()).Msg("register authentication failed")
		}
		if err := r.auth.Challenge(req, tx, false); err != nil {
			log.Warn().Err(err).Msg("register challenge not sent")
		}
	}
}

func (r *Registrar) regRespond(log zerolog.Logger, req *gosip.Request, tx gosip.ServerTransaction, code int, reason string, body []byte) {
	r.regSend(log, tx, gosip.NewResponseFromRequest(req, code, reason, body))
}

func (r *Registrar) regSend(log zerolog.Logger, tx gosip.ServerTransaction, res *gosip.Response) {
	if err := tx.Respond(res); err != nil {
		log.Warn().Err(err).Int("status", res.StatusCode).Msg("register response not sent")
	}
}

// regTransport names the transport the request arrived on, lower case.
func regTransport(req *gosip.Request) string {
	return strings.ToLower(req.Transport())
}

// regParseContacts returns the Contact values of req. Headers sipgo did not
// parse (built by hand rather than read from the wire) are parsed here.
func regParseContacts(req *gosip.Request) (contacts []regContact, wildcard bool, ok bool) {
	for _, h := range req.Headers() {
		name := h.Name()
		if !strings.EqualFold(name, "Contact") && name != "m" {
			continue
		}
		parsed := []gosip.Header{h}
		if _, isContact := h.(*gosip.ContactHeader); !isContact {
			var err error
			parsed, err = gosip.HeadersParser(gosip.DefaultHeadersParser()).ParseHeader(nil, []byte("Contact: "+h.Value()))
			if err != nil {
				return nil, false, false
			}
		}
		for _, p := range parsed {
			c, isContact := p.(*gosip.ContactHeader)
			if !isContact {
				return nil, false, false
			}
			if c.Address.Wildcard {
				wildcard = true
				continue
			}
			if c.Address.Scheme == "" || (c.Address.Host == "" && c.Address.Raw() == "") {
				return nil, false, false
			}
			contacts = append(contacts, regContact{uri: *c.Address.Clone(), params: c.Params.Clone()})
		}
	}
	return contacts, wildcard, true
}

// regExpiresHeader reads the Expires header (RFC 3261 §20.19).
func regExpiresHeader(req *gosip.Request) (uint32, bool, bool) {
	h := req.GetHeader("Expires")
	if h == nil {
		return 0, false, true
	}
	n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
	if err != nil {
		return 0, false, false
	}
	return uint32(n), true, true
}

// regURIEqual compares contact URIs per RFC 3261 §19.1.4: scheme and host
// case-insensitively, user and password exactly, port exactly, and the
// parameters user, ttl, method, maddr and transport when either side has
// them; other parameters must agree where both sides have them.
func regURIEqual(a, b *gosip.Uri) bool {
	if !strings.EqualFold(a.Scheme, b.Scheme) || a.User != b.User || a.Password != b.Password ||
		!strings.EqualFold(a.Host, b.Host) || a.Port != b.Port || a.Raw() != b.Raw() {
		return false
	}
	for _, kv := range a.UriParams {
		v, ok := b.UriParams.Get(kv.K)
		if !ok {
			switch strings.ToLower(kv.K) {
			case "user", "ttl", "method", "maddr", "transport":
				return false
			}
			continue
		}
		if !strings.EqualFold(v, kv.V) {
			return false
		}
	}
	for _, kv := range b.UriParams {
		if _, ok := a.UriParams.Get(kv.K); !ok {
			switch strings.ToLower(kv.K) {
			case "user", "ttl", "method", "maddr", "transport":
				return false
			}
		}
	}
	return true
}
