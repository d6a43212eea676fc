package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// The browser part: N concurrent calls whose agent leg is WebRTC (the
// harness's pion agents, see rtcagent.go) and whose trunk leg is plain RTP
// from the same generator as the media part, next to plain relayed calls
// at the same N, so that Teamline's CPU per call is a ratio.

// browserRatioGoal is issue 8's target: a browser call costs at most this
// many times a plain relayed call in Teamline's CPU.
const browserRatioGoal = 2.0

// Above this the load core is taken to be saturated: the figures then
// measure the generator as much as Teamline. The generator's lag alone is
// no sign of it: with one P for the harness, a GC or a burst of pion work
// delays the send loop by milliseconds on an idle core.
const saturatedLoadPercent = 90

// browserStep is one browser step and the plain step it is compared with.
type browserStep struct {
	Calls       int `json:"calls"`
	Invited     int `json:"invited"`
	Connected   int `json:"connected"`
	Established int `json:"established"` // trunk leg answered and WebRTC leg connected
	Failed      int `json:"failed"`
	// Loss per direction: trunk -> Teamline -> browser and back.
	LossToBrowserPercent   float64 `json:"loss_to_browser_percent"`
	LossFromBrowserPercent float64 `json:"loss_from_browser_percent"`
	SentPPS                float64 `json:"sent_pps"`
	ReceivedPPS            float64 `json:"received_pps"`
	LatencyP50us           float64 `json:"latency_p50_us"`
	LatencyP99us           float64 `json:"latency_p99_us"`
	// SetupMs is INVITE received -> ICE and DTLS connected, as the agent
	// sees it.
	SetupMs        percentiles `json:"invite_to_connected"`
	GeneratorLagMs float64     `json:"generator_max_lag_ms"`
	// LoadCorePercent is how busy the load core was during the window
	// (every process on it: the WebRTC agents, SIPp, PostgreSQL, and
	// anyone else's work); -1 when not measured.
	LoadCorePercent float64 `json:"load_core_percent"`
	// GenCPUPercent is the harness's own CPU (the WebRTC agents and the
	// RTP generator) in the window, percent of one core.
	GenCPUPercent float64 `json:"generator_cpu_percent"`
	Saturated     bool    `json:"generator_saturated"`
	CPUPercent    float64 `json:"teamline_cpu_percent"`
	CPUPerCall    float64 `json:"teamline_cpu_percent_per_call"`
	// SetupCPUms is Teamline's CPU from the first INVITE until every call
	// was up, per call: signalling, ICE and the DTLS handshake (and the
	// relaying of the calls already up).
	SetupCPUms float64 `json:"teamline_setup_cpu_ms_per_call"`
	// PlainCPUPerCall is the plain relayed step's Teamline CPU per call at
	// the same N; PlainFrom says which part measured it.
	PlainCPUPerCall float64 `json:"plain_cpu_percent_per_call"`
	PlainFrom       string  `json:"plain_from"`
	// PlainGoKBPerCall is the plain step's Go heap+stacks per call.
	PlainGoKBPerCall float64 `json:"plain_go_kb_per_call"`
	// Ratio is CPUPerCall / PlainCPUPerCall; 0 when either is unknown.
	Ratio             float64  `json:"browser_over_plain_cpu_per_call"`
	RSSPerCallKB      float64  `json:"rss_per_call_kb"`
	PeakRSSMB         float64  `json:"teamline_peak_rss_mb"`
	GoKBPerCall       float64  `json:"go_kb_per_call"`
	HeapKBPerCall     float64  `json:"heap_kb_per_call"`
	StackKBPerCall    float64  `json:"stack_kb_per_call"`
	GoroutinesPerCall float64  `json:"goroutines_per_call"`
	Errors            []string `json:"errors,omitempty"`
}

// browserRun is the browser part.
type browserRun struct {
	Agents int `json:"agents_registered"`
	// Plain are the plain relayed steps measured here because the media
	// part did not measure the same N.
	Plain []mediaStep   `json:"plain_steps,omitempty"`
	Steps []browserStep `json:"steps"`
	Error string        `json:"error,omitempty"`
}

