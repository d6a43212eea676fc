package config

import (
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults for every field that may be omitted from the file.
const (
	// DefaultSIPUDP is the default UDP listen address for SIP.
	DefaultSIPUDP = "0.0.0.0:5060"
	// DefaultSIPTCP is the default TCP listen address for SIP.
	DefaultSIPTCP = "0.0.0.0:5060"
	// DefaultSIPDomain is the default SIP domain, also the digest realm.
	DefaultSIPDomain = "teamline.local"
	// DefaultSIPAdvertiseHost is the default host written into Via and Contact.
	DefaultSIPAdvertiseHost = "127.0.0.1"
	// DefaultSIPUserAgent is the default User-Agent and Server header value.
	DefaultSIPUserAgent = "Teamline"
	// DefaultMediaBindIP is the default address RTP sockets bind to.
	DefaultMediaBindIP = "0.0.0.0"
	// DefaultMediaAdvertiseIP is the default address written into SDP.
	DefaultMediaAdvertiseIP = "127.0.0.1"
	// DefaultMediaPortMin is the default lowest RTP port (even).
	DefaultMediaPortMin = 20000
	// DefaultMediaPortMax is the default highest RTP/RTCP port.
	DefaultMediaPortMax = 20999
	// DefaultSilenceTimeout is how long a call may carry no RTP before it is ended.
	DefaultSilenceTimeout = 30 * time.Second
	// DefaultHTTPListen is the default listen address of the HTTP API and pages.
	DefaultHTTPListen = "0.0.0.0:8080"
	// DefaultHTTPPublicURL is the default base URL of links handed to agents.
	DefaultHTTPPublicURL = "http://127.0.0.1:8080"
	// DefaultRingTimeout is the default longest time a caller waits while
	// agents ring, over all steps of the routing plan.
	DefaultRingTimeout = 2 * time.Minute
	// DefaultMaxCallDuration is the default longest call before Teamline hangs up.
	DefaultMaxCallDuration = 4 * time.Hour
	// DefaultCountry is the default region for numbers written without a
	// country code (ISO 3166-1 alpha-2).
	DefaultCountry = "DE"
	// DefaultTeam is the default team for callers that match no customer and
	// no prefix.
	DefaultTeam = "berlin"
	// DatabaseURLEnv is the environment variable that overrides database.url.
	DatabaseURLEnv = "DATABASE_URL"
	// APITokenEnv is the environment variable that overrides http.api_token.
	APITokenEnv = "TEAMLINE_API_TOKEN"
	// DefaultSIPPort is the port assumed for a trunk's outbound address that
	// names none (RFC 3261 section 19.1.2).
	DefaultSIPPort = 5060
)

// redactedMark replaces secrets in Redacted.
const redactedMark = "REDACTED"

// Config is the whole configuration of one Teamline process, as read from one
// YAML file by Load. After Load it is validated: addresses parse, references
// resolve, customer numbers are E.164 and secrets are resolved from the
// environment.
type Config struct {
	// SIP configures the SIP transports and identity.
	SIP SIP `yaml:"sip"`
	// Media configures the RTP relay.
	Media Media `yaml:"media"`
	// HTTP configures the API, the agent console and the wallboard.
	HTTP HTTP `yaml:"http"`
	// Database configures the PostgreSQL connection.
	Database Database `yaml:"database"`
	// Calls holds limits that apply to every call.
	Calls Calls `yaml:"calls"`
	// Routing holds the routing defaults every team inherits, and the
	// national pool.
	Routing Routing `yaml:"routing"`
	// Callbacks configures callback slots and the callback dialer.
	Callbacks Callbacks `yaml:"callbacks"`
	// DefaultCountry is the ISO 3166-1 alpha-2 region ("DE") used to read
	// numbers written without a country code, in this file and in caller IDs.
	DefaultCountry string `yaml:"default_country"`
	// DefaultTeam is the ID of the team that takes calls matching no customer
	// and no prefix.
	DefaultTeam string `yaml:"default_team"`
	// Trunks are the carriers allowed to send calls in and receive calls out.
	Trunks []Trunk `yaml:"trunks"`
	// Teams are the hotline teams and their agents.
	Teams []Team `yaml:"teams"`
	// Customers assign known callers to teams.
	Customers []Customer `yaml:"customers"`
	// Source is the name of the file the configuration was read from; empty
	// for Default.
	Source string `yaml:"-"`
}

// SIP configures the SIP transports and identity.
type SIP struct {
	// UDP is the host:port to listen on for SIP over UDP; empty disables UDP.
	UDP string `yaml:"udp"`
	// TCP is the host:port to listen on for SIP over TCP; empty disables TCP.
	TCP string `yaml:"tcp"`
	// WS is the host:port for SIP over WebSocket (RFC 7118, browser agents);
	// empty disables it.
	WS string `yaml:"ws"`
	// WSS is the host:port for SIP over secure WebSocket; empty disables it.
	WSS string `yaml:"wss"`
	// TLSCert and TLSKey are PEM files of the WSS certificate, relative to
	// the configuration file's directory unless absolute. When both files
	// are missing, Teamline writes a self-signed pair there (for demos).
	TLSCert string `yaml:"tls_cert"`
	// TLSKey is the private key of TLSCert.
	TLSKey string `yaml:"tls_key"`
	// WSOrigins are the page origins ("https://console.example.com") whose
	// browsers may open a SIP WebSocket; "*" allows any.
	WSOrigins []string `yaml:"ws_origins"`
	// Domain is the SIP domain agents register in (sip:anna@Domain); it is
	// also the digest realm unless Realm is set.
	Domain string `yaml:"domain"`
	// Realm overrides the digest authentication realm; empty means Domain.
	Realm string `yaml:"realm"`
	// AdvertiseHost is the host (name or IP) written into Via, Contact and
	// Record-Route, reachable by trunks and agents; never 0.0.0.0.
	AdvertiseHost string `yaml:"advertise_host"`
	// UserAgent is the value of the User-Agent and Server headers.
	UserAgent string `yaml:"user_agent"`
	// DigestAlgorithms are the digest algorithms offered to agents, in order
	// of preference: "MD5" and "SHA-256" (RFC 8760). Many phones (baresip
	// 1.0, JsSIP, SIP.js, SIPp) reject a challenge list that contains
	// SHA-256, so the default offers MD5 only.
	DigestAlgorithms []string `yaml:"digest_algorithms"`
	// FloodRate and FloodBurst limit the requests one source address
	// outside the trunks may send: FloodRate per second on average, up to
	// FloodBurst at once (a token bucket); more are dropped unanswered.
	FloodRate  float64 `yaml:"flood_rate"`
	FloodBurst int     `yaml:"flood_burst"`
}

// DigestRealm returns the realm used for digest authentication: Realm when
// set, Domain otherwise.
func (s SIP) DigestRealm() string {
	if s.Realm != "" {
		return s.Realm
	}
	return s.Domain
}

// Media configures the RTP relay.
type Media struct {
	// BindIP is the local address RTP sockets bind to.
	BindIP string `yaml:"bind_ip"`
	// AdvertiseIP is the address written into SDP (c= line), reachable by
	// trunks and agents; never 0.0.0.0.
	AdvertiseIP string `yaml:"advertise_ip"`
	// PortMin is the lowest RTP port; it must be even (RTP on even ports, RTCP
	// on the next odd one, RFC 3550 section 11).
	PortMin int `yaml:"port_min"`
	// PortMax is the highest port the relay may use; greater than PortMin.
	PortMax int `yaml:"port_max"`
	// SilenceTimeout ends a call when no RTP arrived for this long
	// (duration string such as "30s").
	SilenceTimeout time.Duration `yaml:"silence_timeout"`
	// Prompts is the directory of the spoken prompts (made by `make
	// prompts`), relative to the configuration file's directory unless
	// absolute.
	Prompts string `yaml:"prompts"`
}

// Path resolves a path from the configuration against the directory of the
// configuration file, unless it is absolute or empty.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Source == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Source), p)
}

