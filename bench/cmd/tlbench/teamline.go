package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Teamline's media port range during the run: four ports per call (RTP and
// RTCP on both legs), below Linux's ephemeral range so that the harness's
// own sockets never take them.
const (
	mediaPortMin = 10000
	mediaPortMax = 31999
	// teamPrefix + 5 digits is each team's E.164 prefix; a caller number is
	// the prefix plus callerSuffix.
	teamPrefix   = "+4930"
	teamBase     = 10000
	callerSuffix = "12"
)

// env is the state shared by the parts of one run.
type env struct {
	o        *options
	root     string // module root
	work     string // work directory
	pin      bool
	sipp     string
	kamailio string
	logf     func(format string, args ...any)
	notes    []string

	dbURL    string
	pgDir    string // our own PostgreSQL cluster, if started
	password string // every agent's digest password; never printed

	tlBin   string
	tl      *proc
	tlSIP   int
	tlWS    int // SIP over WebSocket, for the browser part
	tlHTTP  int
	uasPort int
	pprof   string // Teamline's /debug/pprof base URL; "" when not served
}

func (e *env) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	e.notes = append(e.notes, n)
	e.logf("note: %s", n)
}

// buildTeamline compiles ./cmd/teamline into the work directory.
func (e *env) buildTeamline(ctx context.Context) error {
	e.tlBin = filepath.Join(e.work, "teamline")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", e.tlBin, "./cmd/teamline")
	cmd.Dir = e.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/teamline: %w\n%s", err, out)
	}
	return nil
}

// startDatabase uses DATABASE_URL, or starts a throwaway cluster with
// scripts/localpg.sh (on the load core, which this process is pinned to).
func (e *env) startDatabase(ctx context.Context) error {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		e.dbURL = u
		e.logf("database: DATABASE_URL")
		return nil
	}
	e.pgDir = filepath.Join(e.work, "pg")
	cmd := exec.CommandContext(ctx, filepath.Join(e.root, "scripts", "localpg.sh"), "start", e.pgDir)
	cmd.Stderr = nil
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("start PostgreSQL (scripts/localpg.sh start %s): %w", e.pgDir, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	e.dbURL = strings.TrimSpace(lines[len(lines)-1])
	e.logf("database: throwaway PostgreSQL in %s", e.pgDir)
	return nil
}

// stopDatabase stops the cluster startDatabase started.
func (e *env) stopDatabase() {
	if e.pgDir == "" {
		return
	}
	cmd := exec.Command(filepath.Join(e.root, "scripts", "localpg.sh"), "stop", e.pgDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.logf("stop PostgreSQL: %v: %s", err, tailString(string(out), 300))
	}
}

// newPassword returns a random digest password for the run's agents.
func newPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// agentName, teamID and callerNumber name agent/team i of the roster.
func agentName(i int) string    { return fmt.Sprintf("a%05d", i) }
func teamID(i int) string       { return fmt.Sprintf("t%05d", i) }
func prefixOf(i int) string     { return teamPrefix + strconv.Itoa(teamBase+i) }
func callerNumber(i int) string { return prefixOf(i) + callerSuffix }

// teamlineConfig writes the run's configuration: one team of one agent per
// caller prefix, so that every call rings exactly one agent (as a proxy
// forwards exactly one INVITE) and agents never limit concurrency. With
// wsPort not 0 it also serves SIP over WebSocket there (browser agents;
// the harness sends no Origin, so any listed origin will do).
func teamlineConfig(sipPort, wsPort, httpPort, agents int, password string) string {
	var b strings.Builder
	ws := ""
	if wsPort != 0 {
		ws = fmt.Sprintf("  ws: \"127.0.0.1:%d\"\n  ws_origins: [\"http://tlbench.invalid\"]\n", wsPort)
	}
	fmt.Fprintf(&b, `# Written by tlbench for one benchmark run.
sip:
  udp: "127.0.0.1:%d"
  tcp: ""
%s  domain: "teamline.bench"
  advertise_host: "127.0.0.1"
  digest_algorithms: ["MD5"]
media:
  bind_ip: "127.0.0.1"
  advertise_ip: "127.0.0.1"
  port_min: %d
  port_max: %d
  silence_timeout: 60s
http:
  listen: "127.0.0.1:%d"
  public_url: "http://127.0.0.1:%d"
calls:
  ring_timeout: 10s
  max_duration: 1h
# A call whose one agent is busy is refused (480) rather than offered a
# callback: the benchmark measures call handling, and the callback
# sentence would hold a media session for seconds per such call.
routing:
  fallback: "reject"
default_country: "DE"
default_team: "%s"
trunks:
  - name: "bench-trunk"
    networks: ["127.0.0.1/32"]
    outbound: "127.0.0.1:9"
teams:
`, sipPort, ws, mediaPortMin, mediaPortMax, httpPort, httpPort, teamID(0))
	for i := range agents {
		fmt.Fprintf(&b, "  - id: %q\n    name: \"Bench team %d\"\n    time_zone: \"Europe/Berlin\"\n    prefixes: [%q]\n    agents:\n      - {id: %q, name: \"Agent %d\", username: %q, password: %q}\n",
			teamID(i), i, prefixOf(i), agentName(i), i, agentName(i), password)
	}
	return b.String()
}

