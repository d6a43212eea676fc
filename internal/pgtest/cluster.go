package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptTimeout bounds one run of scripts/localpg.sh. The first run on a
// machine without a server installs one (as root), hence the generous bound.
const scriptTimeout = 5 * time.Minute

// Cluster is a throwaway PostgreSQL cluster run by scripts/localpg.sh in a
// temporary directory, reachable only through its unix socket.
type Cluster struct {
	script string
	dir    string
	url    string

	mu       sync.Mutex
	watchdog *exec.Cmd
}

// NewCluster starts a cluster of the test's own and removes it when the test
// ends. It takes a second or two; prefer URL unless the test must stop the
// server.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.remove(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// URL returns the connection URL of the cluster's "teamline" database. It
// stays the same across Stop and Start.
func (c *Cluster) URL() string {
	return c.url
}

// Stop stops the server (fast shutdown: sessions are disconnected).
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if _, err := c.run("stop"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Start starts the server again after Stop.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if _, err := c.run("start"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// startCluster creates a temporary directory and starts a cluster in it.
func startCluster() (*Cluster, error) {
	script, err := findScript()
	if err != nil {
		return nil, err
	}
	// A short path under the system temp dir keeps the socket path within
	// the limit of a unix socket address.
	dir, err := os.MkdirTemp("", "tlpg-")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	// As root the server runs as the postgres user, which must reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &Cluster{script: script, dir: dir}
	if err := c.startWatchdog(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	url, err := c.run("start")
	if err != nil {
		_ = c.remove()
		return nil, err
	}
	c.url = url
	return c, nil
}

// run runs the script with cmd ("start" or "stop") on the cluster's
// directory and returns the last line of its output.
func (c *Cluster) run(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	x := exec.CommandContext(ctx, "bash", c.script, cmd, c.dir)
	x.Stdout = &stdout
	x.Stderr = &stderr
	if err := x.Run(); err != nil {
		return "", fmt.Errorf("%s %s %s: %w\n%s", c.script, cmd, c.dir, err, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if cmd == "start" && !strings.HasPrefix(out, "postgres://") {
		return "", fmt.Errorf("%s start %s printed %q, not a URL\n%s", c.script, c.dir, out, stderr.String())
	}
	return out, nil
}

// startWatchdog starts a shell that stops and removes the cluster once this
// process has exited, whichever way it exits. remove ends the watchdog.
func (c *Cluster) startWatchdog() error {
	const prog = `while kill -0 "$1" 2>/dev/null; do sleep 1; done
bash "$2" stop "$3" >/dev/null 2>&1
rm -rf "$3"`
	w := exec.Command("bash", "-c", prog, "pgtest-watchdog", strconv.Itoa(os.Getpid()), c.script, c.dir)
	// Its own process group: it must outlive a kill of the test binary, and
	// hold none of its output pipes (go test waits for those to close).
	w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start cluster watchdog: %w", err)
	}
	c.watchdog = w
	return nil
}

// remove stops the cluster, deletes its directory and ends its watchdog.
func (c *Cluster) remove() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.dir != "" {
		if _, err := c.run("stop"); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove cluster directory: %w", err))
		}
		c.dir = ""
	}
	if w := c.watchdog; w != nil {
		// The whole group: the shell and its sleep.
		_ = syscall.Kill(-w.Process.Pid, syscall.SIGKILL)
		_ = w.Wait()
		c.watchdog = nil
	}
	return errors.Join(errs...)
}

// findScript finds scripts/localpg.sh in the module root: the first
// directory holding go.mod, walking up from the working directory (a test's
// working directory is its package directory).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			script := filepath.Join(dir, "scripts", "localpg.sh")
			if _, err := os.Stat(script); err != nil {
				return "", fmt.Errorf("find cluster script: %w", err)
			}
			return script, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}
