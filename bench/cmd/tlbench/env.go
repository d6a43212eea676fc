package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Cores the harness pins to: the system under test (Teamline, Kamailio) on
// one, the load generators (SIPp, the RTP generator, PostgreSQL) on the other.
const (
	loadCore = 0
	sutCore  = 1
	// pinnedEnv marks the re-executed, pinned harness and carries the
	// machine's core count (the pinned process sees one core).
	pinnedEnv = "TLBENCH_PINNED_CORES"
)

// machine describes where the figures came from.
type machine struct {
	Cores     int    `json:"cores"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Pinned    bool   `json:"pinned"`
	Pinning   string `json:"pinning"`
}

// pinSelf re-executes the harness under taskset on the load core so that
// every load generator it starts inherits that core. It returns done=true
// with the child's exit code when it did.
func pinSelf(args []string) (done bool, code int) {
	if os.Getenv(pinnedEnv) != "" || runtime.NumCPU() < 2 {
		return false, 0
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return false, 0
	}
	self, err := os.Executable()
	if err != nil {
		return false, 0
	}
	cmd := exec.Command(taskset, append([]string{"-c", strconv.Itoa(loadCore), self}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), pinnedEnv+"="+strconv.Itoa(runtime.NumCPU()))
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return true, exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "tlbench: run pinned:", err)
		return true, 1
	}
	return true, 0
}

// raiseStackLimit lifts the soft stack limit to the hard one for the
// processes the harness starts. SIPp 3.6 recurses deeply under load: with
// the usual 8 MB its agents' instance died of a stack overflow (SIGSEGV at
// the stack pointer, in the kernel log) within seconds at 1,500 calls/s on
// an AMD EPYC VM, and every call it was answering failed as if Teamline had
// dropped it.
func raiseStackLimit() (note string) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &lim); err != nil {
		return "stack limit unread: " + err.Error()
	}
	if lim.Cur == lim.Max {
		return ""
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_STACK, &lim); err != nil {
		return "stack limit not raised (SIPp may overflow its stack at high rates): " + err.Error()
	}
	return ""
}

// describeMachine reports cores, CPU model and the pinning in effect.
func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if v, err := strconv.Atoi(os.Getenv(pinnedEnv)); err == nil {
		m.Cores = v
		m.Pinned = true
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if m.Pinned {
		m.Pinning = fmt.Sprintf("Teamline and Kamailio on core %d (GOMAXPROCS=1), SIPp, RTP generator and PostgreSQL on core %d", sutCore, loadCore)
	} else {
		m.Pinning = "none: fewer than 2 cores or no taskset; all processes share the CPUs"
	}
	return m
}

// moduleRoot finds the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run tlbench from the Teamline checkout")
		}
		dir = parent
	}
}

// ensureTool finds bin on PATH, installing the Debian package pkg when
// running as root and install is set. Otherwise it returns an error that
// holds the command to run.
func ensureTool(ctx context.Context, bin, pkg string, install bool, logf func(string, ...any)) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	cmdline := "apt-get install -y --no-install-recommends " + pkg
	if os.Geteuid() != 0 || !install {
		return "", fmt.Errorf("%s not found; install it with: sudo %s", bin, cmdline)
	}
	logf("installing %s (Debian package %s)", bin, pkg)
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", pkg}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, tailString(string(out), 500))
		}
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s still not found after installing %s: %w", bin, pkg, err)
	}
	return p, nil
}

// freePort returns a loopback port free for UDP (and TCP when both is set)
// right now.
func freePort(both bool) (int, error) {
	for range 50 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		if !both {
			return port, nil
		}
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("free port: none found")
}

// freeMediaPort returns a port for SIPp's -mp: SIPp binds that port and the
// three above it (audio and video, RTP and RTCP) and exits with 254 when any
// is taken. With thousands of RTP generator sockets in the ephemeral range,
// a port that is free on its own often has a neighbour that is not, which
// stopped media steps at random.
func freeMediaPort() (int, error) {
	for range 200 {
		port, err := freePort(false)
		if err != nil {
			return 0, err
		}
		if port%2 != 0 || port > 65535-3 {
			continue
		}
		var held []net.PacketConn
		ok := true
		for p := port; p < port+4; p++ {
			pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, pc)
		}
		for _, pc := range held {
			pc.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("free media port: none found")
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// coarseClockRes is the resolution of CLOCK_MONOTONIC_COARSE, the clock
// SIPp's millisecond timers follow (one kernel tick).
func coarseClockRes() time.Duration {
	const clockMonotonicCoarse = 6
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETRES, clockMonotonicCoarse, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// sleepCtx sleeps for d (nothing when d <= 0) or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
