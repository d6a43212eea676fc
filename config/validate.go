package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones must load on hosts without /usr/share/zoneinfo

	"github.com/nyaruka/phonenumbers"

	"github.com/teamline/teamline/phone"
)

// validator checks a decoded Config, completes derived fields and reports
// problems through the decoder, which knows the lines.
type validator struct {
	*decoder
	env LookupEnv
}

// add reports a problem with field, unless the field could not be decoded,
// which was reported already.
func (v *validator) add(field, format string, args ...any) {
	if v.failedAt(field) {
		return
	}
	v.problem(v.line(field), field, format, args...)
}

// teamIDsBroken reports whether a team or its id failed to decode, so that
// references to teams cannot be checked.
func (v *validator) teamIDsBroken(teams []Team) bool {
	if v.failed["teams"] {
		return true
	}
	for i := range teams {
		p := "teams[" + strconv.Itoa(i) + "]"
		if v.failed[p] || v.failed[p+".id"] {
			return true
		}
	}
	return false
}

func (v *validator) validate(c *Config) {
	if u, ok := v.env(DatabaseURLEnv); ok && u != "" {
		c.Database.URL = u
	}
	if tok, ok := v.env(APITokenEnv); ok && tok != "" {
		c.HTTP.APIToken = tok
	}
	v.sip(&c.SIP)
	v.media(&c.Media)
	v.http(&c.HTTP)
	v.positive("calls.ring_timeout", c.Calls.RingTimeout)
	v.positive("calls.max_duration", c.Calls.MaxDuration)
	v.routing(&c.Routing)
	v.callbacks(&c.Callbacks)

	countryOK := true
	c.DefaultCountry = strings.ToUpper(strings.TrimSpace(c.DefaultCountry))
	switch {
	case c.DefaultCountry == "":
		v.add("default_country", "must not be empty")
		countryOK = false
	case !phonenumbers.GetSupportedRegions()[c.DefaultCountry]:
		v.add("default_country", "must be an ISO 3166-1 alpha-2 region known to the number library, such as DE")
		countryOK = false
	}

	v.trunks(c.Trunks)
	teams := v.teams(c.Teams)
	refsOK := !v.teamIDsBroken(c.Teams)
	switch {
	case c.DefaultTeam == "":
		v.add("default_team", "must not be empty")
	case refsOK && len(c.Teams) > 0 && !teams[c.DefaultTeam]:
		v.add("default_team", "must name a team; no team has id %q", c.DefaultTeam)
	}
	v.customers(c.Customers, teams, refsOK, c.DefaultCountry, countryOK)
	if refsOK && len(c.Teams) > 0 {
		v.references(c, teams)
	}
}

func (v *validator) sip(s *SIP) {
	if s.UDP == "" && s.TCP == "" {
		v.add("sip", "at least one of udp and tcp must be set")
	}
	if s.UDP != "" {
		v.hostPort("sip.udp", s.UDP)
	}
	if s.TCP != "" {
		v.hostPort("sip.tcp", s.TCP)
	}
	if s.WS != "" {
		v.hostPort("sip.ws", s.WS)
	}
	if s.WSS != "" {
		v.hostPort("sip.wss", s.WSS)
		if s.TLSCert == "" || s.TLSKey == "" {
			v.add("sip.wss", "needs tls_cert and tls_key")
		}
	}
	if (s.WS != "" || s.WSS != "") && len(s.WSOrigins) == 0 {
		v.add("sip.ws_origins", `must list the origins of the agent pages (or "*") when ws or wss is on`)
	}
	v.token("sip.domain", s.Domain)
	if s.Realm != "" {
		v.headerSafe("sip.realm", s.Realm)
	}
	if v.token("sip.advertise_host", s.AdvertiseHost) {
		if a, err := netip.ParseAddr(s.AdvertiseHost); err == nil && a.IsUnspecified() {
			v.add("sip.advertise_host", "must be an address peers can reach, not %s", s.AdvertiseHost)
		}
	}
	v.headerSafe("sip.user_agent", s.UserAgent)
	if s.FloodRate <= 0 {
		v.add("sip.flood_rate", "must be more than 0 requests per second")
	}
	if float64(s.FloodBurst) < max(s.FloodRate, 1) {
		v.add("sip.flood_burst", "must be at least flood_rate (and 1): a burst smaller than a second's rate refuses steady traffic")
	}
	if len(s.DigestAlgorithms) == 0 {
		v.add("sip.digest_algorithms", "must list at least one of MD5, SHA-256")
	}
	seen := map[string]bool{}
	for i, a := range s.DigestAlgorithms {
		f := fmt.Sprintf("sip.digest_algorithms[%d]", i)
		switch {
		case a != "MD5" && a != "SHA-256":
			v.add(f, "must be MD5 or SHA-256")
		case seen[a]:
			v.add(f, "listed twice")
		}
		seen[a] = true
	}
}

