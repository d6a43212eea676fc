package peer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SIPp exit codes (sipp(1)). Fatal errors are -1 and -2 in SIPp's source and
// reach a parent as 255 and 254.
const (
	ExitAllCallsOK      = 0   // every call succeeded
	ExitSomeCallsFailed = 1   // at least one call failed
	ExitInternalCommand = 97  // stopped by an internal command (stop_now)
	ExitNoCallProcessed = 99  // normal exit without any call processed
	ExitFatal           = 255 // fatal error (bad scenario, unsupported digest algorithm, ...)
	ExitBindFailed      = 254 // a socket could not be bound
)

// Defaults of SIPpOptions.
const (
	DefaultSIPpTimeout = 30 * time.Second
	sippStopGrace      = 3 * time.Second
	sippWaitGrace      = 5 * time.Second
	logPollInterval    = 10 * time.Millisecond
)

// ErrSIPpNotInstalled is returned (and reported by StartSIPp) when no sipp
// binary is on PATH.
var ErrSIPpNotInstalled = errors.New("sipp is not installed (Debian package sip-tester)")

// ErrLogLineNotFound is returned by SIPpProcess.WaitLog when SIPp exited
// without writing the line.
var ErrLogLineNotFound = errors.New("sipp exited without writing the log line")

// SIPpOptions describe one SIPp instance.
type SIPpOptions struct {
	// Scenario is a file name under testdata/sipp at the module root, or a path.
	Scenario string
	// Remote is the address a UAC scenario sends to, e.g. "127.0.0.1:5060".
	// Leave it empty for a UAS scenario.
	Remote string
	// LocalIP is the address SIPp binds and puts in its messages; default
	// 127.0.0.1.
	LocalIP string
	// LocalPort is SIPp's SIP port (-p); 0 picks a free one.
	LocalPort int
	// MediaPort is SIPp's own media socket (-mp); every instance needs its
	// own; 0 picks a free range. Scenarios here send no media from it.
	MediaPort int
	// Keys are the scenario's -key values; defaults come from the scenario's
	// "@key" lines, and undeclared keys are refused.
	Keys map[string]string
	// Calls is the number of calls before SIPp exits (-m); 0 means 1, a
	// negative value means no limit (stop it with Stop).
	Calls int
	// Rate is calls per second (-r); 0 keeps SIPp's default of 10.
	Rate float64
	// Limit caps simultaneous calls (-l); 0 keeps SIPp's default.
	Limit int
	// Transport is SIPp's -t mode: "u1" (UDP, the default), "un", "t1", "tn".
	Transport string
	// Timeout ends SIPp after this long as a failure (-timeout with
	// -timeout_error); default 30 s. The Go side waits a few seconds more.
	Timeout time.Duration
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
}

// SIPpProcess is a running SIPp instance.
type SIPpProcess struct {
	t        testing.TB
	opts     SIPpOptions
	scenario string
	dir      string
	args     []string
	cmd      *exec.Cmd

	done     chan struct{}
	exitCode int
	waitErr  error
	stopOnce sync.Once
}

// StartSIPp starts SIPp with a scenario and returns once its SIP port is
// bound (so a UAC started next will reach it). It fails the test when SIPp is
// missing or exits at once (bad scenario, busy port); t.Cleanup stops it and,
// if the test failed, logs its errors, log lines and messages.
func StartSIPp(t testing.TB, opts SIPpOptions) *SIPpProcess {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("peer: %v", ErrSIPpNotInstalled)
	}
	p, err := newSIPp(t, opts)
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Dir = p.dir
	screen, err := os.Create(filepath.Join(p.dir, "screen.log"))
	if err != nil {
		t.Fatalf("peer: sipp screen file: %v", err)
	}
	defer screen.Close()
	p.cmd.Stdout, p.cmd.Stderr = screen, screen
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("peer: start sipp: %v", err)
	}
	go p.wait()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			p.logDiagnostics()
		}
	})

	network := "udp"
	if strings.HasPrefix(p.opts.Transport, "t") {
		network = "tcp"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitBound(ctx, network, p.opts.LocalPort, p.done); err != nil {
		select {
		case <-p.done:
			// A UAC may finish before we look, a legitimate outcome.
			if p.exitCode == ExitAllCallsOK || p.exitCode == ExitSomeCallsFailed {
				return p
			}
		default:
		}
		p.logDiagnostics()
		t.Fatalf("peer: sipp %s did not start: %v (exit code %d)", p.opts.Scenario, err, p.exitCodeNow())
	}
	return p
}

