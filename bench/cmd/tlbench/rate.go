package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// rateStep is one call rate step as the callers saw it.
type rateStep struct {
	Rate            int         `json:"rate_cps"`
	Attempted       int         `json:"attempted"`
	Succeeded       int         `json:"succeeded"`
	Failed          int         `json:"failed"`
	Retransmissions int         `json:"retransmissions"` // callers' plus agents'
	Invite180       percentiles `json:"invite_to_180"`
	Invite200       percentiles `json:"invite_to_200"`
	Usage           stepUsage   `json:"usage"`
	Seconds         float64     `json:"seconds"`
	// ErrorSample is the start of the callers' SIPp error trace when calls
	// failed, to tell a neighbour's load from a Teamline fault.
	ErrorSample string `json:"error_sample,omitempty"`
	// AgentsDied says how the agents' SIPp ended during the step, when it
	// did: the step's failures are the load generator's, and the climb
	// ends with it.
	AgentsDied string `json:"agents_died,omitempty"`
}

// uas is the SIPp instance that answers for every agent in the call rate
// steps. SIPp 3.6 sometimes dies of a stack overflow under load (a segfault
// at its stack pointer in the kernel log, at 1,500 calls/s on the bench VM,
// even with no stack limit); its calls then fail as if the target had
// dropped them, so the step says so (rateStep.AgentsDied).
type uas struct {
	e    *env
	name string
	p    *proc
	dir  string // holds its stat file
}

func (u *uas) start() error {
	p, dir, err := u.e.startAgents(u.name, []int{9}, false)
	if err != nil {
		return err
	}
	u.p, u.dir = p, dir
	return nil
}

func (u *uas) stop() {
	if u.p != nil {
		u.p.stop(3 * time.Second)
		u.p = nil
	}
}

// died says how the instance ended, "" while it runs.
func (u *uas) died() string {
	if u.p == nil {
		return ""
	}
	return u.p.ended()
}

// rateRun is every step against one target.
type rateRun struct {
	Target      string     `json:"target"`
	Steps       []rateStep `json:"steps"`
	MaxZeroFail int        `json:"max_rate_zero_failures_cps"`
	Error       string     `json:"error,omitempty"`
}

// rateTarget is where the callers send their INVITEs and what to measure.
type rateTarget struct {
	name       string
	sipPort    int
	pgid       int
	metricsURL string
	pprofURL   string // base of /debug/pprof, "" when not exposed
	// climb goes on past the last step, by the last increment, while the
	// target holds (up to maxClimbRate): for the reference.
	climb bool
}

// maxClimbRate bounds the reference's climb; past it the load generator's
// core is the limit, not the proxy.
const maxClimbRate = 5000

// runRates steps the call rate up against one target. The agents' SIPp
// answers every call; a step it dies in ends the climb, marked as such.
func (e *env) runRates(ctx context.Context, t rateTarget, agents *uas) rateRun {
	run := rateRun{Target: t.name}
	lines := make([]string, e.o.agents)
	for i := range lines {
		lines[i] = callerNumber(i) + ";9;"
	}
	inf := filepath.Join(e.work, "callers-"+t.name+".csv")
	if err := writeInf(inf, lines); err != nil {
		run.Error = err.Error()
		return run
	}
	failedBefore := false
	rates := slices.Clone(e.o.rates)
	for i := 0; i < len(rates); i++ {
		rate := rates[i]
		if ctx.Err() != nil {
			run.Error = ctx.Err().Error()
			break
		}
		profile := t.pprofURL != "" && i == len(e.o.rates)-1
		st, err := e.rateStep(ctx, t, agents.dir, inf, rate, profile)
		if err != nil {
			run.Error = fmt.Sprintf("%d calls/s: %v", rate, err)
			break
		}
		st.AgentsDied = agents.died()
		run.Steps = append(run.Steps, st)
		if st.AgentsDied != "" {
			// A fresh SIPp would not make the next step fair: the calls it
			// left ringing count as missed against their agents, and
			// Teamline's no-answer limit sets those agents away.
			run.Error = fmt.Sprintf("%d calls/s: the agents' SIPp died during the step (%s; see dmesg): its %d failed calls are the load generator's, and the climb ends here",
				rate, st.AgentsDied, st.Failed)
			e.note("%s %s", t.name, run.Error)
			break
		}
		e.logf("%s %5d calls/s: %d/%d ok, %d failed, %d retrans, 180 p99 %.1f ms, 200 p99 %.1f ms, cpu %.0f%%, rss %.0f MB",
			t.name, rate, st.Succeeded, st.Attempted, st.Failed, st.Retransmissions, st.Invite180.P99, st.Invite200.P99,
			st.Usage.CPUPercent, st.Usage.PeakRSSMB)
		ok := st.Failed == 0 && st.Attempted > 0 && st.Succeeded == st.Attempted
		if ok {
			run.MaxZeroFail = max(run.MaxZeroFail, rate)
			failedBefore = false
			// The reference climbs past the common steps until it fails,
			// so that the ratio compares ceilings, not a ceiling with the
			// last step.
			if t.climb && i == len(rates)-1 && len(rates) >= 2 && rate < maxClimbRate {
				rates = append(rates, rate+rates[len(rates)-1]-rates[len(rates)-2])
			}
			continue
		}
		// One failed step may be a neighbour's test stealing the core; a
		// second in a row, or a clearly broken one, ends the climb.
		if failedBefore || st.Failed*100 > st.Attempted {
			break
		}
		failedBefore = true
	}
	return run
}