func (v *validator) media(m *Media) {
	if _, err := netip.ParseAddr(m.BindIP); err != nil {
		v.add("media.bind_ip", "must be an IP address")
	}
	if a, err := netip.ParseAddr(m.AdvertiseIP); err != nil {
		v.add("media.advertise_ip", "must be an IP address")
	} else if a.IsUnspecified() {
		v.add("media.advertise_ip", "must be an address peers can reach, not %s", m.AdvertiseIP)
	}
	minOK := m.PortMin >= 1 && m.PortMin <= 65535
	maxOK := m.PortMax >= 1 && m.PortMax <= 65535
	if !minOK {
		v.add("media.port_min", "must be between 1 and 65535")
	} else if m.PortMin%2 != 0 {
		v.add("media.port_min", "must be even (RTP uses even ports, RTCP the next odd one)")
	}
	if !maxOK {
		v.add("media.port_max", "must be between 1 and 65535")
	}
	if minOK && maxOK && m.PortMax <= m.PortMin {
		v.add("media.port_max", "must be greater than port_min (%d)", m.PortMin)
	}
	v.positive("media.silence_timeout", m.SilenceTimeout)
}

func (v *validator) http(h *HTTP) {
	v.hostPort("http.listen", h.Listen)
	u, err := url.Parse(h.PublicURL)
	switch {
	case h.PublicURL == "":
		v.add("http.public_url", "must not be empty")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.add("http.public_url", "must be an absolute http:// or https:// URL")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		v.add("http.public_url", "must not contain credentials, a query or a fragment")
	default:
		h.PublicURL = strings.TrimRight(h.PublicURL, "/")
	}
	if h.APIToken != "" {
		// The message never quotes the token.
		switch {
		case len(h.APIToken) < minAPITokenLen:
			v.add("http.api_token", "must be at least %d characters long", minAPITokenLen)
		case strings.ContainsFunc(h.APIToken, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			v.add("http.api_token", "must not contain spaces or control characters")
		}
	}
}

// minAPITokenLen is the shortest API token accepted.
const minAPITokenLen = 16

func (v *validator) trunks(trunks []Trunk) {
	if len(trunks) == 0 {
		v.add("trunks", "at least one trunk is required")
	}
	names := map[string]bool{}
	for i := range trunks {
		t := &trunks[i]
		p := fmt.Sprintf("trunks[%d]", i)
		if v.ident(p+".name", t.Name) {
			if names[t.Name] {
				v.add(p+".name", "duplicate trunk name %q", t.Name)
			}
			names[t.Name] = true
		}
		if len(t.Networks) == 0 {
			v.add(p+".networks", "at least one network is required")
		}
		t.Sources = make([]netip.Prefix, 0, len(t.Networks))
		for j, n := range t.Networks {
			np := fmt.Sprintf("%s.networks[%d]", p, j)
			pfx, err := parseNetwork(n)
			if err != nil {
				v.add(np, "must be a CIDR prefix such as 10.0.0.0/8 or a single IP address")
				continue
			}
			t.Sources = append(t.Sources, pfx)
		}
		if t.Outbound == "" {
			v.add(p+".outbound", "must not be empty")
		} else if _, _, err := splitOutbound(t.Outbound); err != nil {
			v.add(p+".outbound", "%v", err)
		}
	}
}

// teams validates the teams and returns the set of team IDs.
func (v *validator) teams(teams []Team) map[string]bool {
	if len(teams) == 0 {
		v.add("teams", "at least one team is required")
	}
	ids := map[string]bool{}
	prefixes := map[string]string{} // prefix -> field that first used it
	agentIDs := map[string]string{}
	usernames := map[string]string{}
	for i := range teams {
		t := &teams[i]
		p := fmt.Sprintf("teams[%d]", i)
		if v.ident(p+".id", t.ID) {
			if ids[t.ID] {
				v.add(p+".id", "duplicate team id %q", t.ID)
			}
			ids[t.ID] = true
		}
		v.nonEmpty(p+".name", t.Name)
		switch t.Language {
		case "":
			t.Language = "en"
		case "en", "de":
		default:
			v.add(p+".language", "must be en or de (the languages prompts exist in)")
		}
		if t.TimeZone == "" {
			v.add(p+".time_zone", "must not be empty (an IANA time zone such as Europe/Berlin)")
		} else if loc, err := time.LoadLocation(t.TimeZone); err != nil {
			v.add(p+".time_zone", "unknown IANA time zone %q", t.TimeZone)
		} else {
			t.Location = loc
		}
		for j, pfx := range t.Prefixes {
			pp := fmt.Sprintf("%s.prefixes[%d]", p, j)
			if !isE164Prefix(pfx) {
				v.add(pp, "must be an E.164 prefix: '+' and 1 to 15 digits, such as +4930")
				continue
			}
			if first, dup := prefixes[pfx]; dup {
				v.add(pp, "prefix %s is already used by %s", pfx, first)
				continue
			}
			prefixes[pfx] = pp
		}
		for j := range t.Agents {
			v.agent(fmt.Sprintf("%s.agents[%d]", p, j), &t.Agents[j], agentIDs, usernames)
		}
		v.teamRouting(p, t)
	}
	return ids
}

func (v *validator) agent(p string, a *Agent, ids, usernames map[string]string) {
	if v.ident(p+".id", a.ID) {
		if first, dup := ids[a.ID]; dup {
			v.add(p+".id", "duplicate agent id %q (also %s)", a.ID, first)
		} else {
			ids[a.ID] = p + ".id"
		}
	}
	v.nonEmpty(p+".name", a.Name)
	if v.ident(p+".username", a.Username) {
		if first, dup := usernames[a.Username]; dup {
			v.add(p+".username", "duplicate username %q (also %s)", a.Username, first)
		} else {
			usernames[a.Username] = p + ".username"
		}
	}
	if a.PasswordEnv != "" {
		if secret, ok := v.env(a.PasswordEnv); ok && secret != "" {
			a.Password = secret
			return
		}
		if a.Password == "" {
			v.add(p+".password_env", "environment variable %s is not set or empty", a.PasswordEnv)
			return
		}
	}
	if a.Password == "" {
		v.add(p+".password", "must not be empty")
	}
}

func (v *validator) customers(cs []Customer, teams map[string]bool, refsOK bool, region string, regionOK bool) {
	numbers := map[string]string{}
	ids := map[string]string{}
	for i := range cs {
		c := &cs[i]
		p := fmt.Sprintf("customers[%d]", i)
		switch {
		case c.Number == "":
			v.add(p+".number", "must not be empty")
		case regionOK || strings.HasPrefix(strings.TrimSpace(c.Number), "+"):
			n, err := phone.Normalize(c.Number, region)
			if err != nil {
				v.add(p+".number", "%q is not a possible telephone number", c.Number)
				break
			}
			c.Number = n
			if first, dup := numbers[n]; dup {
				v.add(p+".number", "duplicate customer number %s (also %s)", n, first)
			} else {
				numbers[n] = p + ".number"
			}
		}
		derived := false
		if c.ID == "" && strings.HasPrefix(c.Number, "+") {
			c.ID = "cust-" + c.Number[1:]
			derived = true
		}
		if c.ID != "" && (derived || v.ident(p+".id", c.ID)) {
			first, dup := ids[c.ID]
			switch {
			case dup && derived && numbers[c.Number] != p+".number":
				// Same number twice: already reported as a duplicate number.
			case dup:
				v.add(p+".id", "duplicate customer id %q (also %s)", c.ID, first)
			default:
				ids[c.ID] = p + ".id"
			}
		}
		switch {
		case c.Team == "":
			v.add(p+".team", "must not be empty")
		case refsOK && len(teams) > 0 && !teams[c.Team]:
			v.add(p+".team", "must name a team; no team has id %q", c.Team)
		}
	}
}

func (v *validator) positive(field string, d time.Duration) {
	if d <= 0 {
		v.add(field, "must be greater than zero")
	}
}

func (v *validator) nonEmpty(field, s string) bool {
	if strings.TrimSpace(s) == "" {
		v.add(field, "must not be empty")
		return false
	}
	return true
}

// ident checks an identifier used in references, URLs and SIP user parts.
func (v *validator) ident(field, s string) bool {
	if s == "" {
		v.add(field, "must not be empty")
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '.' && r != '_' && r != '-' {
			v.add(field, "may contain only letters, digits, '.', '_' and '-'")
			return false
		}
	}
	return true
}

// token checks a non-empty value without spaces or control characters, such
// as a host name.
func (v *validator) token(field, s string) bool {
	if s == "" {
		v.add(field, "must not be empty")
		return false
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		v.add(field, "must not contain spaces or control characters")
		return false
	}
	return true
}

// headerSafe checks a value that goes into a SIP header as is.
func (v *validator) headerSafe(field, s string) {
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		v.add(field, "must not contain control characters")
	}
}

