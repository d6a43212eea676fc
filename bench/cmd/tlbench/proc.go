package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc (100 on every
// Linux architecture Teamline runs on).
const clockTicks = 100

// proc is a process the harness started; its children share its process
// group, so Kamailio's workers are measured and stopped with it.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc starts bin with args, stdout and stderr to logPath, pinned to
// core when core >= 0 and pinning is on.
func startProc(name string, pin bool, core int, env []string, dir, logPath, bin string, args ...string) (*proc, error) {
	if pin && core >= 0 {
		args = append([]string{"-c", strconv.Itoa(core), bin}, args...)
		bin = "taskset"
	}
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id, also its process group id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ended describes how the process ended ("exit status 1", "signal:
// segmentation fault"); "" while it runs.
func (p *proc) ended() string {
	if !p.exited() {
		return ""
	}
	if p.err != nil {
		return p.err.Error()
	}
	return "exit status 0"
}

// exitCode is the exit status once exited (-1 for a signal).
func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// wait waits for the process to exit, at most until ctx is done.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for %s: %w", p.name, ctx.Err())
	}
}

// stop sends SIGTERM to the process group and SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// logTail returns the last n bytes of the process's log.
func (p *proc) logTail(n int) string {
	b, _ := os.ReadFile(p.log)
	return tailString(string(b), n)
}

// usage is one reading of a process group's resources.
type usage struct {
	at      time.Time
	cpu     time.Duration // user + system, summed over the group
	rssKB   int64
	threads int
}

// readUsage sums CPU time, RSS and threads over every process in group pgid.
func readUsage(pgid int) (usage, error) {
	u := usage{at: time.Now()}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return u, fmt.Errorf("read /proc: %w", err)
	}
	page := int64(os.Getpagesize())
	found := false
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		st, err := parseStat(b)
		if err != nil || (st.pgrp != pgid && pid != pgid) {
			continue
		}
		found = true
		u.cpu += time.Duration(st.utime+st.stime) * time.Second / clockTicks
		u.rssKB += st.rssPages * page / 1024
		u.threads += st.threads
	}
	if !found {
		return u, fmt.Errorf("process group %d: no processes", pgid)
	}
	return u, nil
}

// procStat holds the fields of /proc/PID/stat the harness reads.
type procStat struct {
	pgrp         int
	utime, stime int64
	threads      int
	rssPages     int64
}

// parseStat reads /proc/PID/stat (proc(5)); the command name may hold
// spaces and parentheses, so fields are counted after its last ')'.
func parseStat(b []byte) (procStat, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state) of proc(5).
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("parse stat: %d fields", len(f))
	}
	num := func(k int) int64 {
		n, _ := strconv.ParseInt(f[k-3], 10, 64)
		return n
	}
	return procStat{
		pgrp:     int(num(5)),
		utime:    num(14),
		stime:    num(15),
		threads:  int(num(20)),
		rssPages: num(24),
	}, nil
}

// sampler watches a process group while a step runs: CPU between start and
// stop, peak RSS, peak threads and (for Teamline) peak goroutines from
// /metrics.
type sampler struct {
	pgid       int
	metricsURL string

	mu         sync.Mutex
	first      usage
	last       usage
	peakRSS    int64
	peakThr    int
	peakGor    int
	goroutines bool
	stopCh     chan struct{}
	doneCh     chan struct{}
}

func startSampler(pgid int, metricsURL string) *sampler {
	s := &sampler{pgid: pgid, metricsURL: metricsURL, stopCh: make(chan struct{}), doneCh: make(chan struct{})}
	if u, err := readUsage(pgid); err == nil {
		s.first, s.last = u, u
		s.peakRSS, s.peakThr = u.rssKB, u.threads
	}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.doneCh)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 500 * time.Millisecond}
	n := 0
	for {
		select {
		case <-s.stopCh:
			return
		case <-tick.C:
		}
		n++
		u, err := readUsage(s.pgid)
		if err != nil {
			continue
		}
		g := -1
		if s.metricsURL != "" && n%4 == 0 {
			g = scrapeGoroutines(client, s.metricsURL)
		}
		s.mu.Lock()
		s.last = u
		s.peakRSS = max(s.peakRSS, u.rssKB)
		s.peakThr = max(s.peakThr, u.threads)
		if g >= 0 {
			s.goroutines = true
			s.peakGor = max(s.peakGor, g)
		}
		s.mu.Unlock()
	}
}

