package peer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Defaults of BaresipOptions.
const (
	DefaultBaresipTone    = 1000.0
	DefaultBaresipRunTime = 120 * time.Second
	baresipRTPPorts       = 10
	baresipStopGrace      = 2 * time.Second
	baresipModulePath     = "/usr/lib/baresip/modules"
)

// ErrBaresipNotInstalled is reported by StartBaresip when no baresip binary
// is on PATH.
var ErrBaresipNotInstalled = errors.New("baresip is not installed (Debian package baresip-core)")

// ErrRegisterFailed is returned by Baresip.WaitRegistered when baresip
// reports that registration failed.
var ErrRegisterFailed = errors.New("baresip registration failed")

// ErrBaresipExited is returned by waits on a baresip that has exited.
var ErrBaresipExited = errors.New("baresip exited")

// BaresipOptions describe one baresip agent.
type BaresipOptions struct {
	// Username and Password are the agent's SIP credentials; the address of
	// record is sip:Username@Registrar.
	Username, Password string
	// Registrar is Teamline's SIP address, e.g. "127.0.0.1:5060".
	Registrar string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Tone is the frequency of the sine baresip sends as its microphone;
	// default 1000 Hz.
	Tone float64
	// AnswerMode is baresip's answermode: "auto" (default) or "manual".
	AnswerMode string
	// RegisterInterval is the registration interval in seconds (regint);
	// default 300. 0 keeps the default; use Unregistered to not register.
	RegisterInterval int
	// Unregistered leaves out registration (regint=0): baresip only listens.
	Unregistered bool
	// RunTime is baresip's -t: it quits by itself after this long; default
	// 120 s. Tests stop it earlier.
	RunTime time.Duration
}