// browserAgentIndex is the roster index of browser agent j: after the
// SIPp agents, in teams of their own.
func (e *env) browserAgentIndex(j int) int { return e.o.agents + j }

// runBrowser registers the WebRTC agents and steps N up; media is the media
// part's result (nil when skipped), whose steps at the same N are reused
// as the plain reference.
func (e *env) runBrowser(ctx context.Context, media *mediaRun) browserRun {
	var run browserRun
	logPath := filepath.Join(e.work, "browser-agents.log")
	logw, err := os.Create(logPath)
	if err != nil {
		run.Error = fmt.Sprintf("agents log: %v", err)
		return run
	}
	defer logw.Close()
	quietSlog(logw)
	fleet, err := newRTCFleet(logw)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	defer fleet.close()
	want := maxOf(e.o.browser)
	e.logf("registering %d browser agents over WebSocket", want)
	ws := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: e.tlWS}
	n, err := fleet.register(ctx, ws, "teamline.bench", want, func(j int) string { return agentName(e.browserAgentIndex(j)) }, e.password)
	run.Agents = n
	if n < want {
		e.note("only %d of %d browser agents registered: %v", n, want, err)
	}
	if n == 0 {
		run.Error = fmt.Sprintf("no browser agent registered: %v", err)
		return run
	}
	e.logf("%d browser agents registered", n)
	// A call of an earlier part still up (its BYE lost with a stopped
	// SIPp) would keep an agent busy and refuse a plain call here.
	if !e.waitCallsEnded(ctx, 40*time.Second) {
		e.note("browser part: Teamline still had calls of earlier parts up after 40s; plain steps may lose calls to them")
	}
	var baselineP99 float64
	if media != nil {
		baselineP99 = media.BaselineP99us
	}
	for _, calls := range e.o.browser {
		if ctx.Err() != nil {
			run.Error = ctx.Err().Error()
			break
		}
		if calls > n {
			e.note("browser step %d skipped: only %d browser agents registered", calls, n)
			break
		}
		plain, from := plainAt(media, calls)
		if plain == nil {
			st, err := e.mediaStep(ctx, calls, baselineP99)
			if err != nil {
				run.Error = fmt.Sprintf("plain %d calls: %v", calls, err)
				break
			}
			run.Plain = append(run.Plain, st)
			plain, from = &run.Plain[len(run.Plain)-1], "browser part"
			e.logf("plain %5d calls: %d up, loss %.3f%%, cpu %.1f%%", calls, st.Established, st.LossPercent, st.CPUPercent)
		}
		st, err := e.browserStep(ctx, fleet, calls)
		st.PlainCPUPerCall = perCall(plain.CPUPercent, plain.Established)
		st.PlainFrom = from
		st.PlainGoKBPerCall = plain.GoKBPerCall
		st.Ratio = ratio(st.CPUPerCall, st.PlainCPUPerCall)
		if err != nil {
			run.Error = fmt.Sprintf("%d calls: %v", calls, err)
			if st.Established > 0 {
				run.Steps = append(run.Steps, st)
			}
			break
		}
		run.Steps = append(run.Steps, st)
		e.logf("browser %4d calls: %d up, loss to/from browser %.3f%%/%.3f%%, cpu %.1f%%, %.3f%%/call = %.2fx plain, load core %.0f%%",
			calls, st.Established, st.LossToBrowserPercent, st.LossFromBrowserPercent, st.CPUPercent, st.CPUPerCall, st.Ratio, st.LoadCorePercent)
		if st.Saturated {
			e.note("browser %d: the load core was saturated (busy %.0f%%, the harness's own share %.0f%%, generator lag %.1f ms): loss and CPU figures of this step measure the generator too",
				calls, st.LoadCorePercent, st.GenCPUPercent, st.GeneratorLagMs)
		}
		if st.Established < calls*9/10 || st.LossToBrowserPercent > 5 || st.LossFromBrowserPercent > 5 {
			break
		}
	}
	return run
}

// plainAt finds the media part's step with calls concurrent calls.
func plainAt(media *mediaRun, calls int) (*mediaStep, string) {
	if media == nil {
		return nil, ""
	}
	for i := range media.Steps {
		if media.Steps[i].Calls == calls {
			return &media.Steps[i], "media part"
		}
	}
	return nil, ""
}

