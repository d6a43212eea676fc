package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// mediaStep is one media relay step: calls concurrent calls with RTP both
// ways.
type mediaStep struct {
	Calls          int     `json:"calls"`
	Established    int     `json:"established"`
	ExpectedPPS    float64 `json:"expected_pps"`
	SentPPS        float64 `json:"sent_pps"`
	RelayedPPS     float64 `json:"relayed_pps"`
	LossPercent    float64 `json:"loss_percent"`
	Reordered      uint64  `json:"reordered"`
	LatencyP50us   float64 `json:"latency_p50_us"`
	LatencyP99us   float64 `json:"latency_p99_us"`
	AddedP99us     float64 `json:"added_latency_p99_us"`
	GeneratorLagMs float64 `json:"generator_max_lag_ms"`
	CPUPercent     float64 `json:"teamline_cpu_percent"`
	CPUPer1000PPS  float64 `json:"teamline_cpu_percent_per_1000_pps"`
	RSSPerCallKB   float64 `json:"rss_per_call_kb"`
	PeakRSSMB      float64 `json:"teamline_peak_rss_mb"`
	// GoKBPerCall is the growth of Teamline's Go heap and stacks in use,
	// after a forced GC, from before the calls to when they all relay,
	// over the calls set up: the live memory an active call costs. -1 when
	// /metrics or /debug/pprof is not served.
	GoKBPerCall       float64 `json:"go_kb_per_call"`
	HeapKBPerCall     float64 `json:"heap_kb_per_call"`
	StackKBPerCall    float64 `json:"stack_kb_per_call"`
	GoroutinesPerCall float64 `json:"goroutines_per_call"`
	// SettledKBPerCall is GoKBPerCall measured once the SIP transactions of
	// the call setup have ended (the last step only, with -settle): what
	// an established call keeps while it lasts. -1 when not measured.
	SettledKBPerCall      float64 `json:"settled_go_kb_per_call"`
	SettledHeapKBPerCall  float64 `json:"settled_heap_kb_per_call"`
	SettledStackKBPerCall float64 `json:"settled_stack_kb_per_call"`
	// SettledLiveKBPerCall is the growth of the live heap objects alone
	// (no span fragmentation) per call, at the same moment.
	SettledLiveKBPerCall float64 `json:"settled_live_heap_kb_per_call"`
}

// mediaRun is the media relay part.
type mediaRun struct {
	BaselineP50us float64     `json:"direct_loopback_p50_us"`
	BaselineP99us float64     `json:"direct_loopback_p99_us"`
	Steps         []mediaStep `json:"steps"`
	Error         string      `json:"error,omitempty"`
}

// baselineLatency measures one-way loopback latency socket to socket, no
// relay, with the same generator: what "added" latency is measured against.
func baselineLatency(window time.Duration) (mediaCounts, error) {
	const pairs = 100
	g, err := newGenerator(2 * pairs)
	if err != nil {
		return mediaCounts{}, fmt.Errorf("baseline sockets: %w", err)
	}
	defer g.close()
	for i := range pairs {
		a, b := g.streams[i], g.streams[pairs+i]
		pa := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(a.port))
		pb := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(b.port))
		a.dst.Store(&pb)
		b.dst.Store(&pa)
	}
	g.start()
	time.Sleep(200 * time.Millisecond)
	return g.measure(window, 200*time.Millisecond), nil
}

