// Package app wires Teamline's components together from a configuration:
// the store, the roster, the media relay, the SIP edge and the HTTP API. The
// teamline command and the end-to-end tests both start Teamline through it.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/api"
	"github.com/teamline/teamline/callback"
	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/internal/logging"
	"github.com/teamline/teamline/media"
	"github.com/teamline/teamline/metrics"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
	"github.com/teamline/teamline/sip"
	"github.com/teamline/teamline/store"
	"github.com/teamline/teamline/web"
)

// Version is the build's version, set with -ldflags "-X ...app.Version=...".
var Version = "dev"

// Main runs the teamline command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "teamline", Version)
		return 0
	case "serve", "migrate":
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "teamline: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}

	fs := flag.NewFlagSet("teamline "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "configs/teamline.example.yaml", "configuration file")
	logFormat := fs.String("log-format", "console", "log format: console or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	pprofOn := fs.Bool("pprof", false, "serve Go profiles under /debug/pprof/ on the HTTP listener (for profiling; keep it off in production)")
	drainTimeout := fs.Duration("drain-timeout", 10*time.Minute, "on SIGTERM, how long to wait for calls in progress before hanging them up")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	log, err := logging.New(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "teamline:", err)
		return 2
	}
	sip.SetLibraryLogger(log)
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "teamline: configuration error:")
		fmt.Fprintln(stderr, err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if cmd == "migrate" {
		st, err := openStore(ctx, cfg, log)
		if err != nil {
			log.Error().Err(err).Msg("migrate")
			return 1
		}
		st.Close()
		log.Info().Msg("database is up to date")
		return 0
	}

	a, err := Start(ctx, cfg, log, Options{Pprof: *pprofOn})
	if err != nil {
		log.Error().Err(err).Msg("teamline could not start")
		return 1
	}
	log.Info().Str("version", Version).Msg("teamline is serving; Ctrl-C stops it, SIGTERM drains calls first")
	go a.drainOnSIGTERM(ctx, stop, *drainTimeout)
	if err := a.Wait(); err != nil {
		log.Error().Err(err).Msg("teamline stopped with an error")
		return 1
	}
	log.Info().Msg("teamline stopped")
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: teamline <command> [flags]

commands:
  serve    --config FILE   run the hotline server (SIP, media relay, HTTP)
  migrate  --config FILE   apply database migrations and exit
  version                  print the version

flags for serve and migrate:
  --config FILE            configuration file (default configs/teamline.example.yaml)
  --log-format console|json
  --log-level debug|info|warn|error
  --pprof                  serve Go profiles under /debug/pprof/ (profiling only)
  --drain-timeout 10m      on SIGTERM, refuse new calls and wait this long for
                           calls in progress to end (SIGINT hangs up at once)
`)
}

// App is a running Teamline.
type App struct {
	// SIP is the SIP edge.
	SIP *sip.Server
	// Store is the database.
	Store *store.Store
	// Presence is the live agent state.
	Presence *roster.Presence
	// Media is the RTP relay.
	Media *media.Manager
	// Callbacks books and dials callbacks.
	Callbacks *callback.Service

	httpAddr netip.AddrPort
	log      zerolog.Logger
	wg       sync.WaitGroup
	errMu    sync.Mutex
	err      error
}

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() netip.AddrPort { return a.httpAddr }

func openStore(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.Database.URL, log.With().Str("component", "store").Logger())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	// The callback dialer's job queue (River) keeps its own tables.
	if err := callback.Migrate(ctx, st.Pool(), log.With().Str("component", "callback").Logger()); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate job queue: %w", err)
	}
	return st, nil
}

// Options are run-time switches that are not configuration.
type Options struct {
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool
}

// Start opens the database (applying migrations), builds every component
// and starts serving. Everything stops when ctx is done; Wait waits for it.
func Start(ctx context.Context, cfg *config.Config, log zerolog.Logger, opts Options) (*App, error) {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	snap, err := roster.FromConfig(cfg)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("roster: %w", err)
	}
	bindIP, err := netip.ParseAddr(cfg.Media.BindIP)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("media bind_ip: %w", err)
	}
	advertiseIP, err := netip.ParseAddr(cfg.Media.AdvertiseIP)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("media advertise_ip: %w", err)
	}
	mediaMgr, err := media.NewManager(media.Config{
		BindIP:         bindIP,
		AdvertiseIP:    advertiseIP,
		PortMin:        cfg.Media.PortMin,
		PortMax:        cfg.Media.PortMax,
		SilenceTimeout: cfg.Media.SilenceTimeout,
	}, log.With().Str("component", "media").Logger())
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("media relay: %w", err)
	}
	rt, err := router.New(snap, cfg)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("router: %w", err)
	}
	states := newStateWriter(st, log.With().Str("component", "agent-state").Logger())
	presence := roster.NewPresenceWithOptions(roster.PresenceOptions{
		Roster:              func() *roster.Snapshot { return snap },
		NoAnswerLimit:       cfg.Routing.NoAnswerLimit,
		RequireRegistration: true,
		OnChange:            states.enqueue,
	})
	affinity := roster.NewAffinity()
	if err := loadAffinity(ctx, st, affinity, cfg.Routing.AffinityDays); err != nil {
		// Routing works without it; the first call of each customer will
		// simply not prefer their last agent.
		log.Warn().Err(err).Msg("could not load customers' last agents")
	}
	callLog := store.NewCallLog(st, log.With().Str("component", "calllog").Logger(), 10000)
	var sipSrv *sip.Server
	m := metrics.New(
		metrics.Gauge{Name: "teamline_calls_active", Help: "Hotline calls in progress.",
			Value: func() float64 { return float64(sipSrv.ActiveCalls()) }},
		metrics.Gauge{Name: "teamline_media_sessions_active", Help: "RTP relay sessions open.",
			Value: func() float64 { return float64(mediaMgr.Active()) }},
	)

	// The callback service dials through the SIP server, which books through
	// the callback service: the dialer is bound once both exist.
	dialer := &lateDialer{}
	cbCfg := callbackConfig(cfg, snap, rt)
	cbCfg.Dialer = dialer
	callbacks, err := callback.New(st.Pool(), cbCfg, log.With().Str("component", "callback").Logger())
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("callbacks: %w", err)
	}
	var announcer sip.Announcer
	if prompts, err := media.LoadPrompts(cfg.PromptsDir()); err != nil {
		log.Warn().Err(err).Str("dir", cfg.PromptsDir()).
			Msg("no spoken prompts (run `make prompts`): callers offered a callback hear silence")
	} else {
		announcer = prompts
	}
	links := web.NewLinkSigner(cfg.HTTP.PublicURL, 24*time.Hour)
	trunks := make([]sip.Trunk, 0, len(cfg.Trunks))
	for _, t := range cfg.Trunks {
		trunks = append(trunks, sip.Trunk{Name: t.Name, Networks: t.Sources, Outbound: t.OutboundHostPort()})
	}
	var tlsConf *tls.Config
	if cfg.SIP.WSS != "" {
		tlsConf, err = loadOrCreateTLS(cfg.Path(cfg.SIP.TLSCert), cfg.Path(cfg.SIP.TLSKey), cfg.SIP.AdvertiseHost, log)
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	sipSrv, err = sip.New(sip.Options{
		WSAddr:           cfg.SIP.WS,
		WSSAddr:          cfg.SIP.WSS,
		TLS:              tlsConf,
		WSOrigins:        cfg.SIP.WSOrigins,
		WebRTC:           webrtcConfig(advertiseIP),
		UDPAddr:          cfg.SIP.UDP,
		TCPAddr:          cfg.SIP.TCP,
		Realm:            cfg.SIP.DigestRealm(),
		AdvertiseHost:    cfg.SIP.AdvertiseHost,
		UserAgent:        cfg.SIP.UserAgent,
		DigestAlgorithms: cfg.SIP.DigestAlgorithms,
		SourceRate:       cfg.SIP.FloodRate,
		SourceBurst:      cfg.SIP.FloodBurst,
		Trunks:           trunks,
		DefaultCountry:   cfg.DefaultCountry,
		RingTimeout:      cfg.Calls.RingTimeout,
		MaxCallDuration:  cfg.Calls.MaxDuration,
		HistoryURL:       links.CallURL,
	}, sip.Deps{
		Roster:    func() *roster.Snapshot { return snap },
		Presence:  presence,
		Router:    func() *router.Router { return rt },
		Affinity:  affinity,
		Callbacks: callbacks,
		Announcer: announcer,
		Media:     mediaMgr,
		Calls:     countingRecorder{callLog, m},
	}, log.With().Str("component", "sip").Logger())
	if err != nil {
		st.Close()
		return nil, err
	}

	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTP.Listen, err)
	}
	apiHandler := api.New(api.Deps{
		Token:          cfg.HTTP.APIToken,
		Callbacks:      callbacks,
		DefaultCountry: cfg.DefaultCountry,
		Roster:         func() *roster.Snapshot { return snap },
		Agents:         presence,
		Loads:          func(teamID string) router.Load { return sipSrv.TeamLoad(teamID) },
		ResolveTeam: func(e164 string) (string, string, bool) {
			res := snap.Resolve(e164)
			if res.Team == nil {
				return "", "", false
			}
			id := ""
			if res.Customer != nil {
				id = res.Customer.ID
			}
			return res.Team.ID, id, true
		},
	}, log)
	mux := http.NewServeMux()
	mux.Handle("/v1/", apiHandler)
	mux.Handle("/", web.NewHandler(web.Deps{
		History: st, Roster: func() *roster.Snapshot { return snap }, Agents: presence, Links: links,
		Metrics: m.Handler(), Log: log.With().Str("component", "http").Logger(),
		Live: func(id string) (web.LiveCall, bool) {
			lc, ok := sipSrv.LiveCall(id)
			return web.LiveCall{ID: lc.ID, Number: lc.Number, CustomerID: lc.CustomerID,
				CustomerName: lc.CustomerName, TeamID: lc.TeamID, Trace: lc.Trace}, ok
		},
		OpenCallbacks: func(ctx context.Context, number string) ([]web.OpenCallback, error) {
			c, err := callbacks.OpenCallback(ctx, number)
			if errors.Is(err, callback.ErrNotFound) {
				return nil, nil
			} else if err != nil {
				return nil, err
			}
			return []web.OpenCallback{{SlotStart: c.SlotStart, SlotEnd: c.SlotEnd, State: string(c.State), Reason: c.Reason}}, nil
		},
		SIP: func() web.SIPAccess { return consoleSIP(cfg, sipSrv) },
	}))
	var handler http.Handler = mux
	if opts.Pprof {
		handler = withPprof(handler)
	}
	httpSrv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
	}

	a := &App{
		SIP:       sipSrv,
		Store:     st,
		Presence:  presence,
		Media:     mediaMgr,
		Callbacks: callbacks,
		httpAddr:  httpLn.Addr().(*net.TCPAddr).AddrPort(),
		log:       log,
	}

	sipSrv.Registrar().OnChange(presence.SetRegistered)
	dialer.srv = sipSrv
	logCtx, stopLog := context.WithCancel(context.WithoutCancel(ctx))
	a.wg.Add(1)
	go func() { defer a.wg.Done(); callLog.Run(logCtx) }()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); states.run(logCtx) }()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); tickPresence(ctx, presence) }()

	sipDone := make(chan struct{})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(sipDone)
		if err := sipSrv.Run(ctx); err != nil {
			a.setErr(err)
		}
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := httpSrv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.setErr(fmt.Errorf("http: %w", err))
		}
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		<-ctx.Done()
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(shutCtx)
		if err := callbacks.Stop(shutCtx); err != nil {
			log.Warn().Err(err).Msg("callback dialer stop")
		}
		<-sipDone
		// Every call has written its last event: flush them, then stop.
		if err := callLog.Flush(shutCtx); err != nil {
			log.Warn().Err(err).Msg("call records not all written at shutdown")
		}
		stopLog()
		st.Close()
	}()

	select {
	case <-sipSrv.Ready():
	case <-sipDone:
		a.wg.Wait()
		return nil, a.firstErr()
	}
	// Callbacks are dialled once SIP can place calls.
	if err := callbacks.Start(ctx); err != nil {
		log.Error().Err(err).Msg("callback dialer not started: booked callbacks wait for a restart")
	}
	log.Info().Str("http", a.httpAddr.String()).Msg("HTTP listening")
	return a, nil
}

// Wait blocks until Teamline has stopped and returns the first error.
func (a *App) Wait() error {
	a.wg.Wait()
	return a.firstErr()
}

func (a *App) setErr(err error) {
	a.errMu.Lock()
	if a.err == nil {
		a.err = err
	}
	a.errMu.Unlock()
}

func (a *App) firstErr() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

// countingRecorder counts ended calls by outcome on their way to the call log.
type countingRecorder struct {
	*store.CallLog
	m *metrics.Metrics
}

// Ended implements sip.CallRecorder.
func (r countingRecorder) Ended(id string, outcome store.Outcome, hangupBy store.HangupBy, reason string, at time.Time) {
	r.m.CallsTotal.WithLabelValues(string(outcome)).Inc()
	r.CallLog.Ended(id, outcome, hangupBy, reason, at)
}

// drainOnSIGTERM implements a graceful stop: on SIGTERM new calls get 503,
// calls in progress may finish for up to grace, then stop ends the rest.
func (a *App) drainOnSIGTERM(ctx context.Context, stop func(), grace time.Duration) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	defer signal.Stop(term)
	select {
	case <-ctx.Done():
		return
	case <-term:
	}
	a.SIP.Drain()
	end := time.Now().Add(grace)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	check := time.NewTicker(200 * time.Millisecond)
	defer check.Stop()
	var lastLog time.Time
	for a.SIP.ActiveCalls() > 0 {
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			a.log.Info().Int("calls", a.SIP.ActiveCalls()).Dur("grace_left", time.Until(end).Round(time.Second)).
				Msg("draining: waiting for calls to finish (SIGINT stops now)")
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			a.log.Warn().Int("calls", a.SIP.ActiveCalls()).Msg("drain time is up: hanging up the remaining calls")
			stop()
			return
		case <-check.C:
		}
	}
	a.log.Info().Msg("drained: no calls in progress")
	stop()
}

// withPprof adds the Go profiler's pages in front of h.
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}

// callbackConfig maps the configuration onto the callback service: slots in
// each team's opening hours, capacity calls_per_agent times the team's agents.
func callbackConfig(cfg *config.Config, snap *roster.Snapshot, rt *router.Router) callback.Config {
	teams := make(map[string]*config.Team, len(cfg.Teams))
	for i := range cfg.Teams {
		teams[cfg.Teams[i].ID] = &cfg.Teams[i]
	}
	return callback.Config{
		Hours: callback.HoursFunc(func(teamID string, day time.Time) []callback.TimeRange {
			ivs := rt.OpenRanges(teamID, day)
			out := make([]callback.TimeRange, len(ivs))
			for i, iv := range ivs {
				out[i] = callback.TimeRange{Start: iv.Start, End: iv.End}
			}
			return out
		}),
		Teams: func(teamID string) (callback.TeamSlots, bool) {
			t, ok := snap.Team(teamID)
			ct, cok := teams[teamID]
			if !ok || !cok || len(t.Agents) == 0 {
				return callback.TeamSlots{}, false
			}
			slotLength, perAgent, lead := cfg.TeamSlots(ct)
			return callback.TeamSlots{
				TeamID:     t.ID,
				Location:   t.Location,
				SlotLength: slotLength,
				Capacity:   perAgent * len(t.Agents),
				LeadTime:   lead,
			}, true
		},
		Dial: callback.DialPolicy{
			MaxAttempts:    cfg.Callbacks.MaxAttempts,
			RetryDelay:     cfg.Callbacks.RetryDelay,
			NoAgentRetry:   cfg.Callbacks.NoAgentRetry,
			OverflowAfter:  cfg.Callbacks.OverflowAfter,
			AttemptTimeout: cfg.Callbacks.AttemptTimeout,
		},
	}
}

// consoleSIP tells the agent console's page where to register: the
// WebSocket listeners at the advertised host, and the SIP domain.
func consoleSIP(cfg *config.Config, s *sip.Server) web.SIPAccess {
	acc := web.SIPAccess{Domain: cfg.SIP.Domain}
	if cfg.SIP.WS != "" {
		acc.WebSocketURLs = append(acc.WebSocketURLs, "ws://"+net.JoinHostPort(cfg.SIP.AdvertiseHost, strconv.Itoa(int(s.WSAddr().Port()))))
	}
	if cfg.SIP.WSS != "" {
		acc.WebSocketURLs = append(acc.WebSocketURLs, "wss://"+net.JoinHostPort(cfg.SIP.AdvertiseHost, strconv.Itoa(int(s.WSSAddr().Port()))))
	}
	return acc
}

// lateDialer hands callback attempts to the SIP server once it exists.
type lateDialer struct{ srv *sip.Server }

// Dial implements callback.Dialer.
func (d *lateDialer) Dial(ctx context.Context, req callback.DialRequest) (callback.AttemptResult, error) {
	return d.srv.Dial(ctx, req)
}

// webrtcConfig sets up browser agents' media legs: on a loopback demo ICE
// uses loopback candidates; elsewhere every interface, with the advertised
// address as the candidates' address when it is a public one.
func webrtcConfig(advertise netip.Addr) media.WebRTCConfig {
	if advertise.IsLoopback() {
		return media.WebRTCConfig{IncludeLoopback: true, ICEAddresses: []netip.Addr{advertise}}
	}
	if advertise.IsGlobalUnicast() && !advertise.IsPrivate() {
		return media.WebRTCConfig{PublicIP: advertise}
	}
	return media.WebRTCConfig{}
}
