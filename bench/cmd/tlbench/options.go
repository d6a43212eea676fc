package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options are tlbench's flags.
type options struct {
	quick       bool
	rates       []int
	step        time.Duration
	hold        time.Duration
	agents      int
	media       []int
	mediaWindow time.Duration
	mediaSetup  int
	settle      time.Duration
	browser     []int
	browserRate int
	benchtime   string
	skip        map[string]bool
	out         string
	profile     bool
	logLevel    string
	install     bool
	keep        bool
}

// Defaults of a full run and of a quick one (BENCH_QUICK=1).
const (
	fullRates        = "100,250,500,1000,1500,2000"
	quickRates       = "100,500,1000"
	fullStep         = 8 * time.Second
	quickStep        = 3 * time.Second
	fullMedia        = "100,500,1000,1500,2000"
	quickMedia       = "100,500,1000"
	fullMediaWindow  = 8 * time.Second
	quickMediaWindow = 3 * time.Second
	fullBenchtime    = "500ms"
	quickBenchtime   = "100ms"
	defaultHold      = time.Second
	// settleFull outlasts Teamline's retention of finished SIP
	// transactions (sip.TransactionLinger, 5 s) with room to spare.
	settleFull       = 10 * time.Second
	defaultSetupRate = 400
	fullBrowser      = "50,100,250,500"
	quickBrowser     = "50,100"
	// defaultBrowserRate is lower than media's: every browser call costs
	// both sides an ICE check and a DTLS handshake.
	defaultBrowserRate = 100
)

// parts names the parts -skip accepts.
var parts = []string{"teamline", "kamailio", "media", "browser", "micro"}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	quick := os.Getenv("BENCH_QUICK") == "1"
	fs := flag.NewFlagSet("tlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.BoolVar(&o.quick, "quick", quick, "quick run, under 2 minutes (default from BENCH_QUICK=1)")
	rates := fs.String("rates", "", "call rate steps in calls/s (default "+fullRates+", quick "+quickRates+")")
	fs.DurationVar(&o.step, "step", 0, "duration of one call rate step (default 8s, quick 3s)")
	fs.DurationVar(&o.hold, "hold", defaultHold, "talk time of each call in the call rate steps")
	fs.IntVar(&o.agents, "agents", 0, "agents to register (one per team); 0 sizes it from the highest rate")
	media := fs.String("media", "", "concurrent relayed calls per media step (default "+fullMedia+", quick "+quickMedia+")")
	fs.DurationVar(&o.mediaWindow, "media-window", 0, "measurement window of one media step (default 8s, quick 3s)")
	fs.IntVar(&o.mediaSetup, "media-setup-rate", defaultSetupRate, "calls/s at which media calls are set up")
	fs.DurationVar(&o.settle, "settle", -1, "in the last media step, wait this long for finished SIP transactions to go (5 s after they finish) before and after the calls are set up, and measure the memory an established call keeps; 0 skips (default 10s, quick 0)")
	browser := fs.String("browser", "", "concurrent calls with a WebRTC agent leg per browser step (default "+fullBrowser+", quick "+quickBrowser+")")
	fs.IntVar(&o.browserRate, "browser-setup-rate", defaultBrowserRate, "calls/s at which browser calls are set up")
	fs.StringVar(&o.benchtime, "benchtime", "", "-benchtime of the Go micro-benchmarks (default 500ms, quick 100ms)")
	skip := fs.String("skip", "", "comma-separated parts to skip: "+strings.Join(parts, ","))
	fs.StringVar(&o.out, "out", "bench/results", "directory for the JSON results (relative to the module root)")
	fs.BoolVar(&o.profile, "profile", false, "save Teamline CPU and heap profiles of the highest call rate step (needs /debug/pprof)")
	fs.StringVar(&o.logLevel, "log-level", "info", "Teamline's log level during the run (its log goes to a file)")
	fs.BoolVar(&o.install, "install", true, "install missing Debian packages (sip-tester, kamailio) when running as root")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, logs, SIPp traces)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	pick := func(set, full, quickV string) string {
		if set != "" {
			return set
		}
		if o.quick {
			return quickV
		}
		return full
	}
	var err error
	if o.rates, err = parseInts(pick(*rates, fullRates, quickRates)); err != nil {
		return nil, fmt.Errorf("-rates: %w", err)
	}
	if o.media, err = parseInts(pick(*media, fullMedia, quickMedia)); err != nil {
		return nil, fmt.Errorf("-media: %w", err)
	}
	if o.browser, err = parseInts(pick(*browser, fullBrowser, quickBrowser)); err != nil {
		return nil, fmt.Errorf("-browser: %w", err)
	}
	if o.step == 0 {
		o.step = fullStep
		if o.quick {
			o.step = quickStep
		}
	}
	if o.settle < 0 {
		o.settle = settleFull
		if o.quick {
			o.settle = 0
		}
	}
	if o.mediaWindow == 0 {
		o.mediaWindow = fullMediaWindow
		if o.quick {
			o.mediaWindow = quickMediaWindow
		}
	}
	o.benchtime = pick(o.benchtime, fullBenchtime, quickBenchtime)
	o.skip = map[string]bool{}
	for s := range strings.SplitSeq(*skip, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		known := false
		for _, p := range parts {
			known = known || p == s
		}
		if !known {
			return nil, fmt.Errorf("-skip: unknown part %q (known: %s)", s, strings.Join(parts, ","))
		}
		o.skip[s] = true
	}
	if o.hold <= 0 || o.step <= 0 || o.mediaWindow <= 0 || o.mediaSetup <= 0 || o.browserRate <= 0 {
		return nil, fmt.Errorf("-hold, -step, -media-window, -media-setup-rate and -browser-setup-rate must be positive")
	}
	if o.agents == 0 {
		// The browser part measures plain relayed calls at its own Ns
		// too, with the SIPp agents.
		o.agents = agentsFor(o.rates, append(slices.Clone(o.media), o.browser...), o.hold)
	}
	return o, nil
}

// agentsFor sizes the roster so that agents never limit concurrency: every
// call goes to a team of one agent, teams are used round robin, and a team
// comes round again only after about two call lifetimes.
func agentsFor(rates, media []int, hold time.Duration) int {
	maxRate := 0
	for _, r := range rates {
		maxRate = max(maxRate, r)
	}
	n := int(float64(maxRate) * (hold.Seconds() + 0.5) * 2)
	for _, m := range media {
		n = max(n, m+100)
	}
	return max(n, 200)
}

// maxOf is the largest of v (0 for none).
func maxOf(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// parseInts reads "100,250,500".
func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no values in %q", s)
	}
	return out, nil
}