func (v *validator) hostPort(field, s string) {
	if s == "" {
		v.add(field, "must not be empty")
		return
	}
	if _, err := parseHostPort(s, false); err != nil {
		v.add(field, "must be host:port (%v)", err)
	}
}

// parseHostPort splits host:port and checks the port. With portOptional, a
// bare host is accepted and the port is 0.
func parseHostPort(s string, portOptional bool) (port int, err error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		if !portOptional {
			return 0, fmt.Errorf("missing port or malformed address")
		}
		host, ps = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ""
	}
	if strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == '/' || r == '@' }) {
		return 0, fmt.Errorf("malformed host")
	}
	if ps == "" {
		if portOptional {
			return 0, nil
		}
		return 0, fmt.Errorf("missing port")
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("port must be a number from 0 to 65535")
	}
	return p, nil
}

// splitOutbound reads a trunk's outbound address: "sip:host[:port]" (URI
// parameters allowed) or "host[:port]".
func splitOutbound(s string) (host string, port int, err error) {
	rest := s
	switch lower := strings.ToLower(rest); {
	case strings.HasPrefix(lower, "sips:"):
		return "", 0, fmt.Errorf("must be a sip: URI or host:port; sips: is not supported")
	case strings.HasPrefix(lower, "sip:"):
		rest = rest[4:]
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	if rest == "" {
		return "", 0, fmt.Errorf("must be a sip: URI or host:port; host is missing")
	}
	p, err := parseHostPort(rest, true)
	if err != nil {
		return "", 0, fmt.Errorf("must be a sip: URI or host:port (%w)", err)
	}
	if p == 0 {
		p = DefaultSIPPort
		host = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	} else {
		host, _, _ = net.SplitHostPort(rest)
	}
	if host == "" {
		return "", 0, fmt.Errorf("must be a sip: URI or host:port; host is missing")
	}
	return host, p, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// parseNetwork reads a CIDR prefix or a single address as a prefix.
func parseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// isE164Prefix reports whether s is '+' followed by 1 to 15 digits, the
// first not zero.
func isE164Prefix(s string) bool {
	if len(s) < 2 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	return isDigits(s[1:])
}