// newSIPp resolves options, keys and the command line without starting SIPp.
func newSIPp(t testing.TB, opts SIPpOptions) (*SIPpProcess, error) {
	t.Helper()
	path, err := ScenarioPath(opts.Scenario)
	if err != nil {
		return nil, err
	}
	xml, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	keys, err := resolveKeys(filepath.Base(path), scenarioKeys(xml), opts.Keys)
	if err != nil {
		return nil, err
	}
	if opts.LocalIP == "" {
		opts.LocalIP = "127.0.0.1"
	}
	if opts.Transport == "" {
		opts.Transport = "u1"
	}
	if opts.LocalPort == 0 {
		if strings.HasPrefix(opts.Transport, "t") {
			opts.LocalPort = FreeTCPPort(t)
		} else {
			opts.LocalPort = FreeUDPPort(t)
		}
	}
	if opts.MediaPort == 0 {
		// SIPp binds the media port and the next ones (RTCP, video).
		opts.MediaPort = FreePortRange(t, 4)
	}
	if opts.Calls == 0 {
		opts.Calls = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultSIPpTimeout
	}
	p := &SIPpProcess{t: t, opts: opts, scenario: path, dir: t.TempDir(), done: make(chan struct{}), exitCode: -1}
	args := []string{
		"-sf", path,
		"-i", opts.LocalIP,
		"-p", strconv.Itoa(opts.LocalPort),
		"-mp", strconv.Itoa(opts.MediaPort),
		"-t", opts.Transport,
		"-nostdin",
		"-timeout", fmt.Sprintf("%ds", int(opts.Timeout.Round(time.Second).Seconds())),
		"-timeout_error",
		"-trace_err", "-error_file", p.file("errors.log"),
		"-trace_logs", "-log_file", p.file("log.log"),
		"-trace_msg", "-message_file", p.file("messages.log"),
		"-trace_stat", "-stf", p.file("stat.csv"),
	}
	if opts.Calls > 0 {
		args = append(args, "-m", strconv.Itoa(opts.Calls))
	}
	if opts.Rate > 0 {
		args = append(args, "-r", strconv.FormatFloat(opts.Rate, 'f', -1, 64))
	}
	if opts.Limit > 0 {
		args = append(args, "-l", strconv.Itoa(opts.Limit))
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		args = append(args, "-key", k, keys[k])
	}
	args = append(args, opts.ExtraArgs...)
	if opts.Remote != "" {
		args = append(args, opts.Remote)
	}
	p.args = args
	return p, nil
}

func (p *SIPpProcess) file(name string) string { return filepath.Join(p.dir, name) }

func (p *SIPpProcess) wait() {
	err := p.cmd.Wait()
	p.exitCode = p.cmd.ProcessState.ExitCode()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		p.waitErr = fmt.Errorf("wait for sipp: %w", err)
	}
	if p.exitCode < 0 {
		p.waitErr = fmt.Errorf("sipp %s", p.cmd.ProcessState)
	}
	close(p.done)
}

func (p *SIPpProcess) exitCodeNow() int {
	select {
	case <-p.done:
		return p.exitCode
	default:
		return -1
	}
}

// Port returns SIPp's SIP port.
func (p *SIPpProcess) Port() int { return p.opts.LocalPort }

// Addr returns SIPp's SIP address, "ip:port".
func (p *SIPpProcess) Addr() string {
	return netip.AddrPortFrom(netip.MustParseAddr(p.opts.LocalIP), uint16(p.opts.LocalPort)).String()
}

// Dir returns the directory holding SIPp's trace files.
func (p *SIPpProcess) Dir() string { return p.dir }

// Args returns SIPp's command line arguments (without the binary).
func (p *SIPpProcess) Args() []string { return slices.Clone(p.args) }

// Wait waits for SIPp to exit and returns its exit code (see ExitAllCallsOK
// and friends). Without a deadline in ctx it waits at most the SIPp timeout
// plus a few seconds. On timeout SIPp keeps running; Stop or t.Cleanup ends it.
func (p *SIPpProcess) Wait(ctx context.Context) (exitCode int, err error) {
	ctx, cancel := boundContext(ctx, p.opts.Timeout+sippWaitGrace)
	defer cancel()
	select {
	case <-p.done:
		return p.exitCode, p.waitErr
	case <-ctx.Done():
		return -1, fmt.Errorf("wait for sipp %s: %w", filepath.Base(p.scenario), ctx.Err())
	}
}

