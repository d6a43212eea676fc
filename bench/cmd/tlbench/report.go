package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// results is everything one run measured, as written to bench/results/.
type results struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Quick    bool      `json:"quick"`
	Commit   string    `json:"commit,omitempty"`
	Machine  machine   `json:"machine"`
	Settings settings  `json:"settings"`
	Teamline *rateRun  `json:"teamline_call_rate,omitempty"`
	Kamailio *rateRun  `json:"kamailio_call_rate,omitempty"`
	// Ratio is Teamline's highest zero-failure rate over Kamailio's.
	Ratio   float64     `json:"teamline_over_kamailio,omitempty"`
	Media   *mediaRun   `json:"media_relay,omitempty"`
	Browser *browserRun `json:"browser,omitempty"`
	Micro   *microRun   `json:"micro_benchmarks,omitempty"`
	Targets []target    `json:"targets"`
	Notes   []string    `json:"notes,omitempty"`
}

// settings are the knobs of the run.
type settings struct {
	Rates            []int  `json:"rates_cps"`
	Step             string `json:"step"`
	Hold             string `json:"hold"`
	Agents           int    `json:"agents"`
	Media            []int  `json:"media_calls"`
	MediaWindow      string `json:"media_window"`
	Browser          []int  `json:"browser_calls"`
	BrowserSetupRate int    `json:"browser_setup_rate"`
	Benchtime        string `json:"benchtime"`
}

// target is one figure of issue 5 (or 8) against its goal; never an
// assertion.
type target struct {
	What   string `json:"what"`
	Goal   string `json:"goal"`
	Actual string `json:"actual"`
	Met    string `json:"met"` // yes, no, n/a
}

func yesNo(ok, known bool) string {
	switch {
	case !known:
		return "n/a"
	case ok:
		return "yes"
	default:
		return "no"
	}
}

// evaluate lists every target of issue 5 with the figure that answers it.
func (r *results) evaluate() {
	var ts []target
	if r.Teamline != nil {
		maxRate := r.Teamline.MaxZeroFail
		ts = append(ts, target{"calls/s on one core, zero failures", ">= 1500", fmt.Sprint(maxRate), yesNo(maxRate >= 1500, true)})
		var p99 float64
		known := false
		for _, s := range r.Teamline.Steps {
			if s.Rate == maxRate && s.Invite180.N > 0 {
				p99, known = s.Invite180.P99, true
			}
		}
		ts = append(ts, target{fmt.Sprintf("INVITE->180 p99 at %d calls/s", maxRate), "< 20 ms", fmt.Sprintf("%.1f ms", p99), yesNo(p99 < 20, known)})
	}
	if r.Kamailio != nil && r.Teamline != nil {
		ts = append(ts, target{"Teamline / Kamailio stateful proxy rate", ">= 0.3", fmt.Sprintf("%.2f", r.Ratio), yesNo(r.Ratio >= 0.3, r.Kamailio.MaxZeroFail > 0)})
	}
	if r.Media != nil {
		best, kb, what := 0, 0.0, "RSS growth / calls"
		settled := -1.0
		for _, s := range r.Media.Steps {
			if s.SettledKBPerCall >= 0 {
				settled = s.SettledKBPerCall
			}
			if s.LossPercent < 0.01 && s.AddedP99us < 1000 && s.Established == s.Calls {
				best = s.Calls
			}
			// The Go heap and stacks after a GC are what a call keeps
			// alive; RSS growth misses memory an earlier step already
			// took from the OS, so it is the fallback.
			if s.GoKBPerCall >= 0 {
				kb, what = max(kb, s.GoKBPerCall), "Go heap+stacks after GC / calls"
			} else {
				kb = max(kb, s.RSSPerCallKB)
			}
		}
		ts = append(ts, target{"relayed G.711 calls per core, loss < 0.01 %, added p99 < 1 ms", ">= 1500", fmt.Sprint(best), yesNo(best >= 1500, len(r.Media.Steps) > 0)})
		ts = append(ts, target{"memory per call at setup (" + what + ", SIP transactions included)", "< 30 KB", fmt.Sprintf("%.1f KB", kb), yesNo(kb < 30, len(r.Media.Steps) > 0)})
		if settled >= 0 {
			ts = append(ts, target{"memory per established call (Go heap+stacks after GC, setup transactions ended)", "< 30 KB", fmt.Sprintf("%.1f KB", settled), yesNo(settled < 30, true)})
		}
	}
	if r.Browser != nil {
		if st, ok := r.Browser.headline(); ok {
			ts = append(ts, target{fmt.Sprintf("browser call / plain relayed call, Teamline CPU per call at %d calls", st.Calls),
				fmt.Sprintf("<= %.0fx", browserRatioGoal), fmt.Sprintf("%.2fx", st.Ratio), yesNo(st.Ratio <= browserRatioGoal, true)})
		} else {
			ts = append(ts, target{"browser call / plain relayed call, Teamline CPU per call", fmt.Sprintf("<= %.0fx", browserRatioGoal), "not measured", "n/a"})
		}
	}
	if r.Micro != nil {
		var route *microResult
		for i, m := range r.Micro.Results {
			if m.Package == "router" && route == nil {
				route = &r.Micro.Results[i]
			}
		}
		what := "one routing decision (router)"
		if route == nil {
			for i, m := range r.Micro.Results {
				if m.Package == "roster" && m.Name == "BenchmarkResolve" {
					route = &r.Micro.Results[i]
					what = "team resolution (roster, until router/ has benchmarks)"
				}
			}
		}
		if route != nil {
			ts = append(ts, target{what, "< 5 µs, <= 1 alloc", fmt.Sprintf("%.0f ns, %.0f allocs", route.NsPerOp, route.AllocsPerOp),
				yesNo(route.NsPerOp < 5000 && route.AllocsPerOp <= 1, true)})
		} else {
			ts = append(ts, target{"one routing decision", "< 5 µs, <= 1 alloc", "no benchmark", "n/a"})
		}
	}
	r.Targets = ts
}