// browserStep runs calls concurrent calls: SIPp callers on the trunk with
// the generator's UDP streams 0..calls-1, the WebRTC agents on its virtual
// streams calls..2*calls-1.
func (e *env) browserStep(ctx context.Context, fleet *rtcFleet, n int) (browserStep, error) {
	st := browserStep{Calls: n, LoadCorePercent: -1}
	st.GoKBPerCall, st.HeapKBPerCall, st.StackKBPerCall, st.GoroutinesPerCall = -1, -1, -1, -1
	g, err := newMixedGenerator(n, n)
	if err != nil {
		return st, fmt.Errorf("rtp sockets: %w", err)
	}
	g.split = uint32(n)
	defer g.close()
	g.start()

	setup := time.Duration(float64(n)/float64(e.o.browserRate)*float64(time.Second)) + time.Second
	mapWait := 2*setup + 5*time.Second
	hold := mapWait + 4*time.Second + e.o.mediaWindow
	timeout := hold + callerGrace
	// Cancelling stepCtx makes the agents hang up the calls still up.
	stepCtx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	calls := &rtcCalls{ctx: stepCtx, g: g, n: n}
	fleet.calls.Store(calls)
	defer func() {
		cancel()
		for end := time.Now().Add(10 * time.Second); calls.active.Load() > 0 && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
		}
		fleet.calls.Store(nil)
	}()

	idle, _ := readUsage(e.tl.pid())
	setupStart := idle
	gcURL := ""
	if e.pprof != "" {
		gcURL = e.pprof + "/heap?gc=1"
	}
	memBefore, memOK := scrapeGoMemory(httpClient(), e.metricsURL(), gcURL)
	callers, callersDir, err := e.startMediaCallers(fmt.Sprintf("browser-%d", n), g.streams[:n],
		e.browserAgentIndex, e.o.browserRate, hold)
	if err != nil {
		return st, err
	}
	defer callers.stop(3 * time.Second)

	byPort := make(map[int]*stream, n)
	for _, s := range g.streams[:n] {
		byPort[s.port] = s
	}
	callerLog := &logTail{path: filepath.Join(callersDir, "log.log")}
	mapped := 0
	deadline := time.Now().Add(mapWait)
	for (mapped < n || calls.connected.Load() < int64(n)) && time.Now().Before(deadline) && !callers.exited() {
		mapped += callerLog.apply(byPort)
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	st.Invited, st.Connected = int(calls.invited.Load()), int(calls.connected.Load())
	st.Established = min(mapped, st.Connected)
	if u, err := readUsage(e.tl.pid()); err == nil && st.Established > 0 {
		st.SetupCPUms = float64((u.cpu - setupStart.cpu).Microseconds()) / 1000 / float64(st.Established)
	}
	if st.Established == 0 {
		st.Errors = calls.failures()
		return st, fmt.Errorf("no call set up (%d invited, %d connected, %d trunk legs answered): %s\n%s",
			st.Invited, st.Connected, mapped, strings.Join(st.Errors, "; "), callers.logTail(1500))
	}
	// Let the relay latch onto every stream before counting.
	time.Sleep(time.Second)
	if memAfter, ok := scrapeGoMemory(httpClient(), e.metricsURL(), gcURL); ok && memOK && gcURL != "" {
		c := float64(st.Established)
		st.HeapKBPerCall = (memAfter.heapKB - memBefore.heapKB) / c
		st.StackKBPerCall = (memAfter.stackKB - memBefore.stackKB) / c
		st.GoKBPerCall = st.HeapKBPerCall + st.StackKBPerCall
		st.GoroutinesPerCall = float64(memAfter.goroutines-memBefore.goroutines) / c
	}
	// -profile: a heap profile of the largest step, and a CPU profile of
	// its window (the profiler's own cost lands in that step's CPU).
	var profiled chan struct{}
	if e.o.profile && e.pprof != "" && n == maxOf(e.o.browser) {
		e.saveProfile(e.pprof+"/heap", fmt.Sprintf("teamline-browser-%d-heap.pprof", n))
		profiled = make(chan struct{})
		go func() {
			defer close(profiled)
			secs := max(1, int(e.o.mediaWindow.Seconds()))
			e.saveProfile(e.pprof+"/profile?seconds="+strconv.Itoa(secs), fmt.Sprintf("teamline-browser-%d-cpu.pprof", n))
		}()
	}
	loadBefore, loadErr := readCPUStat(loadCPULine(e.pin))
	genBefore := selfCPU()
	smp := startSampler(e.tl.pid(), "")
	c := g.measure(e.o.mediaWindow, 300*time.Millisecond)
	use := smp.stop()
	st.GenCPUPercent = 100 * (selfCPU() - genBefore).Seconds() / c.window.Seconds()
	loadAfter, loadErr2 := readCPUStat(loadCPULine(e.pin))
	g.silence()
	if profiled != nil {
		<-profiled
	}
	if err, ok := g.recvErr.Load().(error); ok {
		return st, fmt.Errorf("rtp receiver: %w", err)
	}
	st.Failed = int(calls.failed.Load())
	st.Errors = calls.failures()
	st.SetupMs = summarise(calls.setupTimes())

	secs := c.window.Seconds()
	st.SentPPS = float64(c.sent) / secs
	st.ReceivedPPS = float64(c.recv) / secs
	st.LossToBrowserPercent = lossPercent(c.sentDir[0], c.recvDir[0])
	st.LossFromBrowserPercent = lossPercent(c.sentDir[1], c.recvDir[1])
	st.LatencyP50us = float64(c.p50.Microseconds())
	st.LatencyP99us = float64(c.p99.Microseconds())
	st.GeneratorLagMs = float64(c.maxLag.Microseconds()) / 1000
	if loadErr == nil && loadErr2 == nil {
		st.LoadCorePercent = loadAfter.busyPercentSince(loadBefore)
	}
	st.Saturated = st.LoadCorePercent > saturatedLoadPercent || st.GenCPUPercent > saturatedLoadPercent
	st.CPUPercent = use.CPUPercent
	st.CPUPerCall = perCall(use.CPUPercent, st.Established)
	st.PeakRSSMB = use.PeakRSSMB
	st.RSSPerCallKB = float64(max(0, int64(use.PeakRSSMB*1024)-idle.rssKB)) / float64(st.Established)

	// The agents hang up (BYE) rather than wait out the callers' hold:
	// Teamline passes the BYE to the trunk and SIPp, which answers it,
	// ends; its calls then count as failed, which this step never reads.
	cancel()
	e.endStep(ctx, fmt.Sprintf("browser %d", n), callers, 20*time.Second)
	return st, nil
}