// BaresipEvent is one event baresip's ctrl_tcp module emitted.
type BaresipEvent struct {
	Class      string `json:"class"`
	Type       string `json:"type"`
	Param      string `json:"param"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	ID         string `json:"id"`
	// Raw is the event's JSON as received.
	Raw string `json:"-"`
}

// Baresip is a running baresip agent.
type Baresip struct {
	t         testing.TB
	opts      BaresipOptions
	dir       string
	sipPort   int
	ctrlPort  int
	rtpFirst  int
	cmd       *exec.Cmd
	ctrl      net.Conn
	writeMu   sync.Mutex
	done      chan struct{}
	exitState string
	stopOnce  sync.Once

	mu      sync.Mutex
	events  []BaresipEvent
	changed chan struct{} // closed and replaced on every event
	pending map[string]chan baresipResponse
	token   int
	ctrlEOF bool
}

type baresipResponse struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

// StartBaresip writes a config directory and starts baresip with its own SIP
// port, ctrl_tcp port, RTP port range and recording directory. It returns
// once ctrl_tcp is connected; registration goes on in the background (see
// WaitRegistered). t.Cleanup stops it and, if the test failed, logs its
// output and events.
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatalf("peer: %v", ErrBaresipNotInstalled)
	}
	b := newBaresip(t, opts)
	if err := b.writeConfig(); err != nil {
		t.Fatalf("peer: %v", err)
	}
	logFile, err := os.Create(b.file("baresip.log"))
	if err != nil {
		t.Fatalf("peer: baresip log file: %v", err)
	}
	defer logFile.Close()
	secs := int(b.opts.RunTime.Round(time.Second).Seconds())
	b.cmd = exec.Command(bin, "-f", b.file("config.d"), "-t", strconv.Itoa(secs))
	b.cmd.Dir = b.dir
	b.cmd.Stdin = nil // /dev/null: the stdio module must not be loaded anyway
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("peer: start baresip: %v", err)
	}
	go b.wait()
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			b.logDiagnostics()
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitBound(ctx, "tcp", b.ctrlPort, b.done); err != nil {
		b.logDiagnostics()
		t.Fatalf("peer: baresip did not open ctrl_tcp: %v", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.ctrlPort)))
	if err != nil {
		b.logDiagnostics()
		t.Fatalf("peer: connect to baresip ctrl_tcp: %v", err)
	}
	b.ctrl = conn
	go b.readCtrl(conn)
	return b
}

func newBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	if opts.Transport == "" {
		opts.Transport = "udp"
	}
	if opts.Tone == 0 {
		opts.Tone = DefaultBaresipTone
	}
	if opts.AnswerMode == "" {
		opts.AnswerMode = "auto"
	}
	if opts.RegisterInterval == 0 {
		opts.RegisterInterval = 300
	}
	if opts.Unregistered {
		opts.RegisterInterval = 0
	}
	if opts.RunTime == 0 {
		opts.RunTime = DefaultBaresipRunTime
	}
	return &Baresip{
		t:        t,
		opts:     opts,
		dir:      t.TempDir(),
		sipPort:  FreeSIPPort(t),
		ctrlPort: FreeTCPPort(t),
		rtpFirst: evenRTPRange(t),
		done:     make(chan struct{}),
		changed:  make(chan struct{}),
		pending:  map[string]chan baresipResponse{},
	}
}

// evenRTPRange reserves baresipRTPPorts ports starting at an even port:
// baresip rounds an odd rtp_ports start down to the even port below it (RTP
// even, RTCP odd), which would step outside the reserved range.
func evenRTPRange(t testing.TB) int {
	t.Helper()
	first := FreePortRange(t, baresipRTPPorts+1)
	return first + first%2
}

func (b *Baresip) file(name string) string { return filepath.Join(b.dir, name) }

// writeConfig writes config, accounts and contacts (see TESTING.md).
func (b *Baresip) writeConfig() error {
	cfgDir := b.file("config.d")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return fmt.Errorf("baresip config dir: %w", err)
	}
	if err := os.MkdirAll(b.file("rec"), 0o755); err != nil {
		return fmt.Errorf("baresip recording dir: %w", err)
	}
	config := strings.Join([]string{
		"poll_method\tepoll",
		"sip_listen\t127.0.0.1:" + strconv.Itoa(b.sipPort),
		"net_interface\t127.0.0.1",
		"audio_source\tausine," + strconv.FormatFloat(b.opts.Tone, 'f', -1, 64),
		// ausine needs 48 kHz stereo, or the call hangs at 180.
		"ausrc_srate\t48000",
		"ausrc_channels\t2",
		fmt.Sprintf("rtp_ports\t%d-%d", b.rtpFirst, b.rtpFirst+baresipRTPPorts-1),
		"rtcp_mux\tno",
		"module_path\t" + baresipModulePath,
		"module\tg711.so",
		"module\tausine.so",
		"module\tsndfile.so",
		"module_tmp\taccount.so",
		// menu provides the long commands (hangup, reginfo, dial, ...) that
		// ctrl_tcp forwards; without it every command is "not found".
		"module_app\tmenu.so",
		"module_app\tctrl_tcp.so",
		"ctrl_tcp_listen\t127.0.0.1:" + strconv.Itoa(b.ctrlPort),
		"snd_path\t" + b.file("rec"),
		"statmode_default\toff",
		"",
	}, "\n")
	aor := fmt.Sprintf("<sip:%s@%s", b.opts.Username, b.opts.Registrar)
	if b.opts.Transport != "udp" {
		aor += ";transport=" + b.opts.Transport
	}
	account := fmt.Sprintf("%s>;auth_user=%s;auth_pass=%s;answermode=%s;audio_codecs=PCMU;regint=%d\n",
		aor, b.opts.Username, b.opts.Password, b.opts.AnswerMode, b.opts.RegisterInterval)
	for name, content := range map[string]string{"config": config, "accounts": account, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(cfgDir, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("write baresip %s: %w", name, err)
		}
	}
	return nil
}

func (b *Baresip) wait() {
	_ = b.cmd.Wait()
	b.exitState = b.cmd.ProcessState.String()
	close(b.done)
	b.mu.Lock()
	b.broadcastLocked()
	b.mu.Unlock()
}

func (b *Baresip) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// readCtrl reads ctrl_tcp's netstrings: events and command responses.
func (b *Baresip) readCtrl(conn net.Conn) {
	r := bufio.NewReader(conn)
	for {
		msg, err := readNetstring(r)
		if err != nil {
			b.mu.Lock()
			b.ctrlEOF = true
			b.broadcastLocked()
			b.mu.Unlock()
			return
		}
		var head struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		if err := json.Unmarshal(msg, &head); err != nil {
			b.t.Logf("peer: baresip ctrl_tcp sent non-JSON %q: %v", msg, err)
			continue
		}
		switch {
		case head.Event:
			var ev BaresipEvent
			_ = json.Unmarshal(msg, &ev)
			ev.Raw = string(msg)
			b.mu.Lock()
			b.events = append(b.events, ev)
			b.broadcastLocked()
			b.mu.Unlock()
		case head.Response:
			var resp baresipResponse
			_ = json.Unmarshal(msg, &resp)
			b.mu.Lock()
			ch := b.pending[resp.Token]
			delete(b.pending, resp.Token)
			b.mu.Unlock()
			if ch != nil {
				ch <- resp
			}
		}
	}
}

// maxNetstring bounds what a peer can make us allocate.
const maxNetstring = 1 << 20

// readNetstring reads one "len:data," netstring.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	lenStr, err := r.ReadString(':')
	if err != nil {
		return nil, fmt.Errorf("read netstring length: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
	if err != nil || n < 0 || n > maxNetstring {
		return nil, fmt.Errorf("bad netstring length %q", lenStr)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read netstring body: %w", err)
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("netstring of %d bytes not followed by a comma", n)
	}
	return buf[:n], nil
}

func writeNetstring(w io.Writer, msg []byte) error {
	_, err := fmt.Fprintf(w, "%d:%s,", len(msg), msg)
	return err
}

// SIPPort returns the port baresip listens on for SIP (UDP and TCP).
func (b *Baresip) SIPPort() int { return b.sipPort }

// SIPAddr returns baresip's SIP address, "127.0.0.1:port".
func (b *Baresip) SIPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.sipPort)) }

// CtrlPort returns baresip's ctrl_tcp port.
func (b *Baresip) CtrlPort() int { return b.ctrlPort }

// RTPPorts returns the first and last port of baresip's RTP range.
func (b *Baresip) RTPPorts() (first, last int) {
	return b.rtpFirst, b.rtpFirst + baresipRTPPorts - 1
}

// Dir returns baresip's directory (config.d, rec, baresip.log).
func (b *Baresip) Dir() string { return b.dir }

// Log returns what baresip printed.
func (b *Baresip) Log() string { return readFile(b.file("baresip.log")) }

// Events returns every ctrl_tcp event received so far.
func (b *Baresip) Events() []BaresipEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.events)
}

// WaitEvent waits for the first event of the given type (e.g.
// "CALL_ESTABLISHED", "CALL_CLOSED", "REGISTER_OK") since baresip started
// and returns it. Without a deadline in ctx it waits at most 30 s.
func (b *Baresip) WaitEvent(ctx context.Context, eventType string) (BaresipEvent, error) {
	return b.WaitEventCount(ctx, eventType, 1)
}

// WaitEventCount waits for the n-th event of the given type (n from 1), for
// example the second CALL_ESTABLISHED.
func (b *Baresip) WaitEventCount(ctx context.Context, eventType string, n int) (BaresipEvent, error) {
	ctx, cancel := boundContext(ctx, defaultWait)
	defer cancel()
	for {
		b.mu.Lock()
		seen := 0
		for _, ev := range b.events {
			if ev.Type == eventType {
				seen++
				if seen == n {
					b.mu.Unlock()
					return ev, nil
				}
			}
		}
		changed, eof := b.changed, b.ctrlEOF
		b.mu.Unlock()
		if eof {
			return BaresipEvent{}, fmt.Errorf("wait for baresip event %s #%d: %w", eventType, n, ErrBaresipExited)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return BaresipEvent{}, fmt.Errorf("wait for baresip event %s #%d: %w", eventType, n, ctx.Err())
		}
	}
}

// WaitRegistered waits until baresip's registration succeeds: a REGISTER_OK
// event, or, as the first REGISTER may finish before ctrl_tcp is connected,
// its "200 OK ... binding" log line. It fails with ErrRegisterFailed on a
// REGISTER_FAIL event or a failure in the log. Without a deadline in ctx it
// waits at most 30 s.
func (b *Baresip) WaitRegistered(ctx context.Context) error {
	ctx, cancel := boundContext(ctx, defaultWait)
	defer cancel()
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		b.mu.Lock()
		for _, ev := range b.events {
			switch ev.Type {
			case "REGISTER_OK":
				b.mu.Unlock()
				return nil
			case "REGISTER_FAIL":
				b.mu.Unlock()
				return fmt.Errorf("%w: %s", ErrRegisterFailed, ev.Param)
			}
		}
		changed := b.changed
		b.mu.Unlock()
		for _, line := range strings.Split(b.Log(), "\n") {
			if strings.Contains(line, b.opts.Username+"@") && strings.Contains(line, "200 OK") && strings.Contains(line, "binding") {
				return nil
			}
			if strings.Contains(line, "reg: ") && strings.Contains(line, b.opts.Username+"@") {
				return fmt.Errorf("%w: %s", ErrRegisterFailed, strings.TrimSpace(stripANSI(line)))
			}
		}
		select {
		case <-b.done:
			return fmt.Errorf("wait for registration: %w (%s)", ErrBaresipExited, b.exitState)
		default:
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for baresip registration: %w", ctx.Err())
		}
	}
}

func stripANSI(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// Command sends a ctrl_tcp command (e.g. "hangup", "reginfo", "dial") and
// returns the response's data; a response with ok=false is an error.
func (b *Baresip) Command(ctx context.Context, command, params string) (string, error) {
	ctx, cancel := boundContext(ctx, 5*time.Second)
	defer cancel()
	b.mu.Lock()
	b.token++
	token := "t" + strconv.Itoa(b.token)
	ch := make(chan baresipResponse, 1)
	b.pending[token] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, token)
		b.mu.Unlock()
	}()
	msg, err := json.Marshal(map[string]string{"command": command, "params": params, "token": token})
	if err != nil {
		return "", fmt.Errorf("encode baresip command: %w", err)
	}
	b.writeMu.Lock()
	err = writeNetstring(b.ctrl, msg)
	b.writeMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("send baresip command %s: %w", command, err)
	}
	select {
	case resp := <-ch:
		if !resp.OK {
			return resp.Data, fmt.Errorf("baresip command %s failed: %s", command, resp.Data)
		}
		return resp.Data, nil
	case <-b.done:
		return "", fmt.Errorf("baresip command %s: %w", command, ErrBaresipExited)
	case <-ctx.Done():
		return "", fmt.Errorf("baresip command %s: %w", command, ctx.Err())
	}
}

// Hangup hangs up baresip's current call.
func (b *Baresip) Hangup() error {
	_, err := b.Command(context.Background(), "hangup", "")
	return err
}

// Stop quits baresip through ctrl_tcp (it unregisters first), then SIGTERM,
// then SIGKILL, each after a short grace time, and waits for it. It is safe
// to call more than once.
func (b *Baresip) Stop() {
	b.stopOnce.Do(func() {
		select {
		case <-b.done:
		default:
			if b.ctrl != nil {
				b.writeMu.Lock()
				_ = b.ctrl.SetWriteDeadline(time.Now().Add(time.Second))
				_ = writeNetstring(b.ctrl, []byte(`{"command":"quit","token":"quit"}`))
				b.writeMu.Unlock()
			}
			for _, sig := range []os.Signal{nil, syscall.SIGTERM, syscall.SIGKILL} {
				if sig != nil {
					_ = b.cmd.Process.Signal(sig)
				}
				select {
				case <-b.done:
				case <-time.After(baresipStopGrace):
					continue
				}
				break
			}
			<-b.done
		}
		if b.ctrl != nil {
			b.ctrl.Close()
		}
	})
}

// Recordings returns the paths of the newest recordings sndfile wrote: what
// baresip heard (dec) and what it sent (enc), 16-bit 8 kHz WAV, complete only
// after the call ended. Empty strings when there are none.
func (b *Baresip) Recordings() (dec, enc string) {
	newest := func(pattern string) string {
		files, _ := filepath.Glob(filepath.Join(b.file("rec"), pattern))
		var best string
		var bestTime time.Time
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && !fi.ModTime().Before(bestTime) {
				best, bestTime = f, fi.ModTime()
			}
		}
		return best
	}
	return newest("dump-*-dec.wav"), newest("dump-*-enc.wav")
}

func (b *Baresip) logDiagnostics() {
	b.t.Helper()
	var evs strings.Builder
	for _, ev := range b.Events() {
		evs.WriteString(ev.Raw)
		evs.WriteByte('\n')
	}
	b.t.Logf("baresip %s (sip %s, ctrl %d) %s\n--- output:\n%s\n--- events:\n%s",
		b.opts.Username, b.SIPAddr(), b.ctrlPort, b.exitState, tail(stripANSI(b.Log()), 8000), tail(evs.String(), 8000))
}