// runMedia steps the number of concurrent relayed calls up.
func (e *env) runMedia(ctx context.Context) mediaRun {
	var run mediaRun
	base, err := baselineLatency(min(e.o.mediaWindow, 2*time.Second))
	if err != nil {
		run.Error = err.Error()
		return run
	}
	run.BaselineP50us = float64(base.p50.Microseconds())
	run.BaselineP99us = float64(base.p99.Microseconds())
	for _, n := range e.o.media {
		if ctx.Err() != nil {
			run.Error = ctx.Err().Error()
			break
		}
		if n > e.o.agents {
			e.note("media step %d skipped: only %d agents registered", n, e.o.agents)
			break
		}
		st, err := e.mediaStep(ctx, n, run.BaselineP99us)
		if err != nil {
			run.Error = fmt.Sprintf("%d calls: %v", n, err)
			break
		}
		run.Steps = append(run.Steps, st)
		e.logf("media %5d calls: %d up, relayed %.0f pps, loss %.3f%%, p99 %.0f µs (+%.0f), cpu %.0f%%, %.1f KB/call",
			n, st.Established, st.RelayedPPS, st.LossPercent, st.LatencyP99us, st.AddedP99us, st.CPUPercent, st.RSSPerCallKB)
		if st.Established < n*9/10 || st.LossPercent > 5 {
			break
		}
	}
	return run
}

