package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/internal/peer"
)

// browserEvent is one line of the Playwright driver e2e/browser/answer.mjs.
type browserEvent struct {
	Event   string `json:"event"`
	Message string `json:"message"`
	// registered
	MS int `json:"ms"`
	// answered
	InviteToAnswerMS int `json:"inviteToAnswerMs"`
	// audio: the page's getStats() inbound-rtp figures at two moments.
	PacketsBefore         int     `json:"packetsBefore"`
	PacketsAfter          int     `json:"packetsAfter"`
	PacketsSent           int     `json:"packetsSent"`
	AudioLevel            float64 `json:"audioLevel"`
	TotalAudioEnergy      float64 `json:"totalAudioEnergy"`
	InviteToFirstPacketMS int     `json:"inviteToFirstPacketMs"`
	// ended
	CallState string `json:"callState"`
	// error
	Phone json.RawMessage `json:"phone"`
}

// browserDriver is one headless Chromium, driven by answer.mjs, holding one
// phone page.
type browserDriver struct {
	events chan browserEvent
}

// nodeDriver is a Playwright driver script (e2e/browser/*.mjs) run by node:
// in its own process group, so that Chromium's children go with it; its
// stdout read as lines, its stderr kept for a failing test's log. At cleanup
// its stdin is closed (console.mjs quits on that) and, if it has not exited
// within a few seconds, it is killed.
type nodeDriver struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte // closed when stdout ends
	exited chan struct{}

	mu     sync.Mutex
	stderr bytes.Buffer
}

// startNodeDriver starts script (under e2e/browser/) with args and
// chromium as its browser; name is for messages.
func startNodeDriver(t *testing.T, name, node, chromium, script string, args ...string) *nodeDriver {
	t.Helper()
	root, err := peer.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	d := &nodeDriver{lines: make(chan []byte, 8), exited: make(chan struct{})}
	d.cmd = exec.Command(node, append([]string{filepath.Join(root, "e2e", "browser", script)}, args...)...)
	d.cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	d.cmd.Stderr = &lockedWriter{mu: &d.mu, w: &d.stderr}
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			d.lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	go func() {
		_ = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		_ = d.stdin.Close()
		select {
		case <-d.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-d.exited:
			case <-time.After(5 * time.Second):
				t.Errorf("%s did not exit after SIGKILL", name)
			}
		}
		if t.Failed() {
			d.mu.Lock()
			t.Logf("%s stderr:\n%s", name, lastChars(d.stderr.String(), 4000))
			d.mu.Unlock()
		}
	})
	return d
}

// browserTools returns node and chromium, or skips the test when one is not
// installed (.ci/run installs both).
func browserTools(t *testing.T) (node, chromium string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: browser phone tests need node and chromium (.ci/run installs them)")
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if chromium, err = exec.LookPath(name); err == nil {
			return node, chromium
		}
	}
	t.Skip("chromium is not installed: browser phone tests need node and chromium (.ci/run installs them)")
	return "", ""
}

// startBrowser runs the Playwright driver on pageURL with wav as the fake
// microphone. The browser is stopped at cleanup, also on failure.
func startBrowser(t *testing.T, node, chromium, pageURL, wav string, timeout time.Duration) *browserDriver {
	t.Helper()
	root, err := peer.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"node_modules/playwright-core", "web/phones/dist/jssip.js", "web/phones/dist/sipjs.js"} {
		if _, err := os.Stat(filepath.Join(root, need)); err != nil {
			t.Fatalf("%s is missing: run `make browser-deps`", need)
		}
	}
	d := &browserDriver{events: make(chan browserEvent, 8)}
	nd := startNodeDriver(t, "browser driver", node, chromium, "answer.mjs", pageURL, wav, fmt.Sprint(timeout.Milliseconds()))
	go func() {
		defer close(d.events)
		for line := range nd.lines {
			var ev browserEvent
			if err := json.Unmarshal(line, &ev); err != nil {
				ev = browserEvent{Event: "error", Message: "bad driver line: " + string(line)}
			}
			d.events <- ev
		}
	}()
	return d
}