// rateStep runs one step; uasDir holds the agents' SIPp stat file.
func (e *env) rateStep(ctx context.Context, t rateTarget, uasDir, inf string, rate int, profile bool) (rateStep, error) {
	st := rateStep{Rate: rate}
	calls := int(float64(rate) * e.o.step.Seconds())
	port, err := freePort(false)
	if err != nil {
		return st, err
	}
	mp, err := freeMediaPort()
	if err != nil {
		return st, err
	}
	uasBefore, _ := readSIPpStats(filepath.Join(uasDir, "stat.csv"))
	timeout := e.o.step + e.o.hold + 40*time.Second
	name := fmt.Sprintf("%s-%d", t.name, rate)
	smp := startSampler(t.pgid, t.metricsURL)
	var profDone chan struct{}
	if profile {
		profDone = make(chan struct{})
		go func() {
			defer close(profDone)
			e.saveProfile(t.pprofURL+"/profile?seconds="+strconv.Itoa(max(1, int(e.o.step.Seconds()))), "teamline-cpu.pprof")
			e.saveProfile(t.pprofURL+"/heap", "teamline-heap.pprof")
		}()
	}
	began := time.Now()
	p, dir, err := startSIPp(e, sippSpec{
		name: name, scenario: filepath.Join(e.root, "bench", "sipp", "caller.xml"),
		remote: net.JoinHostPort("127.0.0.1", strconv.Itoa(t.sipPort)), port: port, mediaPort: mp, inf: inf,
		rate: rate, calls: calls, limit: rate * (int(e.o.hold.Seconds()) + 10), hold: e.o.hold,
		timeout: timeout, rtt: true,
	})
	if err != nil {
		smp.stop()
		return st, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	waitErr := p.wait(wctx)
	st.Seconds = time.Since(began).Seconds()
	st.Usage = smp.stop()
	if profDone != nil {
		<-profDone
	}
	if waitErr != nil {
		p.stop(2 * time.Second)
		return st, waitErr
	}
	caller, err := readSIPpStats(filepath.Join(dir, "stat.csv"))
	if err != nil {
		return st, fmt.Errorf("%w\n%s", err, p.logTail(1500))
	}
	// The agents' stat file is written every second: let it catch up.
	time.Sleep(1100 * time.Millisecond)
	uasAfter, _ := readSIPpStats(filepath.Join(uasDir, "stat.csv"))
	st.Attempted, st.Succeeded, st.Failed = caller.Created, caller.Successful, caller.Failed
	st.Retransmissions = caller.Retransmissions + max(0, uasAfter.Retransmissions-uasBefore.Retransmissions)
	if st.Failed > 0 {
		b, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		st.ErrorSample = string(b[:min(len(b), 1500)])
		if st.ErrorSample == "" {
			st.ErrorSample = p.logTail(1500)
		}
		e.note("%s %d calls/s: %d failed; first errors:\n%s", t.name, rate, st.Failed, st.ErrorSample)
	}
	rtt, err := rttSamples(dir)
	if err != nil {
		return st, err
	}
	st.Invite180 = summarise(rtt["1"])
	st.Invite200 = summarise(rtt["2"])
	return st, nil
}

// pprofBase returns Teamline's /debug/pprof base URL, or "" when Teamline
// does not expose it.
func (e *env) pprofBase() string {
	base := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.tlHTTP)) + "/debug/pprof"
	c := &http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(base + "/")
	if err != nil {
		return ""
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return ""
	}
	return base
}

// saveProfile fetches a pprof profile into the results directory.
func (e *env) saveProfile(url, name string) {
	c := &http.Client{Timeout: e.o.step + 30*time.Second}
	res, err := c.Get(url)
	if err != nil {
		e.note("profile %s: %v", name, err)
		return
	}
	defer res.Body.Close()
	dir := filepath.Join(e.root, e.o.out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.note("profile %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		e.note("profile %s: %v", name, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, res.Body); err != nil {
		e.note("profile %s: %v", name, err)
		return
	}
	e.logf("saved %s", path)
}
