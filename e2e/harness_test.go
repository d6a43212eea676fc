package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/internal/app"
	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/internal/pgtest"
	"github.com/teamline/teamline/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Agents and customers of the test roster.
const (
	erika      = "+4930123456" // customer of team berlin
	erikaID    = "cust-erika"
	stranger   = "+4940555000" // no customer record; prefix of team hamburg
	passAnna   = "anna-secret-1"
	passAlex   = "alex-secret-2"
	passHans   = "hans-secret-3"
	passBarbie = "barbie-secret-4"
	passKai    = "kai-secret-5"
	passNora   = "nora-secret-6"
	apiToken   = "e2e-api-token-0123456789"
)

// teamline is one Teamline started for one test, with its own database,
// ports and roster.
type teamline struct {
	t    testing.TB
	app  *app.App
	port int // SIP port, UDP and TCP
	sip  string
	cfg  *config.Config
}

const rosterYAML = `
sip:
  udp: "127.0.0.1:%[1]d"
  tcp: "127.0.0.1:%[1]d"
  domain: "teamline.test"
  advertise_host: "127.0.0.1"
media:
  bind_ip: "127.0.0.1"
  advertise_ip: "127.0.0.1"
  port_min: %[2]d
  port_max: %[3]d
  silence_timeout: %[4]s
  prompts: "%[10]s"
http:
  listen: "%[14]s"
  public_url: "http://127.0.0.1:8080"
  api_token: "` + apiToken + `"
calls:
  ring_timeout: %[5]s
routing:
  affinity_ring: %[6]s
  wave_size: %[7]d
  wave_ring: %[8]s
  all_ring: %[8]s
  fallback: "%[11]s"
  national_pool: "national"
callbacks:
  slot_length: %[13]s
  lead_time: %[18]s
  retry_delay: %[15]s
  no_agent_retry: %[16]s
  attempt_timeout: %[17]s
  caller_id: "+4930555000"
default_country: "DE"
default_team: "berlin"
trunks:
  - name: "test-trunk"
    networks: ["127.0.0.1/32"]
    outbound: "%[12]s"
teams:
  - id: "berlin"
    name: "Team Berlin"
    region: "Berlin"
    time_zone: "Europe/Berlin"
    prefixes: ["+4930"]
    wrap_up: %[9]s
    agents:
      - {id: "anna", name: "Anna Schmidt", username: "anna", password: "` + passAnna + `"}
      - {id: "alex", name: "Alex Weber", username: "alex", password: "` + passAlex + `"}
      - {id: "barbie", name: "Barbara Kern", username: "barbie", password: "` + passBarbie + `"}
  - id: "hamburg"
    name: "Team Hamburg"
    region: "Hamburg"
    time_zone: "Europe/Berlin"
    prefixes: ["+4940"]
    agents:
      - {id: "hans", name: "Hans Meyer", username: "hans", password: "` + passHans + `"}
  - id: "kiel"
    name: "Team Kiel"
    region: "Kiel"
    time_zone: "Europe/Berlin"
    prefixes: ["+49431"]
    # Never open: every call goes to the national pool.
    hours: {mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: []}
    agents:
      - {id: "kai", name: "Kai Paulsen", username: "kai", password: "` + passKai + `"}
  - id: "national"
    name: "National pool"
    region: "Germany"
    time_zone: "Europe/Berlin"
    hours: {always: true}
    agents:
      - {id: "nora", name: "Nora Lang", username: "nora", password: "` + passNora + `"}
customers:
  - {id: "` + erikaID + `", number: "` + erika + `", name: "Erika Musterfrau", team: "berlin"}
`