// printTable writes the human-readable report.
func (r *results) printTable(w io.Writer) {
	fmt.Fprintf(w, "\nTeamline benchmark (%s run, %.0f s)\n", map[bool]string{true: "quick", false: "full"}[r.Quick], r.Seconds)
	fmt.Fprintf(w, "machine: %d cores, %s, Linux %s, %s\n", r.Machine.Cores, r.Machine.CPUModel, r.Machine.Kernel, r.Machine.GoVersion)
	fmt.Fprintf(w, "pinning: %s\n", r.Machine.Pinning)
	fmt.Fprintf(w, "calls: %s talk, %s per step, %d agents (one per team, all answered by one SIPp)\n", r.Settings.Hold, r.Settings.Step, r.Settings.Agents)
	for _, run := range []*rateRun{r.Teamline, r.Kamailio} {
		if run == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s call rate (SIPp callers -> %s -> SIPp agents)\n", strings.ToUpper(run.Target[:1])+run.Target[1:], run.Target)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "cps\tattempted\tok\tfailed\tretrans\t180 p50\tp95\tp99\t200 p50\tp95\tp99\tcpu %\trss MB\tthreads\tgoroutines\t")
		for _, s := range run.Steps {
			gor := "-"
			if s.Usage.PeakGoroutines > 0 {
				gor = fmt.Sprint(s.Usage.PeakGoroutines)
			}
			cps := fmt.Sprint(s.Rate)
			if s.AgentsDied != "" {
				cps += "*" // explained by the "stopped:" line below
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%d\t%s\t\n",
				cps, s.Attempted, s.Succeeded, s.Failed, s.Retransmissions,
				s.Invite180.P50, s.Invite180.P95, s.Invite180.P99, s.Invite200.P50, s.Invite200.P95, s.Invite200.P99,
				s.Usage.CPUPercent, s.Usage.PeakRSSMB, s.Usage.PeakThreads, gor)
		}
		tw.Flush()
		fmt.Fprintf(w, "highest rate with zero failed calls: %d calls/s (latencies in ms, as the caller sees them)\n", run.MaxZeroFail)
		if run.Error != "" {
			fmt.Fprintf(w, "stopped: %s\n", run.Error)
		}
	}
	if r.Kamailio != nil && r.Teamline != nil {
		fmt.Fprintf(w, "\nTeamline / Kamailio: %d / %d calls/s = %.2f\n", r.Teamline.MaxZeroFail, r.Kamailio.MaxZeroFail, r.Ratio)
		if top := r.Kamailio.MaxZeroFail; top >= maxClimbRate {
			fmt.Fprintf(w, "(Kamailio held %d calls/s, where its climb stops: its ceiling is higher and the ratio is an upper bound)\n", top)
		}
	}
	if m := r.Media; m != nil {
		fmt.Fprintf(w, "\nMedia relay (G.711 20 ms both ways; direct loopback p50 %.0f µs, p99 %.0f µs)\n", m.BaselineP50us, m.BaselineP99us)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "calls\tup\texpected pps\tsent pps\trelayed pps\tloss %\treordered\tp50 µs\tp99 µs\tadded p99 µs\tgen lag ms\tcpu %\tcpu %/1000pps\trss KB/call\tgo KB/call\theap\tstack\tgoroutines/call\tsettled KB/call\t")
		for _, s := range m.Steps {
			fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.0f\t%.3f\t%d\t%.0f\t%.0f\t%.0f\t%.1f\t%.0f\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n",
				s.Calls, s.Established, s.ExpectedPPS, s.SentPPS, s.RelayedPPS, s.LossPercent, s.Reordered,
				s.LatencyP50us, s.LatencyP99us, s.AddedP99us, s.GeneratorLagMs, s.CPUPercent, s.CPUPer1000PPS, s.RSSPerCallKB,
				orDash(s.GoKBPerCall), orDash(s.HeapKBPerCall), orDash(s.StackKBPerCall), orDash(s.GoroutinesPerCall),
				orDash(s.SettledKBPerCall))
		}
		fmt.Fprintln(tw, "(go KB/call: growth of Go heap + stacks in use after a forced GC while every call relays, per call; it includes the SIP transactions of the call setup, which stay 5 s after they finish. settled KB/call: the same once they ended, last step only)")
		tw.Flush()
		if m.Error != "" {
			fmt.Fprintf(w, "stopped: %s\n", m.Error)
		}
	}
	if b := r.Browser; b != nil {
		b.printTable(w, r.Settings.MediaWindow)
	}
	if m := r.Micro; m != nil {
		fmt.Fprintf(w, "\nGo micro-benchmarks (GOMAXPROCS=1, -benchtime %s)\n", r.Settings.Benchtime)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "package\tbenchmark\tns/op\tB/op\tallocs/op\t")
		for _, b := range m.Results {
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.0f\t%.0f\t\n", b.Package, b.Name, b.NsPerOp, b.BytesPerOp, b.AllocsPerOp)
		}
		tw.Flush()
		for _, pkg := range sortedKeys(m.Skipped) {
			fmt.Fprintf(w, "  %s: %s\n", pkg, m.Skipped[pkg])
		}
	}
	if len(r.Targets) > 0 {
		fmt.Fprintf(w, "\nTargets of issues 5 and 8 (figures, not assertions)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "figure\tgoal\tactual\tmet\t")
		for _, t := range r.Targets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", t.What, t.Goal, t.Actual, t.Met)
		}
		tw.Flush()
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// writeJSON saves the results under dir and returns the file's path.
func (r *results) writeJSON(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results dir: %w", err)
	}
	path := filepath.Join(dir, "tlbench-"+r.Started.UTC().Format("20060102-150405")+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write results: %w", err)
	}
	return path, nil
}

// orDash formats a per-call figure, "-" when it was not measured (< 0).
func orDash(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}