// PromptsDir returns the prompts directory resolved against the directory
// of the configuration file.
func (c *Config) PromptsDir() string { return c.Path(c.Media.Prompts) }

// HTTP configures the API, the agent console and the wallboard.
type HTTP struct {
	// Listen is the host:port the HTTP server listens on.
	Listen string `yaml:"listen"`
	// PublicURL is the base URL agents' browsers and phones reach Teamline at;
	// Call-Info history links are built from it. It is stored without a
	// trailing slash.
	PublicURL string `yaml:"public_url"`
	// APIToken is the bearer token the HTTP API requires. The
	// TEAMLINE_API_TOKEN environment variable, when set, wins over the file.
	// A secret: never log it; Config.Redacted hides it.
	APIToken string `yaml:"api_token"`
}

// Database configures the PostgreSQL connection.
type Database struct {
	// URL is the PostgreSQL connection string (URL or key=value form). The
	// DATABASE_URL environment variable, when set, wins over the file.
	// Empty means none is configured (`make run` then starts its own).
	URL string `yaml:"url"`
}

// Calls holds limits that apply to every call.
type Calls struct {
	// RingTimeout is the longest a caller waits while agents ring, over all
	// steps of the routing plan, before the plan's fallback (duration string
	// such as "2m"); each step rings for its own time within it.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// MaxDuration is the longest a call may last before Teamline ends it
	// (duration string such as "4h").
	MaxDuration time.Duration `yaml:"max_duration"`
}