type tlOptions struct {
	ringTimeout    time.Duration
	silenceTimeout time.Duration
	affinityRing   time.Duration
	waveSize       int
	waveRing       time.Duration
	wrapUp         time.Duration
	// fallback is the routing fallback: reject (default) or callback.
	fallback string
	// leadTime is the callbacks' lead time (default 0: due at the next slot).
	leadTime time.Duration
	// edit changes the loaded configuration before Teamline starts.
	edit func(*config.Config)
	// trunkOutbound is where Teamline's own calls go (default: nowhere
	// useful); slotLength is the callback slot (default 15m).
	trunkOutbound string
	slotLength    time.Duration
	// databaseURL replaces the fresh test database (a cluster the test
	// stops and starts, say).
	databaseURL string
	// retryDelay, noAgentRetry and attemptTimeout are the callback dialer's
	// callbacks.retry_delay (default 10m), no_agent_retry (default 30s) and
	// attempt_timeout (default 3m).
	retryDelay     time.Duration
	noAgentRetry   time.Duration
	attemptTimeout time.Duration
	// httpListen is the HTTP listen address (default 127.0.0.1:0); a
	// teamline process the test starts needs a known port.
	httpListen string
}

// startTeamline writes a config for free ports, starts Teamline in process
// against a fresh database and stops it at cleanup.
func startTeamline(t testing.TB, o tlOptions) *teamline {
	t.Helper()
	path, port := writeConfig(t, o)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	cfg.Database.URL = o.databaseURL
	if cfg.Database.URL == "" {
		cfg.Database.URL = pgtest.URL(t)
	}
	if o.edit != nil {
		o.edit(cfg)
	}

	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	if os.Getenv("TEAMLINE_TEST_DEBUG") != "" {
		log = log.Level(zerolog.DebugLevel)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Start(ctx, cfg, log, app.Options{})
	if err != nil {
		cancel()
		t.Fatalf("start teamline: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := a.Wait(); err != nil {
			t.Errorf("teamline stopped with: %v", err)
		}
	})
	return &teamline{t: t, app: a, port: port, sip: fmt.Sprintf("127.0.0.1:%d", port), cfg: cfg}
}

// writeConfig fills in o's defaults, writes a config file for free SIP and
// media ports into a temporary directory and returns its path and the SIP
// port. It sets no database: startTeamline and the processes a test starts
// supply it.
func writeConfig(t testing.TB, o tlOptions) (path string, sipPort int) {
	t.Helper()
	if o.ringTimeout == 0 {
		o.ringTimeout = 10 * time.Second
	}
	if o.silenceTimeout == 0 {
		o.silenceTimeout = 20 * time.Second
	}
	if o.affinityRing == 0 {
		o.affinityRing = 2 * time.Second
	}
	if o.waveSize == 0 {
		o.waveSize = 3
	}
	if o.waveRing == 0 {
		o.waveRing = 4 * time.Second
	}
	port := peer.FreeSIPPort(t)
	first := peer.FreePortRange(t, 41)
	if first%2 == 1 {
		first++
	}
	path = filepath.Join(t.TempDir(), "teamline.yaml")
	if o.fallback == "" {
		o.fallback = "reject"
	}
	if o.trunkOutbound == "" {
		o.trunkOutbound = "127.0.0.1:9"
	}
	if o.slotLength == 0 {
		o.slotLength = 15 * time.Minute
	}
	if o.retryDelay == 0 {
		o.retryDelay = config.DefaultCallbackRetry
	}
	if o.noAgentRetry == 0 {
		o.noAgentRetry = config.DefaultNoAgentRetry
	}
	if o.attemptTimeout == 0 {
		o.attemptTimeout = config.DefaultAttemptTimeout
	}
	if o.httpListen == "" {
		o.httpListen = "127.0.0.1:0"
	}
	root, err := peer.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(rosterYAML, port, first, first+39, o.silenceTimeout, o.ringTimeout,
		o.affinityRing, o.waveSize, o.waveRing, o.wrapUp, filepath.Join(root, "configs", "prompts"), o.fallback,
		o.trunkOutbound, o.slotLength, o.httpListen, o.retryDelay, o.noAgentRetry, o.attemptTimeout, o.leadTime)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, port
}

// sippAgent is an agent taking calls with SIPp: one instance answers (or
// only rings), another registered its contact with digest auth.
type sippAgent struct {
	uas *peer.SIPpProcess
	rtp *peer.RTPEndpoint
}

