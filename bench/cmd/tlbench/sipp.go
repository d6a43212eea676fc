package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sippSpec is one SIPp instance.
type sippSpec struct {
	name      string // directory and log name
	scenario  string // path of the XML
	remote    string // host:port for a UAC; empty for a UAS
	port      int    // -p
	mediaPort int    // -mp
	inf       string // -inf file
	keys      map[string]string
	rate      int           // -r
	calls     int           // -m; 0: unlimited
	limit     int           // -l
	hold      time.Duration // -d
	timeout   time.Duration // -timeout (whole run)
	logs      bool          // -trace_logs
	rtt       bool          // -trace_rtt
	extra     []string      // more arguments
}

// sippBuffer is SIPp's UDP socket buffer: bursts at thousands of calls/s
// must queue, not drop, on the load generator's side.
const sippBuffer = 4 << 20

// sippArgs builds the command line; files go into dir.
func (s sippSpec) args(dir string) []string {
	a := []string{
		"-sf", s.scenario,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(s.port),
		"-mp", strconv.Itoa(s.mediaPort),
		"-t", "u1",
		"-nostdin",
		"-buff_size", strconv.Itoa(sippBuffer),
		"-max_recv_loops", "10000",
		"-max_sched_loops", "10000",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
	}
	if s.inf != "" {
		a = append(a, "-inf", s.inf)
	}
	for _, k := range sortedKeys(s.keys) {
		a = append(a, "-key", k, s.keys[k])
	}
	if s.rate > 0 {
		a = append(a, "-r", strconv.Itoa(s.rate))
	}
	if s.calls > 0 {
		a = append(a, "-m", strconv.Itoa(s.calls))
	}
	if s.limit > 0 {
		a = append(a, "-l", strconv.Itoa(s.limit))
	}
	if s.hold > 0 {
		a = append(a, "-d", strconv.FormatInt(s.hold.Milliseconds(), 10))
	}
	if s.timeout > 0 {
		a = append(a, "-timeout", fmt.Sprintf("%ds", int(s.timeout.Seconds())), "-timeout_error")
	}
	if s.logs {
		a = append(a, "-trace_logs", "-log_file", filepath.Join(dir, "log.log"))
	}
	if s.rtt {
		a = append(a, "-trace_rtt", "-rtt_freq", "100")
	}
	a = append(a, s.extra...)
	if s.remote != "" {
		a = append(a, s.remote)
	}
	return a
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// startSIPp starts a SIPp instance on the load core, in its own directory
// under work.
func startSIPp(e *env, s sippSpec) (*proc, string, error) {
	dir := filepath.Join(e.work, s.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("sipp dir: %w", err)
	}
	p, err := startProc("sipp "+s.name, false, -1, nil, dir, filepath.Join(dir, "screen.log"), e.sipp, s.args(dir)...)
	if err != nil {
		return nil, "", err
	}
	return p, dir, nil
}

// sippStats is the last line of a SIPp -trace_stat file.
type sippStats struct {
	Created         int `json:"created"`
	Successful      int `json:"successful"`
	Failed          int `json:"failed"`
	Retransmissions int `json:"retransmissions"`
}

// readSIPpStats reads the cumulative counters of the last line of a
// -trace_stat CSV file.
func readSIPpStats(path string) (sippStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return sippStats{}, fmt.Errorf("sipp stats: %w", err)
	}
	defer f.Close()
	return parseSIPpStats(f)
}

func parseSIPpStats(r io.Reader) (sippStats, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var header []string
	var last string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if header == nil {
			header = strings.Split(line, ";")
			continue
		}
		last = line
	}
	if header == nil || last == "" {
		return sippStats{}, errors.New("sipp stats: no data line")
	}
	vals := strings.Split(last, ";")
	get := func(name string) (int, error) {
		i := slices.Index(header, name)
		if i < 0 || i >= len(vals) {
			return 0, fmt.Errorf("sipp stats: no column %s", name)
		}
		return strconv.Atoi(strings.TrimSpace(vals[i]))
	}
	var st sippStats
	var errs []error
	var e error
	st.Created, e = get("TotalCallCreated")
	errs = append(errs, e)
	st.Successful, e = get("SuccessfulCall(C)")
	errs = append(errs, e)
	st.Failed, e = get("FailedCall(C)")
	errs = append(errs, e)
	st.Retransmissions, e = get("Retransmissions(C)")
	errs = append(errs, e)
	return st, errors.Join(errs...)
}

// rttSamples reads SIPp -trace_rtt files (Date_ms;response_time_ms;rtd_no)
// in dir and returns the response times in milliseconds per rtd timer.
func rttSamples(dir string) (map[string][]float64, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	if err != nil {
		return nil, fmt.Errorf("rtt files: %w", err)
	}
	out := map[string][]float64{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("rtt file: %w", err)
		}
		err = parseRTT(f, out)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseRTT(r io.Reader, out map[string][]float64) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ";")
		if len(f) < 3 {
			continue
		}
		ms, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err != nil {
			continue // the header line
		}
		timer := strings.TrimSpace(f[2])
		out[timer] = append(out[timer], ms)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read rtt file: %w", err)
	}
	return nil
}

// percentiles summarises latencies in milliseconds.
type percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// summarise returns nearest-rank percentiles of v (which it sorts).
func summarise(v []float64) percentiles {
	if len(v) == 0 {
		return percentiles{}
	}
	slices.Sort(v)
	rank := func(p float64) float64 {
		i := int(p*float64(len(v))+0.999999) - 1
		return v[min(max(i, 0), len(v)-1)]
	}
	return percentiles{N: len(v), P50: rank(0.50), P95: rank(0.95), P99: rank(0.99), Max: v[len(v)-1]}
}