// selfCPU is the CPU time this process has used (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perCall is a step's CPU (percent of one core) per established call; 0
// when no call was up.
func perCall(cpuPercent float64, calls int) float64 {
	if calls <= 0 {
		return 0
	}
	return cpuPercent / float64(calls)
}

// ratio is a/b, 0 when either is not a positive figure.
func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

// lossPercent is the share of sent packets that did not arrive.
func lossPercent(sent, recv uint64) float64 {
	if sent == 0 {
		return 0
	}
	return 100 * float64(sent-min(recv, sent)) / float64(sent)
}

// cpuTimes is one line of /proc/stat, in USER_HZ ticks.
type cpuTimes struct {
	busy, total uint64
}

// busyPercentSince is how busy the CPU was between then and t.
func (t cpuTimes) busyPercentSince(then cpuTimes) float64 {
	if t.total <= then.total {
		return 0
	}
	return 100 * float64(t.busy-min(then.busy, t.busy)) / float64(t.total-then.total)
}

// loadCPULine names the /proc/stat line of the load core, or of all CPUs
// when nothing is pinned.
func loadCPULine(pinned bool) string {
	if pinned {
		return "cpu" + strconv.Itoa(loadCore)
	}
	return "cpu"
}

// readCPUStat reads one CPU's line of /proc/stat.
func readCPUStat(name string) (cpuTimes, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuTimes{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	defer f.Close()
	return parseCPUStat(f, name)
}

// parseCPUStat finds the line of CPU name ("cpu" for all, "cpu0" ...) in
// /proc/stat (proc(5)): user nice system idle iowait irq softirq steal,
// then guest times that user already includes. Idle and iowait are idle;
// the rest is busy.
func parseCPUStat(r io.Reader, name string) (cpuTimes, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != name {
			continue
		}
		if len(f) < 5 {
			return cpuTimes{}, fmt.Errorf("parse /proc/stat %s: %d fields", name, len(f)-1)
		}
		var t cpuTimes
		for i, v := range f[1:min(len(f), 9)] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("parse /proc/stat %s: %w", name, err)
			}
			t.total += n
			if i != 3 && i != 4 { // idle, iowait
				t.busy += n
			}
		}
		return t, nil
	}
	if err := sc.Err(); err != nil {
		return cpuTimes{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	return cpuTimes{}, errors.New("parse /proc/stat: no line " + name)
}

// headline is the step the target is read from: the largest N where the
// calls were up and the ratio known, preferring steps where the load core
// kept up.
func (b *browserRun) headline() (browserStep, bool) {
	var best browserStep
	found, bestFree := false, false
	for _, s := range b.Steps {
		if s.Ratio <= 0 || s.Established < s.Calls*9/10 {
			continue
		}
		free := !s.Saturated
		if !found || (free && !bestFree) || (free == bestFree && s.Calls > best.Calls) {
			best, found, bestFree = s, true, free
		}
	}
	return best, found
}

// printTable writes the browser part's table.
func (b *browserRun) printTable(w io.Writer, window string) {
	fmt.Fprintf(w, "\nBrowser agents (WebRTC agent leg: ICE, DTLS-SRTP, PCMU 20 ms; trunk leg plain RTP; %s window; %d agents on their own WebSockets)\n", window, b.Agents)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "calls\tup\tfailed\tsetup p50 ms\tp95\tsetup cpu ms/call\tloss to browser %\tfrom browser %\tp99 µs\tgen lag ms\tgen cpu %\tload core %\tcpu %\tcpu %/call\tplain %/call\tratio\trss KB/call\tgo KB/call\tplain go KB/call\tgoroutines/call\t")
	for _, s := range b.Steps {
		load := "-"
		if s.LoadCorePercent >= 0 {
			load = fmt.Sprintf("%.0f", s.LoadCorePercent)
			if s.Saturated {
				load += "!"
			}
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.3f\t%.3f\t%.0f\t%.1f\t%.0f\t%s\t%.1f\t%.3f\t%.3f\t%.2f\t%.1f\t%s\t%s\t%s\t\n",
			s.Calls, s.Established, s.Failed, s.SetupMs.P50, s.SetupMs.P95, s.SetupCPUms, s.LossToBrowserPercent, s.LossFromBrowserPercent,
			s.LatencyP99us, s.GeneratorLagMs, s.GenCPUPercent, load, s.CPUPercent, s.CPUPerCall, s.PlainCPUPerCall, s.Ratio, s.RSSPerCallKB,
			orDash(s.GoKBPerCall), orDash(s.PlainGoKBPerCall), orDash(s.GoroutinesPerCall))
	}
	tw.Flush()
	fmt.Fprintln(w, "(setup: INVITE at the agent -> ICE+DTLS connected; setup cpu: Teamline's CPU until all calls were up, per call;")
	fmt.Fprintln(w, " cpu %/call: Teamline's CPU in the window, % of one core, per call; plain: the plain relayed step at the same N;")
	fmt.Fprintf(w, " ratio: browser/plain cpu per call, goal <= %.0fx; gen cpu: the harness's own (agents + RTP generator); load core: all of core %d, ! = saturated)\n", browserRatioGoal, loadCore)
	for _, p := range b.Plain {
		fmt.Fprintf(w, "plain %d calls (measured here): %d up, loss %.3f%%, cpu %.1f%%, gen lag %.1f ms\n", p.Calls, p.Established, p.LossPercent, p.CPUPercent, p.GeneratorLagMs)
	}
	for _, s := range b.Steps {
		for _, e := range s.Errors {
			fmt.Fprintf(w, "browser %d: %s\n", s.Calls, e)
		}
	}
	if b.Error != "" {
		fmt.Fprintf(w, "stopped: %s\n", b.Error)
	}
}