// startSIPpAgent registers username with the given password and starts the
// UAS scenario that takes its calls.
func (tl *teamline) startSIPpAgent(t testing.TB, username, password, scenario string, keys map[string]string) *sippAgent {
	t.Helper()
	return tl.startSIPpAgentCalls(t, username, password, scenario, keys, 1)
}

// register runs the REGISTER scenario for username, binding the contact at
// contactPort, and checks the expected final status.
func (tl *teamline) register(t testing.TB, username, password string, contactPort int, expect string) {
	t.Helper()
	keys := map[string]string{
		"user":         username,
		"password":     password,
		"contact_port": fmt.Sprint(contactPort),
		"expect":       expect,
	}
	reg := peer.StartSIPp(t, peer.SIPpOptions{Scenario: "register.xml", Remote: tl.sip, Keys: keys, Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if code, err := reg.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("REGISTER %s (expect %s): sipp exit %d, %v\n%s", username, expect, code, err, reg.Messages())
	}
}

// lastCall waits until the call log has written the end of the latest call
// from a customer and returns its record.
func (tl *teamline) lastCall(t testing.TB, customerID string) store.Call {
	t.Helper()
	return tl.endedCall(t, "customer "+customerID, func(ctx context.Context) ([]store.Call, error) {
		return tl.app.Store.RecentCalls(ctx, customerID, 1)
	})
}

// callBySIPCallID waits until the call with this SIP Call-ID has its end
// written and returns its record.
func (tl *teamline) callBySIPCallID(t testing.TB, sipCallID string) store.Call {
	t.Helper()
	return tl.endedCall(t, "Call-ID "+sipCallID, func(ctx context.Context) ([]store.Call, error) {
		return tl.app.Store.CallsBySIPCallID(ctx, sipCallID)
	})
}

// endedCall polls (the call log writes asynchronously, in batches) until
// fetch returns exactly one call whose end is recorded; its trace is
// written before its end, so it is complete too.
func (tl *teamline) endedCall(t testing.TB, what string, fetch func(context.Context) ([]store.Call, error)) store.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		calls, err := fetch(ctx)
		if err != nil {
			t.Fatalf("call records of %s: %v", what, err)
		}
		if len(calls) == 1 && calls[0].EndedAt != nil {
			return calls[0]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no ended call record for %s (have %+v)", what, calls)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func testLog(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// startSIPpAgentCalls is startSIPpAgent for an agent that takes several
// calls.
func (tl *teamline) startSIPpAgentCalls(t testing.TB, username, password, scenario string, keys map[string]string, calls int) *sippAgent {
	t.Helper()
	rtp := peer.NewRTPEndpoint(t)
	k := map[string]string{}
	if scenario == "agent_answer.xml" {
		k["rtp_port"] = fmt.Sprint(rtp.Port())
	}
	for n, v := range keys {
		k[n] = v
	}
	uas := peer.StartSIPp(t, peer.SIPpOptions{Scenario: scenario, Keys: k, Calls: calls, Timeout: 40 * time.Second})
	tl.register(t, username, password, uas.Port(), "200")
	return &sippAgent{uas: uas, rtp: rtp}
}

// waitAgentState waits until the agent's live state has the given token.
func (tl *teamline) waitAgentState(t testing.TB, agentID, token string) {
	t.Helper()
	waitFor(t, waitCtx(t, 10*time.Second), "agent "+agentID+" to be "+token, func() bool {
		return tl.app.Presence.Status(agentID).State.Token() == token
	})
}

// waitFor polls cond every 50 ms until it holds, and fails the test when
// ctx ends first. (Agent states, records and received audio have no event
// a test could wait on.)
func waitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sippCallID returns the Call-ID of a SIPp UAC's (first) call.
func sippCallID(t testing.TB, p *peer.SIPpProcess) string {
	t.Helper()
	for _, line := range strings.Split(p.Messages(), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Call-ID: "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Call-ID in the SIPp trace")
	return ""
}