// WaitLog waits until a line containing substr appears in the scenario's log
// (the <log> actions) and returns it. It fails with ErrLogLineNotFound when
// SIPp exits without writing it. Without a deadline in ctx it waits at most
// the SIPp timeout plus a few seconds.
func (p *SIPpProcess) WaitLog(ctx context.Context, substr string) (line string, err error) {
	ctx, cancel := boundContext(ctx, p.opts.Timeout+sippWaitGrace)
	defer cancel()
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		exited := false
		select {
		case <-p.done:
			exited = true
		default:
		}
		if l, ok := findLine(p.file("log.log"), substr); ok {
			return l, nil
		}
		if exited {
			return "", fmt.Errorf("wait for %q in sipp %s log: %w", substr, filepath.Base(p.scenario), ErrLogLineNotFound)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return "", fmt.Errorf("wait for %q in sipp %s log: %w", substr, filepath.Base(p.scenario), ctx.Err())
		}
	}
}

func findLine(path, substr string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// A line still being written has no newline yet; the scanner returns
		// it too, so insist on the whole marker being present.
		if strings.Contains(sc.Text(), substr) {
			return sc.Text(), true
		}
	}
	return "", false
}

var remoteRTPLine = regexp.MustCompile(`REMOTE_RTP ip=(\S+) port=(\d+)`)

// RemoteRTP waits for the scenario's "REMOTE_RTP ip=... port=..." log line
// (the audio address in the SDP the far end sent) and returns that address.
func (p *SIPpProcess) RemoteRTP(ctx context.Context) (netip.AddrPort, error) {
	line, err := p.WaitLog(ctx, "REMOTE_RTP ")
	if err != nil {
		return netip.AddrPort{}, err
	}
	return parseRemoteRTP(line)
}

func parseRemoteRTP(line string) (netip.AddrPort, error) {
	m := remoteRTPLine.FindStringSubmatch(line)
	if m == nil {
		return netip.AddrPort{}, fmt.Errorf("parse remote rtp from %q: no ip= and port=", line)
	}
	addr, err := netip.ParseAddr(m[1])
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("parse remote rtp address: %w", err)
	}
	port, err := strconv.ParseUint(m[2], 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("parse remote rtp port: %w", err)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// Stop ends SIPp (SIGTERM, then SIGKILL after a grace time) if it is still
// running and waits for it. It is safe to call more than once.
func (p *SIPpProcess) Stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(sippStopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// Messages returns SIPp's message trace (every message sent and received).
func (p *SIPpProcess) Messages() string { return readFile(p.file("messages.log")) }

// Errors returns SIPp's error trace (unexpected messages, failed checks).
func (p *SIPpProcess) Errors() string { return readFile(p.file("errors.log")) }

// Log returns the scenario's log lines (the <log> actions).
func (p *SIPpProcess) Log() string { return readFile(p.file("log.log")) }

// Screen returns what SIPp printed (its final statistics screen).
func (p *SIPpProcess) Screen() string { return readFile(p.file("screen.log")) }

// StatFile returns the path of SIPp's statistics CSV (-trace_stat).
func (p *SIPpProcess) StatFile() string { return p.file("stat.csv") }

func (p *SIPpProcess) logDiagnostics() {
	p.t.Helper()
	p.t.Logf("sipp %s (%s) exit code %d\nargs: %q\n--- errors:\n%s\n--- log:\n%s\n--- messages:\n%s\n--- screen (tail):\n%s",
		filepath.Base(p.scenario), p.Addr(), p.exitCodeNow(), redactArgs(p.args),
		tail(p.Errors(), 8000), tail(p.Log(), 4000), tail(redactAuth(p.Messages()), 16000), tail(p.Screen(), 3000))
}

// redactArgs hides the values of keys that hold secrets.
func redactArgs(args []string) []string {
	out := slices.Clone(args)
	for i := 0; i+2 < len(out); i++ {
		if out[i] == "-key" && strings.Contains(strings.ToLower(out[i+1]), "password") {
			out[i+2] = "[redacted]"
		}
	}
	return out
}

var authHeader = regexp.MustCompile(`(?mi)^((?:proxy-)?authorization:\s*\S+).*$`)

// redactAuth shortens Authorization headers in a message trace to their
// scheme, so a failing test's log carries no credentials.
func redactAuth(s string) string {
	return authHeader.ReplaceAllString(s, "$1 [redacted]")
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// HeaderLines joins header lines for a scenario's "headers" key: each line
// ends in CRLF, and the key sits at the start of another header line, so an
// empty value adds nothing.
func HeaderLines(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.String()
}