// Trunk is a carrier that may send calls to Teamline and receives the calls
// Teamline places (callbacks).
type Trunk struct {
	// Name identifies the trunk in logs and call records.
	Name string `yaml:"name"`
	// Networks are the source addresses the trunk's INVITEs may come from,
	// each a CIDR prefix ("10.0.0.0/8") or a single IP ("127.0.0.1").
	Networks []string `yaml:"networks"`
	// Outbound is where outbound calls go: a SIP URI ("sip:127.0.0.1:5070")
	// or host:port. A missing port means 5060.
	Outbound string `yaml:"outbound"`
	// Sources are Networks parsed at load time.
	Sources []netip.Prefix `yaml:"-"`
}

// Allows reports whether a request from addr may come from this trunk.
func (t *Trunk) Allows(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range t.Sources {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// OutboundHostPort returns the host:port outbound calls are sent to, with the
// default SIP port when Outbound names none.
func (t *Trunk) OutboundHostPort() string {
	host, port, _ := splitOutbound(t.Outbound)
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Team is a group of agents that serves callers of one region.
type Team struct {
	// ID identifies the team in references (default_team, customers) and URLs;
	// letters, digits, '.', '_' and '-'.
	ID string `yaml:"id"`
	// Name is the team's display name.
	Name string `yaml:"name"`
	// Region is a free-text description of the area the team serves.
	Region string `yaml:"region"`
	// TimeZone is the IANA time zone of the team's working hours
	// ("Europe/Berlin").
	TimeZone string `yaml:"time_zone"`
	// Prefixes are E.164 number prefixes ("+4930") whose callers the team
	// serves; the longest matching prefix over all teams wins.
	Prefixes []string `yaml:"prefixes"`
	// Language is the language of the team's spoken prompts: "en" or "de";
	// empty means "en".
	Language string `yaml:"language"`
	// Agents are the team's members.
	Agents []Agent `yaml:"agents"`
	// Hours are the team's weekly opening hours; a team without any range
	// is open around the clock.
	Hours Hours `yaml:"hours"`
	// Exceptions are dated days with other hours: holidays (closed) or
	// special opening hours.
	Exceptions []Exception `yaml:"exceptions"`
	// WrapUp is how long an agent of this team stays unavailable after each
	// call; zero means routing.wrap_up.
	WrapUp time.Duration `yaml:"wrap_up"`
	// Routing overrides the global routing defaults for this team; zero
	// fields inherit.
	Routing TeamRouting `yaml:"routing"`
	// Neighbours are the teams that take this team's calls in storm mode, in
	// order, each up to a cap of concurrent overflow calls.
	Neighbours []Neighbour `yaml:"neighbours"`
	// Storm configures when the team counts as swamped and what happens to
	// its new calls then.
	Storm Storm `yaml:"storm"`
	// Callbacks overrides the global callback slot settings for this team;
	// zero fields inherit.
	Callbacks TeamCallbacks `yaml:"callbacks"`
	// Location is TimeZone loaded at load time.
	Location *time.Location `yaml:"-"`
}

// Agent is a person who answers calls, with their SIP credentials.
type Agent struct {
	// ID identifies the agent, unique over all teams.
	ID string `yaml:"id"`
	// Name is the agent's display name.
	Name string `yaml:"name"`
	// Username is the SIP/digest user name the agent registers with, unique
	// over all teams.
	Username string `yaml:"username"`
	// Password is the SIP digest password. After Load it holds the resolved
	// secret (from PasswordEnv when that variable is set). Never log it; use
	// Config.Redacted.
	Password string `yaml:"password"`
	// PasswordEnv names an environment variable holding the password; when
	// the variable is set and non-empty it wins over Password.
	PasswordEnv string `yaml:"password_env"`
}

// Customer assigns a known caller to a team.
type Customer struct {
	// ID identifies the customer; when omitted it is derived from Number
	// ("cust-4930123456").
	ID string `yaml:"id"`
	// Number is the customer's telephone number; it is normalised to E.164
	// with DefaultCountry at load time.
	Number string `yaml:"number"`
	// Name is the customer's display name.
	Name string `yaml:"name"`
	// Team is the ID of the team that serves the customer.
	Team string `yaml:"team"`
	// OptedOut marks a customer who asked not to be routed to their team;
	// their calls go to the national pool.
	OptedOut bool `yaml:"opted_out"`
}

// Default returns the configuration used for every field the file omits.
// It has no trunks, teams or customers, so it does not validate by itself.
func Default() Config {
	return Config{
		SIP: SIP{
			UDP:              DefaultSIPUDP,
			TCP:              DefaultSIPTCP,
			Domain:           DefaultSIPDomain,
			AdvertiseHost:    DefaultSIPAdvertiseHost,
			UserAgent:        DefaultSIPUserAgent,
			DigestAlgorithms: []string{"MD5"},
			FloodRate:        20,
			FloodBurst:       60,
		},
		Media: Media{
			BindIP:         DefaultMediaBindIP,
			AdvertiseIP:    DefaultMediaAdvertiseIP,
			PortMin:        DefaultMediaPortMin,
			PortMax:        DefaultMediaPortMax,
			SilenceTimeout: DefaultSilenceTimeout,
			Prompts:        "prompts",
		},
		HTTP: HTTP{
			Listen:    DefaultHTTPListen,
			PublicURL: DefaultHTTPPublicURL,
		},
		Calls: Calls{
			RingTimeout: DefaultRingTimeout,
			MaxDuration: DefaultMaxCallDuration,
		},
		Routing:        DefaultRouting(),
		Callbacks:      DefaultCallbacks(),
		DefaultCountry: DefaultCountry,
		DefaultTeam:    DefaultTeam,
	}
}

// TrunkFor returns the first trunk whose networks contain addr.
func (c *Config) TrunkFor(addr netip.Addr) (*Trunk, bool) {
	for i := range c.Trunks {
		if c.Trunks[i].Allows(addr) {
			return &c.Trunks[i], true
		}
	}
	return nil, false
}

// Redacted returns a deep copy of c that is safe to log: agent passwords, the
// API token and the database password are replaced by "REDACTED".
func (c *Config) Redacted() Config {
	r := *c
	r.Database.URL = redactDatabaseURL(c.Database.URL)
	if r.HTTP.APIToken != "" {
		r.HTTP.APIToken = redactedMark
	}
	r.Trunks = make([]Trunk, len(c.Trunks))
	for i, t := range c.Trunks {
		t.Networks = append([]string(nil), t.Networks...)
		t.Sources = append([]netip.Prefix(nil), t.Sources...)
		r.Trunks[i] = t
	}
	r.Teams = make([]Team, len(c.Teams))
	for i, t := range c.Teams {
		t.Prefixes = append([]string(nil), t.Prefixes...)
		agents := make([]Agent, len(t.Agents))
		for j, a := range t.Agents {
			if a.Password != "" {
				a.Password = redactedMark
			}
			agents[j] = a
		}
		t.Agents = agents
		t.Hours = t.Hours.clone()
		t.Exceptions = cloneExceptions(t.Exceptions)
		t.Neighbours = append([]Neighbour(nil), t.Neighbours...)
		r.Teams[i] = t
	}
	r.Customers = append([]Customer(nil), c.Customers...)
	return r
}

// dsnPassword finds the password in a key=value connection string.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

func redactDatabaseURL(s string) string {
	if s == "" {
		return s
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			// Unparsable: it may still hold a secret, so hide all of it.
			return redactedMark
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redactedMark)
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", redactedMark)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return dsnPassword.ReplaceAllString(s, "${1}"+redactedMark)
}