// startTeamline writes the config and starts Teamline on the SUT core with
// GOMAXPROCS=1, waiting until it serves.
func (e *env) startTeamline(ctx context.Context) error {
	var err error
	if e.tlSIP, err = freePort(true); err != nil {
		return err
	}
	if e.tlHTTP, err = freePort(true); err != nil {
		return err
	}
	// Browser agents get teams and accounts of their own after the SIPp
	// agents', registered only over WebSocket.
	teams := e.o.agents
	if !e.o.skip["browser"] {
		if e.tlWS, err = freePort(true); err != nil {
			return err
		}
		teams += maxOf(e.o.browser)
	}
	e.password = newPassword()
	cfgPath := filepath.Join(e.work, "teamline.yaml")
	if err := os.WriteFile(cfgPath, []byte(teamlineConfig(e.tlSIP, e.tlWS, e.tlHTTP, teams, e.password)), 0o600); err != nil {
		return fmt.Errorf("write teamline config: %w", err)
	}
	env := []string{"GOMAXPROCS=1", "DATABASE_URL=" + e.dbURL}
	// --pprof (loopback only): the media part forces a GC through it before
	// it measures memory per call, and -profile saves profiles from it.
	e.tl, err = startProc("teamline", e.pin, sutCore, env, e.work, filepath.Join(e.work, "teamline.log"),
		e.tlBin, "serve", "--config", cfgPath, "--log-format", "json", "--log-level", e.o.logLevel, "--pprof")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if e.tl.exited() {
			return fmt.Errorf("teamline exited at start:\n%s", e.tl.logTail(2000))
		}
		if strings.Contains(e.tl.logTail(1<<20), "teamline is serving") {
			e.logf("teamline serving: SIP udp 127.0.0.1:%d, ws %d, HTTP 127.0.0.1:%d, %d agents in %d teams", e.tlSIP, e.tlWS, e.tlHTTP, teams, teams)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("teamline did not start within 60s:\n%s", e.tl.logTail(2000))
}

// metricsURL is Teamline's Prometheus endpoint.
func (e *env) metricsURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.tlHTTP)) + "/metrics"
}

// writeInf writes a SIPp injection file.
func writeInf(path string, lines []string) error {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// startAgents starts the SIPp instance that answers for every agent, with
// the SDP port of each call taken from ports (cycled).
func (e *env) startAgents(name string, ports []int, logs bool) (*proc, string, error) {
	lines := make([]string, len(ports))
	for i, p := range ports {
		lines[i] = strconv.Itoa(p) + ";"
	}
	inf := filepath.Join(e.work, name+".csv")
	if err := writeInf(inf, lines); err != nil {
		return nil, "", err
	}
	mp, err := freeMediaPort()
	if err != nil {
		return nil, "", err
	}
	var extra []string
	if !logs {
		// Call rate steps: a call the caller gave up on ends here too,
		// rather than waiting for a BYE forever. Media calls hold longer.
		extra = []string{"-recv_timeout", "30000"}
	}
	p, dir, err := startSIPp(e, sippSpec{
		name: name, scenario: filepath.Join(e.root, "bench", "sipp", "agents.xml"),
		port: e.uasPort, mediaPort: mp, inf: inf, logs: logs, extra: extra,
	})
	if err != nil {
		return nil, "", err
	}
	if err := waitUDPBound(e.uasPort, p, 5*time.Second); err != nil {
		p.stop(time.Second)
		return nil, "", fmt.Errorf("agents SIPp: %w\n%s", err, p.logTail(1000))
	}
	return p, dir, nil
}

// waitUDPBound waits until something listens on the UDP port.
func waitUDPBound(port int, p *proc, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited with code %d", p.exitCode())
		}
		pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return nil // taken: bound
		}
		pc.Close()
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("port %d not bound within %s", port, within)
}

// registerAgents registers every agent's Contact at the agents' SIPp.
func (e *env) registerAgents(ctx context.Context) (registered int, err error) {
	lines := make([]string, e.o.agents)
	for i := range lines {
		lines[i] = agentName(i) + ";-;[authentication username=" + agentName(i) + " password=" + e.password + "];"
	}
	inf := filepath.Join(e.work, "register.csv")
	if err := writeInf(inf, lines); err != nil {
		return 0, err
	}
	port, err := freePort(false)
	if err != nil {
		return 0, err
	}
	mp, err := freeMediaPort()
	if err != nil {
		return 0, err
	}
	rate := 1000
	timeout := time.Duration(e.o.agents/rate+30) * time.Second
	p, dir, err := startSIPp(e, sippSpec{
		name: "register", scenario: filepath.Join(e.root, "bench", "sipp", "register.xml"),
		remote: net.JoinHostPort("127.0.0.1", strconv.Itoa(e.tlSIP)), port: port, mediaPort: mp, inf: inf,
		keys: map[string]string{"contact_port": strconv.Itoa(e.uasPort), "domain": "teamline.bench"},
		rate: rate, calls: e.o.agents, limit: 500, timeout: timeout,
	})
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	if err := p.wait(wctx); err != nil {
		p.stop(2 * time.Second)
		return 0, err
	}
	st, err := readSIPpStats(filepath.Join(dir, "stat.csv"))
	if err != nil {
		return 0, fmt.Errorf("registration: %w\n%s", err, p.logTail(1000))
	}
	return st.Successful, nil
}