// stepUsage is what a sampler measured.
type stepUsage struct {
	CPUPercent     float64 `json:"cpu_percent"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`
	PeakThreads    int     `json:"peak_threads"`
	PeakGoroutines int     `json:"peak_goroutines,omitempty"` // 0: /metrics not available
}

// stop ends sampling and returns CPU use (percent of one core) over the
// sampled time, and the peaks.
func (s *sampler) stop() stepUsage {
	if u, err := readUsage(s.pgid); err == nil {
		s.mu.Lock()
		s.last = u
		s.peakRSS = max(s.peakRSS, u.rssKB)
		s.mu.Unlock()
	}
	close(s.stopCh)
	<-s.doneCh
	s.mu.Lock()
	defer s.mu.Unlock()
	out := stepUsage{PeakRSSMB: float64(s.peakRSS) / 1024, PeakThreads: s.peakThr}
	if wall := s.last.at.Sub(s.first.at); wall > 0 {
		out.CPUPercent = 100 * float64(s.last.cpu-s.first.cpu) / float64(wall)
	}
	if s.goroutines {
		out.PeakGoroutines = s.peakGor
	}
	return out
}

// scrapeGoroutines reads go_goroutines from a Prometheus text endpoint; -1
// when it is not there.
func scrapeGoroutines(c *http.Client, url string) int {
	res, err := c.Get(url)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, res.Body)
		return -1
	}
	return parseGoroutines(res.Body)
}

// parseGoroutines finds the go_goroutines sample in Prometheus text format.
func parseGoroutines(r io.Reader) int {
	return int(parseMetrics(r, "go_goroutines")["go_goroutines"])
}

// parseMetrics returns the value of each named unlabelled sample in
// Prometheus text format, -1 for a name that is not there.
func parseMetrics(r io.Reader, names ...string) map[string]float64 {
	out := make(map[string]float64, len(names))
	for _, n := range names {
		out[n] = -1
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		for _, n := range names {
			if !strings.HasPrefix(line, n+" ") && !strings.HasPrefix(line, n+"{") {
				continue
			}
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				out[n] = v
			}
		}
	}
	return out
}

// goMemory is what Teamline's Go runtime holds, read from /metrics.
type goMemory struct {
	goroutines int
	heapKB     float64 // heap in use (live objects and fragmentation)
	liveKB     float64 // live heap objects (after a forced GC)
	stackKB    float64 // goroutine stacks in use
}

// scrapeGoMemory reads goroutines and heap and stack in use from /metrics.
// When gcURL is not empty it is fetched first (pprof's heap?gc=1 runs a
// garbage collection), so that the heap holds live objects only. ok is
// false when /metrics does not serve the figures.
func scrapeGoMemory(c *http.Client, metricsURL, gcURL string) (m goMemory, ok bool) {
	if gcURL != "" {
		if res, err := c.Get(gcURL); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	res, err := c.Get(metricsURL)
	if err != nil {
		return m, false
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, res.Body)
		return m, false
	}
	v := parseMetrics(res.Body, "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes",
		"go_memstats_heap_alloc_bytes")
	if v["go_goroutines"] < 0 || v["go_memstats_heap_inuse_bytes"] < 0 || v["go_memstats_stack_inuse_bytes"] < 0 {
		return m, false
	}
	return goMemory{
		goroutines: int(v["go_goroutines"]),
		heapKB:     v["go_memstats_heap_inuse_bytes"] / 1024,
		liveKB:     v["go_memstats_heap_alloc_bytes"] / 1024,
		stackKB:    v["go_memstats_stack_inuse_bytes"] / 1024,
	}, true
}

func httpClient() *http.Client { return &http.Client{Timeout: 2 * time.Second} }
