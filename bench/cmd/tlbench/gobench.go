package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// microPackages are the packages whose hot paths are benchmarked.
var microPackages = []string{"router", "sip", "media", "roster", "callback"}

// microResult is one Go benchmark.
type microResult struct {
	Package     string  `json:"package"`
	Name        string  `json:"name"`
	N           int64   `json:"n"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// microRun is the micro-benchmark part.
type microRun struct {
	Results []microResult     `json:"results"`
	Skipped map[string]string `json:"skipped,omitempty"` // package -> why
}

// runMicro runs `go test -run '^$' -bench . -benchmem` in each package that
// has benchmarks, pinned like Teamline (SUT core, one P).
func (e *env) runMicro(ctx context.Context) microRun {
	run := microRun{Skipped: map[string]string{}}
	for _, pkg := range microPackages {
		dir := filepath.Join(e.root, pkg)
		if !hasBenchmarks(dir) {
			run.Skipped[pkg] = "no benchmarks (or no package yet)"
			continue
		}
		args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", e.o.benchtime, "-cpu", "1", "./" + pkg + "/"}
		bin := "go"
		if e.pin {
			args = append([]string{"-c", strconv.Itoa(sutCore), "go"}, args...)
			bin = "taskset"
		}
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = e.root
		out, err := cmd.CombinedOutput()
		res := parseGoBench(pkg, strings.NewReader(string(out)))
		run.Results = append(run.Results, res...)
		if err != nil {
			run.Skipped[pkg] = fmt.Sprintf("go test failed (%v): %s", err, tailString(strings.TrimSpace(string(out)), 300))
		}
		e.logf("micro-benchmarks ./%s: %d results", pkg, len(res))
	}
	return run
}

// hasBenchmarks reports whether a directory has a _test.go file with a
// Benchmark function.
func hasBenchmarks(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "\nfunc Benchmark") {
			return true
		}
	}
	return false
}

// parseGoBench reads `go test -bench -benchmem` output lines such as
// "BenchmarkResolve-1   1000000   123.4 ns/op   0 B/op   0 allocs/op".
func parseGoBench(pkg string, r io.Reader) []microResult {
	var out []microResult
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		res := microResult{Package: pkg, Name: trimProcs(f[0]), N: n}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				res.NsPerOp = v
			case "B/op":
				res.BytesPerOp = v
			case "allocs/op":
				res.AllocsPerOp = v
			}
		}
		out = append(out, res)
	}
	return out
}

// trimProcs drops the "-N" GOMAXPROCS suffix of a benchmark name.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}