func (e *env) mediaStep(ctx context.Context, n int, baselineP99 float64) (mediaStep, error) {
	// Each call carries 50 packets/s each way.
	st := mediaStep{Calls: n, ExpectedPPS: float64(2 * n * int(time.Second/ptime))}
	// Streams 0..n-1 are the callers' ends, n..2n-1 the agents'.
	// The agents' SIPp binds uasPort after the generator's sockets.
	g, err := newMixedGenerator(2*n, 0, e.uasPort)
	if err != nil {
		return st, fmt.Errorf("rtp sockets: %w", err)
	}
	defer g.close()
	g.start()

	agentPorts := make([]int, n)
	for i := range n {
		agentPorts[i] = g.streams[n+i].port
	}
	agents, agentsDir, err := e.startAgents(fmt.Sprintf("agents-media-%d", n), agentPorts, true)
	if err != nil {
		return st, err
	}
	defer agents.stop(3 * time.Second)

	idle, _ := readUsage(e.tl.pid())
	gcURL := ""
	if e.pprof != "" {
		gcURL = e.pprof + "/heap?gc=1"
	}
	// The settled figure needs a baseline without the transactions of the
	// step before (they go sip.TransactionLinger after they finish).
	settle := e.o.settle > 0 && gcURL != "" && n == e.o.media[len(e.o.media)-1]
	st.SettledKBPerCall, st.SettledHeapKBPerCall, st.SettledStackKBPerCall, st.SettledLiveKBPerCall = -1, -1, -1, -1
	if settle {
		e.logf("media %d: waiting %s for the SIP transactions of earlier steps to end", n, e.o.settle)
		if err := sleepCtx(ctx, e.o.settle); err != nil {
			return st, err
		}
	}
	memBefore, memOK := scrapeGoMemory(httpClient(), e.metricsURL(), gcURL)
	setup := time.Duration(float64(n)/float64(e.o.mediaSetup)*float64(time.Second)) + time.Second
	// The first call must outlive the setup of the last (mapWait), the
	// latch second, the memory scrape and the window with its grace; no
	// longer, since the step waits for every call to end.
	mapWait := 2*setup + 5*time.Second
	hold := mapWait + 4*time.Second + e.o.mediaWindow
	if settle {
		hold += e.o.settle
	}
	callers, callersDir, err := e.startMediaCallers(fmt.Sprintf("media-%d", n), g.streams[:n],
		func(i int) int { return i }, e.o.mediaSetup, hold)
	if err != nil {
		return st, err
	}
	defer callers.stop(3 * time.Second)

	byPort := make(map[int]*stream, 2*n)
	for _, s := range g.streams {
		byPort[s.port] = s
	}
	callerLog := &logTail{path: filepath.Join(callersDir, "log.log")}
	agentLog := &logTail{path: filepath.Join(agentsDir, "log.log")}
	var mappedCallers, mappedAgents int
	deadline := time.Now().Add(mapWait)
	for (mappedCallers < n || mappedAgents < n) && time.Now().Before(deadline) && !callers.exited() {
		mappedCallers += callerLog.apply(byPort)
		mappedAgents += agentLog.apply(byPort)
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	st.Established = min(mappedCallers, mappedAgents)
	if st.Established == 0 {
		return st, fmt.Errorf("no call set up:\n%s", callers.logTail(1500))
	}
	establishedAt := time.Now()
	// Let the relay latch onto every stream before counting.
	time.Sleep(time.Second)
	st.GoKBPerCall, st.HeapKBPerCall, st.StackKBPerCall, st.GoroutinesPerCall = -1, -1, -1, -1
	if memAfter, ok := scrapeGoMemory(httpClient(), e.metricsURL(), gcURL); ok && memOK && gcURL != "" {
		calls := float64(st.Established)
		st.HeapKBPerCall = (memAfter.heapKB - memBefore.heapKB) / calls
		st.StackKBPerCall = (memAfter.stackKB - memBefore.stackKB) / calls
		st.GoKBPerCall = st.HeapKBPerCall + st.StackKBPerCall
		st.GoroutinesPerCall = float64(memAfter.goroutines-memBefore.goroutines) / calls
	}
	if e.o.profile && e.pprof != "" && n == e.o.media[len(e.o.media)-1] {
		e.saveProfile(e.pprof+"/heap", fmt.Sprintf("teamline-media-%d-heap.pprof", n))
	}
	smp := startSampler(e.tl.pid(), "")
	c := g.measure(e.o.mediaWindow, 300*time.Millisecond)
	use := smp.stop()
	if settle {
		e.logf("media %d: waiting for the call setup's SIP transactions to end", n)
		if err := sleepCtx(ctx, time.Until(establishedAt.Add(e.o.settle))); err != nil {
			return st, err
		}
		if mem, ok := scrapeGoMemory(httpClient(), e.metricsURL(), gcURL); ok && memOK {
			calls := float64(st.Established)
			st.SettledHeapKBPerCall = (mem.heapKB - memBefore.heapKB) / calls
			st.SettledStackKBPerCall = (mem.stackKB - memBefore.stackKB) / calls
			st.SettledKBPerCall = st.SettledHeapKBPerCall + st.SettledStackKBPerCall
			st.SettledLiveKBPerCall = (mem.liveKB - memBefore.liveKB) / calls
			e.logf("media %d: settled per call: heap in use %.1f KB (live objects %.1f KB), stacks %.1f KB",
				n, st.SettledHeapKBPerCall, st.SettledLiveKBPerCall, st.SettledStackKBPerCall)
			if e.o.profile {
				e.saveProfile(e.pprof+"/heap", fmt.Sprintf("teamline-media-%d-settled-heap.pprof", n))
			}
		}
	}
	g.silence()
	if err, ok := g.recvErr.Load().(error); ok {
		return st, fmt.Errorf("rtp receiver: %w", err)
	}

	secs := c.window.Seconds()
	st.SentPPS = float64(c.sent) / secs
	st.RelayedPPS = float64(c.recv) / secs
	if c.sent > 0 {
		st.LossPercent = 100 * float64(c.sent-min(c.recv, c.sent)) / float64(c.sent)
	}
	st.Reordered = c.reordered
	st.LatencyP50us = float64(c.p50.Microseconds())
	st.LatencyP99us = float64(c.p99.Microseconds())
	st.AddedP99us = max(0, st.LatencyP99us-baselineP99)
	st.GeneratorLagMs = float64(c.maxLag.Microseconds()) / 1000
	st.CPUPercent = use.CPUPercent
	if st.RelayedPPS > 0 {
		st.CPUPer1000PPS = use.CPUPercent / (st.RelayedPPS / 1000)
	}
	st.PeakRSSMB = use.PeakRSSMB
	st.RSSPerCallKB = float64(max(0, int64(use.PeakRSSMB*1024)-idle.rssKB)) / float64(st.Established)

	e.endStep(ctx, fmt.Sprintf("media %d", n), callers, hold+callerGrace+10*time.Second)
	return st, nil
}

// endStep waits, at most within, for a step's SIPp callers to end and then
// until Teamline has no call left, noting what did not happen under step's
// name. The agents' SIPp must see Teamline's last BYEs before it stops, or
// those agents stay on a call (until the BYE times out) into the next step
// and refuse its calls.
func (e *env) endStep(ctx context.Context, step string, callers *proc, within time.Duration) {
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := callers.wait(wctx); err != nil {
		e.note("%s: callers did not end: %v", step, err)
	}
	if !e.waitCallsEnded(ctx, 10*time.Second) {
		e.note("%s: Teamline still had calls up 10s after the callers ended", step)
	}
}

// waitCallsEnded waits, at most within, until Teamline reports no call in
// progress on /metrics. It reports whether it saw that.
func (e *env) waitCallsEnded(ctx context.Context, within time.Duration) bool {
	c := httpClient()
	deadline := time.Now().Add(within)
	for {
		res, err := c.Get(e.metricsURL())
		if err == nil {
			v := parseMetrics(res.Body, "teamline_calls_active")["teamline_calls_active"]
			res.Body.Close()
			if v == 0 {
				return true
			}
			if v < 0 {
				return true // not served: nothing to wait for
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTail reads the lines a SIPp log gained since the last call.
type logTail struct {
	path   string
	offset int64
	rest   string
}

var mediaLine = regexp.MustCompile(`MEDIA local=(\d+) remote=(\d+)`)

// apply points each stream named in new "MEDIA local=... remote=..." lines
// at its remote relay port and returns how many it pointed.
func (t *logTail) apply(byPort map[int]*stream) int {
	f, err := os.Open(t.path)
	if err != nil {
		return 0
	}
	defer f.Close()
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return 0
	}
	b, err := io.ReadAll(f)
	if err != nil || len(b) == 0 {
		return 0
	}
	t.offset += int64(len(b))
	data := t.rest + string(b)
	applied := 0
	sc := bufio.NewScanner(strings.NewReader(data))
	var last string
	complete := len(data) > 0 && data[len(data)-1] == '\n'
	for sc.Scan() {
		if last != "" {
			applied += applyLine(last, byPort)
		}
		last = sc.Text()
	}
	t.rest = ""
	if complete {
		applied += applyLine(last, byPort)
	} else {
		t.rest = last
	}
	return applied
}

func applyLine(line string, byPort map[int]*stream) int {
	m := mediaLine.FindStringSubmatch(line)
	if m == nil {
		return 0
	}
	local, _ := strconv.Atoi(m[1])
	remote, _ := strconv.Atoi(m[2])
	s, ok := byPort[local]
	if !ok || remote <= 0 || remote > 65535 {
		return 0
	}
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(remote))
	if s.dst.Swap(&dst) != nil {
		return 0
	}
	return 1
}

// callerGrace is how much longer than their hold the callers of a step with
// media may run before SIPp gives up.
const callerGrace = 60 * time.Second

// startMediaCallers starts the SIPp callers of a step with media: call i
// comes from the number of agent agentIndex(i) and names streams[i]'s port
// of the RTP generator in its SDP; calls are set up at rate per second and
// hold for hold.
func (e *env) startMediaCallers(name string, streams []*stream, agentIndex func(int) int, rate int, hold time.Duration) (*proc, string, error) {
	lines := make([]string, len(streams))
	for i, s := range streams {
		lines[i] = callerNumber(agentIndex(i)) + ";" + strconv.Itoa(s.port) + ";"
	}
	inf := filepath.Join(e.work, "callers-"+name+".csv")
	if err := writeInf(inf, lines); err != nil {
		return nil, "", err
	}
	port, err := freePort(false)
	if err != nil {
		return nil, "", err
	}
	mp, err := freeMediaPort()
	if err != nil {
		return nil, "", err
	}
	return startSIPp(e, sippSpec{
		name: name, scenario: filepath.Join(e.root, "bench", "sipp", "caller.xml"),
		remote: net.JoinHostPort("127.0.0.1", strconv.Itoa(e.tlSIP)), port: port, mediaPort: mp, inf: inf,
		rate: rate, calls: len(streams), limit: len(streams), hold: hold, timeout: hold + callerGrace, logs: true,
	})
}