// next waits for the driver's next event and fails unless it is want.
func (d *browserDriver) next(ctx context.Context, t *testing.T, want string) browserEvent {
	t.Helper()
	select {
	case ev, ok := <-d.events:
		if !ok {
			t.Fatalf("browser driver exited before %q", want)
		}
		if ev.Event != want {
			t.Fatalf("browser: got %q (%s), want %q; phone: %s", ev.Event, ev.Message, want, ev.Phone)
		}
		return ev
	case <-ctx.Done():
		t.Fatalf("browser: no %q in time", want)
	}
	return browserEvent{}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func lastChars(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Standard WebRTC SIP clients work as agents: a JsSIP page and a SIP.js page,
// served by Teamline, each run in headless Chromium, register over WSS
// (self-signed certificate) with digest auth, auto-answer a customer's call
// from the trunk and talk: the customer hears the page's microphone tone,
// the page receives and plays the customer's audio.
func TestBrowserPhonesAnswerOverWSS(t *testing.T) {
	t.Parallel()
	node, chromium := browserTools(t)
	for _, tc := range []struct {
		name, page, user, pass string
	}{
		{"JsSIP", "jssip.html", "anna", passAnna},
		{"SIP.js", "sipjs.html", "alex", passAlex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := waitCtx(t, 40*time.Second)
			dir := t.TempDir()
			httpPort := peer.FreeTCPPort(t)
			origin := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
			tl := startTeamline(t, tlOptions{httpListen: fmt.Sprintf("127.0.0.1:%d", httpPort), edit: func(c *config.Config) {
				c.SIP.WSS = "127.0.0.1:0"
				c.SIP.TLSCert = filepath.Join(dir, "wss.crt") // created self-signed
				c.SIP.TLSKey = filepath.Join(dir, "wss.key")
				c.SIP.WSOrigins = []string{origin}
			}})
			if got := tl.app.HTTPAddr().Port(); int(got) != httpPort {
				t.Fatalf("HTTP on port %d, want %d", got, httpPort)
			}
			wav := filepath.Join(dir, "mic.wav")
			if err := peer.WriteToneWAV(wav, 16000, 1000, 6*time.Second, 0.5); err != nil {
				t.Fatal(err)
			}
			q := url.Values{
				"ws":     {fmt.Sprintf("wss://127.0.0.1:%d", tl.app.SIP.WSSAddr().Port())},
				"user":   {tc.user},
				"pass":   {tc.pass},
				"domain": {"teamline.test"},
			}
			res, err := http.Get(origin + "/phones/" + tc.page)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET /phones/%s: %s; Teamline's HTTP handler must mount web.PhonesHandler", tc.page, res.Status)
			}
			browser := startBrowser(t, node, chromium, origin+"/phones/"+tc.page+"?"+q.Encode(), wav, 35*time.Second)

			reg := browser.next(ctx, t, "registered")
			tl.waitAgentState(t, tc.user, "available")
			t.Logf("%s: page open to registered in %d ms", tc.name, reg.MS)

			callerRTP := peer.NewRTPEndpoint(t)
			dialled := time.Now()
			customer := peer.StartSIPp(t, peer.SIPpOptions{
				Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
				Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "4000"},
			})
			toAgent, err := customer.RemoteRTP(ctx)
			if err != nil {
				t.Fatalf("customer got no answer: %v\n%s", err, customer.Messages())
			}
			answered := time.Since(dialled)
			callerRTP.StartSending(ctx, toAgent, 0, 440)
			ans := browser.next(ctx, t, "answered")

			if err := callerRTP.WaitPackets(ctx, 1); err != nil {
				t.Fatalf("customer heard nothing from the browser: %v", err)
			}
			firstAtCustomer := time.Since(dialled)
			audio := browser.next(ctx, t, "audio")
			if audio.PacketsAfter <= audio.PacketsBefore || audio.PacketsBefore == 0 {
				t.Errorf("page's inbound-rtp packetsReceived %d -> %d, want growing", audio.PacketsBefore, audio.PacketsAfter)
			}
			if audio.AudioLevel <= 0 {
				t.Errorf("page plays the customer at audioLevel %v, want > 0", audio.AudioLevel)
			}
			if err := callerRTP.WaitPackets(ctx, 50); err != nil {
				t.Fatalf("customer heard too little from the browser: %v", err)
			}
			if st := callerRTP.Received(); !st.NonSilent || st.FreqHz < 900 || st.FreqHz > 1100 {
				t.Errorf("customer heard %+v, want the page's 1000 Hz microphone", st)
			}
			if code, err := customer.Wait(ctx); err != nil || code != 0 {
				t.Fatalf("customer: exit %d, %v\n%s", code, err, customer.Messages())
			}
			if ended := browser.next(ctx, t, "ended"); ended.CallState != "ended" {
				t.Errorf("page's call ended as %q, want ended", ended.CallState)
			}
			t.Logf("%s: customer INVITE -> 200 OK %d ms, -> first browser packet at the customer %d ms; "+
				"at the page: INVITE -> answered %d ms, INVITE -> first inbound packet %d ms; page received %d packets, level %.3f",
				tc.name, answered.Milliseconds(), firstAtCustomer.Milliseconds(), ans.InviteToAnswerMS,
				audio.InviteToFirstPacketMS, audio.PacketsAfter, audio.AudioLevel)
		})
	}
}
