package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
)

// Bounds of the process harness.
const (
	buildTimeout    = 3 * time.Minute
	processReady    = 20 * time.Second
	processStopWait = 10 * time.Second
	logTailLines    = 150
)

// binEnv names a teamline binary to use instead of building one (a binary
// built with other flags, or from another tree).
const binEnv = "TEAMLINE_TEST_BIN"

// buildTeamline builds cmd/teamline into the test's temporary directory and
// returns the binary's path; the Go build cache makes a second build cheap.
// TEAMLINE_TEST_BIN, when set, names a binary to use instead.
func buildTeamline(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(binEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s: %v", binEnv, err)
		}
		return bin
	}
	root, err := peer.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool on PATH to build teamline: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "teamline")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/teamline")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build teamline: %v\n%s", err, out)
	}
	return bin
}

// tlProcess is one `teamline serve` process started by a test, with its
// configuration file and database; it can be killed and started again on
// the same ports and database.
type tlProcess struct {
	t       testing.TB
	name    string
	bin     string
	cfgPath string
	dbURL   string
	sip     string // SIP address, UDP and TCP
	http    string // base URL of the HTTP API
	runs    int

	cmd  *exec.Cmd
	done chan struct{}
	log  string // log file of the current run
}

// newProcess writes a configuration for o (with a fixed free HTTP port) and
// returns a process ready to Start against the database at dbURL.
func newProcess(t testing.TB, name, bin, dbURL string, o tlOptions) *tlProcess {
	t.Helper()
	httpPort := peer.FreeTCPPort(t)
	o.httpListen = fmt.Sprintf("127.0.0.1:%d", httpPort)
	path, port := writeConfig(t, o)
	p := &tlProcess{
		t: t, name: name, bin: bin, cfgPath: path, dbURL: dbURL,
		sip:  fmt.Sprintf("127.0.0.1:%d", port),
		http: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.logTails()
		}
	})
	return p
}

// start runs `teamline serve` and returns once /healthz answers 200.
func (p *tlProcess) start() {
	p.t.Helper()
	p.runs++
	p.log = filepath.Join(filepath.Dir(p.cfgPath), fmt.Sprintf("%s-run%d.log", p.name, p.runs))
	out, err := os.Create(p.log)
	if err != nil {
		p.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(p.bin, "serve", "--config", p.cfgPath, "--log-level", "info")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+p.dbURL)
	cmd.Stdout, cmd.Stderr = out, out
	// The process must not outlive the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done

	ctx, cancel := context.WithTimeout(context.Background(), processReady)
	defer cancel()
	for {
		if healthy(ctx, p.http+"/healthz") {
			return
		}
		select {
		case <-done:
			p.t.Fatalf("%s exited while starting: %s\n%s", p.name, cmd.ProcessState, tailFile(p.log, logTailLines))
		case <-ctx.Done():
			p.t.Fatalf("%s not healthy after %v\n%s", p.name, processReady, tailFile(p.log, logTailLines))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func healthy(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// kill sends SIGKILL (kill -9) and waits until the process is gone.
func (p *tlProcess) kill() {
	p.t.Helper()
	if p.cmd == nil {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("kill -9 %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(processStopWait):
		p.t.Fatalf("%s survived kill -9 for %v", p.name, processStopWait)
	}
}

// stop interrupts the process (SIGINT stops it without draining) and kills
// it if it does not exit in time.
func (p *tlProcess) stop() {
	if p.cmd == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(processStopWait):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// logText returns everything every run of the process logged so far.
func (p *tlProcess) logText() string {
	var b strings.Builder
	for i := 1; i <= p.runs; i++ {
		data, _ := os.ReadFile(filepath.Join(filepath.Dir(p.cfgPath), fmt.Sprintf("%s-run%d.log", p.name, i)))
		b.Write(data)
	}
	return b.String()
}

// logTails logs the end of each run's log.
func (p *tlProcess) logTails() {
	for i := 1; i <= p.runs; i++ {
		path := filepath.Join(filepath.Dir(p.cfgPath), fmt.Sprintf("%s-run%d.log", p.name, i))
		p.t.Logf("--- %s, run %d (last %d lines of %s):\n%s", p.name, i, logTailLines, path, tailFile(path, logTailLines))
	}
}

// register binds username's contact at contactPort on this process.
func (p *tlProcess) register(t testing.TB, username, password string, contactPort int) {
	t.Helper()
	(&teamline{t: t, sip: p.sip}).register(t, username, password, contactPort, "200")
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
