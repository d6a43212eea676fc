package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// run is the whole harness; it returns the exit code. Only a harness
// failure (no SIPp, Teamline does not start) is non-zero, never a figure.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		if strings.Contains(err.Error(), "help requested") {
			return 0
		}
		fmt.Fprintln(stderr, "tlbench:", err)
		return 2
	}
	if done, code := pinSelf(args); done {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	started := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "tlbench %5.1fs: %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, a...))
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(stderr, "tlbench:", err)
		return 1
	}
	mach := describeMachine()
	e := &env{o: o, root: root, pin: mach.Pinned, logf: logf}
	res := &results{
		Started: started, Quick: o.quick, Machine: mach, Commit: gitCommit(root),
		Settings: settings{Rates: o.rates, Step: o.step.String(), Hold: o.hold.String(), Agents: o.agents,
			Media: o.media, MediaWindow: o.mediaWindow.String(), Browser: o.browser, BrowserSetupRate: o.browserRate,
			Benchtime: o.benchtime},
	}
	logf("%d cores, %s; %s", mach.Cores, mach.CPUModel, mach.Pinning)
	if msg := raiseStackLimit(); msg != "" {
		e.note("%s", msg)
	}
	if res := coarseClockRes(); res > time.Millisecond {
		e.note("SIPp reads a coarse clock that ticks every %s here: its INVITE->180/200 times are multiples of it (0 means under one tick)", res)
	}

	code := e.runAll(ctx, res)
	res.Seconds = time.Since(started).Seconds()
	res.Notes = e.notes
	res.evaluate()
	res.printTable(stdout)
	path, err := res.writeJSON(filepath.Join(root, o.out))
	if err != nil {
		fmt.Fprintln(stderr, "tlbench:", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", path)
	return code
}

// runAll runs the parts in order, cleaning up whatever it started.
func (e *env) runAll(ctx context.Context, res *results) int {
	var err error
	e.work, err = os.MkdirTemp("", "tlbench-")
	if err != nil {
		e.logf("work directory: %v", err)
		return 1
	}
	// PostgreSQL runs as the postgres user when we are root: it must be able
	// to enter the directory, or localpg.sh moves the cluster to /tmp.
	if err := os.Chmod(e.work, 0o755); err != nil {
		e.logf("work directory: %v", err)
		return 1
	}
	if e.o.keep {
		e.logf("work directory (kept): %s", e.work)
	} else {
		defer os.RemoveAll(e.work)
	}
	if e.sipp, err = ensureTool(ctx, "sipp", "sip-tester", e.o.install, e.logf); err != nil {
		e.logf("%v", err)
		return 1
	}
	if !e.o.skip["kamailio"] {
		if e.kamailio, err = ensureTool(ctx, "kamailio", "kamailio", e.o.install, e.logf); err != nil {
			e.note("Kamailio reference skipped: %v", err)
		}
	}
	needTeamline := !e.o.skip["teamline"] || !e.o.skip["kamailio"] || !e.o.skip["media"] || !e.o.skip["browser"]
	if needTeamline {
		if code := e.runTeamlineParts(ctx, res); code != 0 {
			return code
		}
	}
	if !e.o.skip["micro"] && ctx.Err() == nil {
		m := e.runMicro(ctx)
		res.Micro = &m
	}
	return 0
}

// runTeamlineParts runs the call rate (Teamline, then Kamailio), media and
// browser parts, which share one Teamline, one database and the registered
// agents.
func (e *env) runTeamlineParts(ctx context.Context, res *results) int {
	e.logf("building teamline")
	if err := e.buildTeamline(ctx); err != nil {
		e.logf("%v", err)
		return 1
	}
	if err := e.startDatabase(ctx); err != nil {
		e.logf("%v", err)
		return 1
	}
	defer e.stopDatabase()
	var err error
	if e.uasPort, err = freePort(false); err != nil {
		e.logf("%v", err)
		return 1
	}
	if err := e.startTeamline(ctx); err != nil {
		e.logf("%v", err)
		return 1
	}
	defer func() {
		e.tl.stop(15 * time.Second)
		if e.o.keep {
			e.logf("teamline log: %s", e.tl.log)
		}
	}()
	pprof := e.pprofBase()
	if e.o.profile && pprof == "" {
		e.note("-profile: Teamline serves no /debug/pprof on its HTTP port (started with --pprof); no profiles saved")
	}
	e.pprof = pprof
	if !e.o.profile {
		pprof = ""
	}

	agents := &uas{e: e, name: "agents"}
	if err := agents.start(); err != nil {
		e.logf("%v", err)
		return 1
	}
	defer func() { agents.stop() }()
	e.logf("registering %d agents", e.o.agents)
	n, err := e.registerAgents(ctx)
	if err != nil {
		e.logf("register agents: %v", err)
		return 1
	}
	if n < e.o.agents {
		e.note("only %d of %d agents registered; calls to the others fail with 480", n, e.o.agents)
	}
	e.logf("%d agents registered", n)
	if scrapeOK(e.metricsURL()) {
		e.logf("goroutines from %s", e.metricsURL())
	} else {
		e.note("Teamline has no go_goroutines on /metrics yet: the table shows OS threads (from /proc) instead")
	}

	if !e.o.skip["teamline"] {
		r := e.runRates(ctx, rateTarget{name: "teamline", sipPort: e.tlSIP, pgid: e.tl.pid(), metricsURL: e.metricsURL(), pprofURL: pprof}, agents)
		res.Teamline = &r
	}
	if !e.o.skip["kamailio"] && e.kamailio != "" && ctx.Err() == nil {
		// A fresh agents' SIPp on a port of its own: after a step that
		// failed, Teamline goes on retransmitting INVITEs and BYEs of half
		// done calls to its agents' port for 64*T1, and a SIPp there
		// answering those instead of Kamailio's INVITEs failed every
		// reference call with 408.
		agents.stop()
		teamlineUAS := e.uasPort
		if e.uasPort, err = freePort(false); err != nil {
			e.logf("%v", err)
			return 1
		}
		agents = &uas{e: e, name: "agents-kamailio"}
		if err := agents.start(); err != nil {
			e.logf("%v", err)
			return 1
		}
		kam, port, err := e.startKamailio()
		e.uasPort = teamlineUAS // the media parts' agents are Teamline's
		if err != nil {
			e.note("Kamailio reference skipped: %v", err)
		} else {
			r := e.runRates(ctx, rateTarget{name: "kamailio", sipPort: port, pgid: kam.pid(), climb: true}, agents)
			kam.stop(5 * time.Second)
			res.Kamailio = &r
			if res.Teamline != nil && r.MaxZeroFail > 0 {
				res.Ratio = float64(res.Teamline.MaxZeroFail) / float64(r.MaxZeroFail)
			}
		}
	}
	if !e.o.skip["media"] && ctx.Err() == nil {
		// The media agents answer on the same port with per-call RTP ports.
		agents.stop()
		m := e.runMedia(ctx)
		res.Media = &m
	}
	if !e.o.skip["browser"] && ctx.Err() == nil {
		agents.stop()
		b := e.runBrowser(ctx, res.Media)
		res.Browser = &b
	}
	return 0
}

// scrapeOK reports whether the metrics endpoint serves go_goroutines.
func scrapeOK(url string) bool {
	return scrapeGoroutines(httpClient(), url) >= 0
}

// gitCommit is the checkout's commit, with -dirty when it has changes.
func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
