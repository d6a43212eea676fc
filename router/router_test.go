package router_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
)

// testYAML is the routing configuration the table tests run against. Berlin
// opens on weekdays 08:00-19:00 (Europe/Berlin), Saturdays 10:00-14:00 and,
// to test the DST days themselves, Sundays 02:00-03:00; Christmas Day is a
// holiday and Christmas Eve has short hours. Hamburg and the national pool
// are always open.
const testYAML = `
trunks:
  - name: carrier
    networks: ["127.0.0.1/32"]
    outbound: "sip:127.0.0.1:5070"
default_team: berlin
routing:
  affinity_days: 30
  affinity_ring: 10s
  wave_size: 2
  wave_ring: 20s
  all_ring: 25s
  fallback: national_pool
  national_pool: national
  national_pool_cap: 2
  hours_time_zone: %s
teams:
  - id: berlin
    name: Team Berlin
    time_zone: Europe/Berlin
    prefixes: ["+4930"]
    hours:
      mon: ["08:00-19:00"]
      tue: ["08:00-12:00", "12:30-19:00"]
      wed: ["08:00-19:00"]
      thu: ["08:00-19:00"]
      fri: ["08:00-19:00"]
      sat: ["10:00-14:00"]
      sun: ["02:00-03:00"]
    exceptions:
      - date: "2026-12-25"
        closed: true
        note: Christmas Day
      - date: "2026-12-24"
        hours: ["08:00-12:00"]
        note: Christmas Eve
    routing:
      wave_size: 3
    neighbours:
      - team: hamburg
        cap: 1
    storm:
      enabled: true
      waiting_enter: 3
      waiting_exit: 0
      exit_margin: 1
      min_duration: 30s
    agents:
      - {id: anna, name: Anna, username: anna, password: pw-anna}
      - {id: alex, name: Alex, username: alex, password: pw-alex}
      - {id: ben, name: Ben, username: ben, password: pw-ben}
      - {id: bea, name: Bea, username: bea, password: pw-bea}
  - id: hamburg
    name: Team Hamburg
    time_zone: Europe/Berlin
    prefixes: ["+4940"]
    routing:
      fallback: reject
    agents:
      - {id: hanna, name: Hanna, username: hanna, password: pw-hanna}
      - {id: henrik, name: Henrik, username: henrik, password: pw-henrik}
  - id: national
    name: National pool
    time_zone: Europe/Berlin
    routing:
      fallback: callback
    agents:
      - {id: nina, name: Nina, username: nina, password: pw-nina}
      - {id: nils, name: Nils, username: nils, password: pw-nils}
customers:
  - {id: erika, number: "+4930123456", name: Erika, team: berlin}
  - {id: otto, number: "+4930999999", name: Otto, team: berlin, opted_out: true}
  - {id: nick, number: "+12125550100", name: Nick, team: berlin}
`

type fixture struct {
	cfg    *config.Config
	snap   *roster.Snapshot
	router *router.Router
}

func newFixture(t testing.TB, zone string, edits ...string) *fixture {
	t.Helper()
	text := fmt.Sprintf(testYAML, zone)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("edit: %q not in the test config", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	cfg, err := config.Parse("router_test.yaml", []byte(text), nil)
	if err != nil {
		t.Fatalf("parse test config:\n%v", err)
	}
	snap, err := roster.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(snap, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{cfg: cfg, snap: snap, router: r}
}

// call builds the router's Call for a caller number, as the call layer
// does: Resolve, then the caller's zone.
func (f *fixture) call(number string) router.Call {
	res := f.snap.Resolve(number)
	return router.Call{
		Number:         number,
		Withheld:       number == "",
		Customer:       res.Customer,
		Team:           res.Team,
		Reason:         res.Reason,
		CallerLocation: roster.CallerLocation(number),
	}
}

// fakeView is the live state: every agent registered and available, idle
// since the given instants, unless changed.
type fakeView struct {
	agents map[string]roster.AgentStatus
	loads  map[string]router.Load
}

func newView(f *fixture) *fakeView {
	v := &fakeView{agents: map[string]roster.AgentStatus{}, loads: map[string]router.Load{}}
	base := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	i := 0
	for _, t := range f.snap.Teams() {
		for _, a := range t.Agents {
			// Later agents in configuration order have been idle longer.
			v.agents[a.ID] = roster.AgentStatus{
				AgentID: a.ID, State: roster.Available, Registered: true,
				IdleSince: base.Add(-time.Duration(i) * time.Minute),
			}
			i++
		}
	}
	return v
}

func (v *fakeView) Status(id string) roster.AgentStatus { return v.agents[id] }
func (v *fakeView) Load(team string) router.Load        { return v.loads[team] }

func (v *fakeView) set(id string, state roster.AgentState) {
	st := v.agents[id]
	st.State = state
	v.agents[id] = st
}

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func stepNames(p *router.Plan) []string {
	var out []string
	for _, s := range p.Steps() {
		out = append(out, s.String())
	}
	return out
}

var (
	berlinSteps = []string{
		"3 longest-idle of berlin for 20s", "all available of berlin for 25s",
		"2 longest-idle of national for 20s", "all available of national for 25s",
	}
	poolSteps = []string{"2 longest-idle of national for 20s", "all available of national for 25s"}
)

func TestPlan(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "team")
	loc := berlin(t)
	// Tuesday 16 June 2026, 10:00 in Berlin: berlin is open.
	open := time.Date(2026, 6, 16, 10, 0, 0, 0, loc)
	tests := []struct {
		name      string
		number    string
		at        time.Time
		lastAgent string
		lastAt    time.Time
		change    func(v *fakeView)
		wantTeam  string
		wantSteps []string
		wantFB    router.Fallback
		wantOver  bool
		wantStorm router.StormTransition
		wantTrace []string
		wantFirst []string // agents picked by the first step
	}{
		{
			name: "known customer, open team, no affinity", number: "+4930123456", at: open,
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{
				"customer Erika is assigned to team berlin",
				"team berlin open at Tue 2026-06-16 10:00:00 Europe/Berlin (08:00-12:00)",
				"team berlin: 2 steps", "then national pool national: 2 steps", "after the last step: callback",
			},
			// bea, ben, alex have been idle longest, in that order.
			wantFirst: []string{"bea", "ben", "alex"},
		},
		{
			name: "affinity: last agent rings alone first", number: "+4930123456", at: open,
			lastAgent: "anna", lastAt: open.Add(-72 * time.Hour),
			wantTeam:  "berlin",
			wantSteps: append([]string{"last agent for 10s"}, berlinSteps...),
			wantFB:    router.FallbackCallback,
			wantTrace: []string{"customer's last agent anna (3 days ago) rings first, alone, for 10s", "team berlin: 3 steps"},
			wantFirst: []string{"anna"},
		},
		{
			name: "affinity older than N days is ignored", number: "+4930123456", at: open,
			lastAgent: "anna", lastAt: open.Add(-31 * 24 * time.Hour),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"last agent anna talked to the customer 31 days ago, over the 30-day limit: ignored"},
			wantFirst: []string{"bea", "ben", "alex"},
		},
		{
			name: "affinity exactly N days old still counts", number: "+4930123456", at: open,
			lastAgent: "anna", lastAt: open.Add(-30 * 24 * time.Hour),
			wantTeam:  "berlin",
			wantSteps: append([]string{"last agent for 10s"}, berlinSteps...),
			wantFB:    router.FallbackCallback,
			wantFirst: []string{"anna"},
		},
		{
			name: "last agent busy: first step is skipped", number: "+4930123456", at: open,
			lastAgent: "anna", lastAt: open.Add(-time.Hour),
			change:    func(v *fakeView) { v.set("anna", roster.OnCall) },
			wantTeam:  "berlin",
			wantSteps: append([]string{"last agent for 10s"}, berlinSteps...),
			wantFB:    router.FallbackCallback,
			wantTrace: []string{"step 1 (last agent for 10s): skipped, last agent anna is on call"},
			wantFirst: []string{},
		},
		{
			name: "last agent of another team is ignored", number: "+4930123456", at: open,
			lastAgent: "hanna", lastAt: open.Add(-time.Hour),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"last agent hanna is not in team berlin: ignored"},
		},
		{
			name: "unknown caller by prefix", number: "+4940555000", at: open,
			wantTeam:  "hamburg",
			wantSteps: []string{"2 longest-idle of hamburg for 20s", "all available of hamburg for 25s"},
			wantFB:    router.FallbackReject480,
			wantTrace: []string{"number +4940555000 matches prefix +4940 of team hamburg", "team hamburg open at", "after the last step: reject 480"},
			wantFirst: []string{"henrik", "hanna"},
		},
		{
			name: "unknown caller, no prefix: default team", number: "+33123456789", at: open,
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"no customer or prefix match: default team berlin"},
		},
		{
			name: "withheld number goes to the national pool", number: "", at: open,
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"caller number withheld: national pool national", "team national open at"},
			wantFirst: []string{"nils", "nina"},
		},
		{
			name: "opted-out customer goes to the national pool, without affinity", number: "+4930999999", at: open,
			lastAgent: "anna", lastAt: open.Add(-time.Hour),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"customer Otto opted out of the team model: national pool national"},
		},
		{
			name: "18:59:59 is open", number: "+4930123456", at: time.Date(2026, 6, 16, 18, 59, 59, 0, loc),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"team berlin open at Tue 2026-06-16 18:59:59 Europe/Berlin (12:30-19:00)"},
		},
		{
			name: "19:00:00 is closed: national pool", number: "+4930123456", at: time.Date(2026, 6, 16, 19, 0, 0, 0, loc),
			lastAgent: "anna", lastAt: open,
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"team berlin closed at Tue 2026-06-16 19:00:00 Europe/Berlin (outside opening hours): national pool national"},
		},
		{
			name: "lunch break between two ranges is closed", number: "+4930123456", at: time.Date(2026, 6, 16, 12, 15, 0, 0, loc),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "holiday is closed all day", number: "+4930123456", at: time.Date(2026, 12, 25, 10, 0, 0, 0, loc),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"team berlin closed at Fri 2026-12-25 10:00:00 Europe/Berlin (closed all day: Christmas Day): national pool national"},
		},
		{
			name: "special hours open", number: "+4930123456", at: time.Date(2026, 12, 24, 11, 59, 59, 0, loc),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"(08:00-12:00, special hours: Christmas Eve)"},
		},
		{
			name: "special hours closed at their end", number: "+4930123456", at: time.Date(2026, 12, 24, 12, 0, 0, 0, loc),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"(outside special hours: Christmas Eve)"},
		},
		// DST, spring: Sunday 29 March 2026 clocks go from 02:00 CET to 03:00 CEST.
		{
			name: "Friday before spring DST, 06:59 UTC is 07:59 CET: closed", number: "+4930123456",
			at:       time.Date(2026, 3, 27, 6, 59, 0, 0, time.UTC),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"closed at Fri 2026-03-27 07:59:00 Europe/Berlin"},
		},
		{
			name: "Monday after spring DST, 06:00 UTC is 08:00 CEST: open", number: "+4930123456",
			at:       time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"open at Mon 2026-03-30 08:00:00 Europe/Berlin"},
		},
		{
			name: "spring DST day: 00:59:59 UTC is 01:59:59 CET, before the 02:00 opening", number: "+4930123456",
			at:       time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "spring DST day: 01:00 UTC is 03:00 CEST, the 02:00-03:00 hour never happens", number: "+4930123456",
			at:       time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"closed at Sun 2026-03-29 03:00:00 Europe/Berlin"},
		},
		// DST, autumn: Sunday 25 October 2026 clocks go from 03:00 CEST back to 02:00 CET.
		{
			name: "autumn DST day: 00:30 UTC is 02:30 CEST: open", number: "+4930123456",
			at:       time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "autumn DST day: 01:30 UTC is 02:30 CET, the hour again: open", number: "+4930123456",
			at:       time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "autumn DST day: 02:00 UTC is 03:00 CET: closed", number: "+4930123456",
			at:       time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "Monday after autumn DST, 06:30 UTC is 07:30 CET: closed", number: "+4930123456",
			at:       time.Date(2026, 10, 26, 6, 30, 0, 0, time.UTC),
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "Monday after autumn DST, 07:00 UTC is 08:00 CET: open", number: "+4930123456",
			at:       time.Date(2026, 10, 26, 7, 0, 0, 0, time.UTC),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "storm entry: more callers ringing than agents free", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				v.set("anna", roster.OnCall)
				v.set("alex", roster.OnCall)
				v.set("ben", roster.WrapUp)
				v.loads["berlin"] = router.Load{Ringing: 2}
			},
			wantTeam:  "hamburg",
			wantSteps: []string{"2 longest-idle of hamburg for 20s", "all available of hamburg for 25s"},
			wantFB:    router.FallbackCallback, wantOver: true, wantStorm: router.StormEntered,
			wantTrace: []string{
				"team berlin: storm started (2 callers ringing, 1 agents free, 0 waiting)",
				"storm: overflow to neighbour hamburg (1 of 1 overflow calls)",
			},
		},
		{
			name: "storm entry by callers waiting", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				v.loads["berlin"] = router.Load{Waiting: 3}
			},
			wantTeam: "hamburg", wantOver: true, wantStorm: router.StormEntered,
			wantSteps: []string{"2 longest-idle of hamburg for 20s", "all available of hamburg for 25s"},
			wantFB:    router.FallbackCallback,
		},
		{
			name: "storm: neighbour at its cap, overflow to the pool", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				v.loads["berlin"] = router.Load{Waiting: 1, Storm: router.StormState{Active: true, Since: open.Add(-time.Minute)}}
				v.loads["hamburg"] = router.Load{Overflow: 1}
				v.loads["national"] = router.Load{Overflow: 1}
			},
			wantTeam: "national", wantOver: true, wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{
				"team berlin is in storm mode since 07:59:00 UTC",
				"storm: neighbour hamburg skipped: at its cap of overflow calls",
				"storm: overflow to national pool national (2 of 2 overflow calls)",
			},
		},
		{
			name: "storm: neighbour and pool full, straight to fallback", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				v.loads["berlin"] = router.Load{Waiting: 1, Storm: router.StormState{Active: true, Since: open.Add(-time.Minute)}}
				v.loads["hamburg"] = router.Load{Storm: router.StormState{Active: true}}
				v.loads["national"] = router.Load{Overflow: 2}
			},
			wantTeam: "berlin", wantSteps: nil, wantFB: router.FallbackCallback,
			wantTrace: []string{
				"storm: neighbour hamburg skipped: in storm mode itself",
				"storm: national pool national skipped: at its cap of overflow calls",
				"after the last step: callback",
			},
		},
		{
			name: "storm: neighbour without free agents is skipped", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				v.loads["berlin"] = router.Load{Waiting: 1, Storm: router.StormState{Active: true, Since: open.Add(-time.Minute)}}
				v.set("hanna", roster.Away)
				v.set("henrik", roster.OnCall)
			},
			wantTeam: "national", wantOver: true, wantSteps: poolSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"storm: neighbour hamburg skipped: no agent available"},
		},
		{
			name: "storm exit when load dropped and min duration passed", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				v.loads["berlin"] = router.Load{Ringing: 1, Storm: router.StormState{Active: true, Since: open.Add(-time.Minute)}}
			},
			wantTeam: "berlin", wantStorm: router.StormExited, wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantTrace: []string{"team berlin: storm ended (1 callers ringing, 4 agents free, 0 waiting)"},
		},
		{
			name: "storm stays within min duration", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				v.loads["berlin"] = router.Load{Storm: router.StormState{Active: true, Since: open.Add(-10 * time.Second)}}
			},
			wantTeam: "hamburg", wantOver: true, wantFB: router.FallbackCallback,
			wantSteps: []string{"2 longest-idle of hamburg for 20s", "all available of hamburg for 25s"},
		},
		{
			name: "no storm when callers ringing equal agents free", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				v.set("anna", roster.OnCall)
				v.set("alex", roster.OnCall)
				v.loads["berlin"] = router.Load{Ringing: 2}
			},
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantFirst: []string{"bea", "ben"},
		},
		{
			name: "offline agents are not picked", number: "+4930123456", at: open,
			change: func(v *fakeView) {
				st := v.agents["bea"]
				st.Registered = false
				st.State = roster.Offline
				v.agents["bea"] = st
			},
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
			wantFirst: []string{"ben", "alex", "anna"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newView(f)
			if tt.change != nil {
				tt.change(v)
			}
			c := f.call(tt.number)
			c.LastAgent, c.LastAgentAt = tt.lastAgent, tt.lastAt
			p := f.router.Plan(c, v, tt.at)
			trace := p.Trace()
			if p.Team == nil || p.Team.ID != tt.wantTeam {
				t.Fatalf("team = %v, want %s\ntrace:\n%s", p.Team, tt.wantTeam, strings.Join(trace, "\n"))
			}
			if got := stepNames(&p); !slices.Equal(got, tt.wantSteps) {
				t.Errorf("steps = %q\nwant    %q\ntrace:\n%s", got, tt.wantSteps, strings.Join(trace, "\n"))
			}
			if p.Fallback != tt.wantFB {
				t.Errorf("fallback = %v, want %v", p.Fallback, tt.wantFB)
			}
			if p.Overflow != tt.wantOver {
				t.Errorf("overflow = %v, want %v", p.Overflow, tt.wantOver)
			}
			if p.Storm.Kind != tt.wantStorm {
				t.Errorf("storm event = %v, want %v", p.Storm.Kind, tt.wantStorm)
			}
			if tt.wantFirst != nil {
				got := p.Pick(nil, 0, v, nil)
				if !slices.Equal(got, tt.wantFirst) && (len(got) != 0 || len(tt.wantFirst) != 0) {
					t.Errorf("first pick = %q, want %q\ntrace:\n%s", got, tt.wantFirst, strings.Join(p.Trace(), "\n"))
				}
			}
			joined := strings.Join(p.Trace(), "\n")
			for _, w := range tt.wantTrace {
				if !strings.Contains(joined, w) {
					t.Errorf("trace lacks %q:\n%s", w, joined)
				}
			}
		})
	}
}

func TestPlanCallerTimeZone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "caller")
	tests := []struct {
		name     string
		number   string
		at       time.Time
		wantTeam string
		wantLine string
	}{
		{
			// 20:00 UTC: 22:00 in Berlin (closed) but 16:00 in New York.
			name: "caller in New York during their office hours", number: "+12125550100",
			at: time.Date(2026, 6, 16, 20, 0, 0, 0, time.UTC), wantTeam: "berlin",
			wantLine: "team berlin open at Tue 2026-06-16 16:00:00 America/New_York (caller's time zone)",
		},
		{
			// 07:00 UTC: 09:00 in Berlin (open) but 03:00 in New York.
			name: "caller in New York at night", number: "+12125550100",
			at: time.Date(2026, 6, 16, 7, 0, 0, 0, time.UTC), wantTeam: "national",
			wantLine: "team berlin closed at Tue 2026-06-16 03:00:00 America/New_York (caller's time zone)",
		},
		{
			name: "caller in Berlin uses Berlin time", number: "+4930123456",
			at: time.Date(2026, 6, 16, 7, 0, 0, 0, time.UTC), wantTeam: "berlin",
			wantLine: "team berlin open at Tue 2026-06-16 09:00:00 Europe/Berlin (caller's time zone)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := f.router.Plan(f.call(tt.number), newView(f), tt.at)
			joined := strings.Join(p.Trace(), "\n")
			if p.Team.ID != tt.wantTeam {
				t.Errorf("team = %s, want %s\n%s", p.Team.ID, tt.wantTeam, joined)
			}
			if !strings.Contains(joined, tt.wantLine) {
				t.Errorf("trace lacks %q:\n%s", tt.wantLine, joined)
			}
		})
	}
}

// TestPickWaves walks a whole plan as the call layer does: each step is
// picked when it starts, agents rung are remembered, and states change
// between steps.
func TestPickWaves(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "team")
	at := time.Date(2026, 6, 16, 10, 0, 0, 0, berlin(t))
	v := newView(f)
	v.set("ben", roster.OnCall) // busy when the call starts
	c := f.call("+4930123456")
	c.LastAgent, c.LastAgentAt = "anna", at.Add(-time.Hour)
	p := f.router.Plan(c, v, at)
	rung := map[string]bool{}
	ring := func(step int) []string {
		got := p.Pick(nil, step, v, rung)
		for _, id := range got {
			rung[id] = true
		}
		return got
	}
	steps := []struct {
		before func()
		want   []string
	}{
		{want: []string{"anna"}}, // last agent alone
		// anna was rung and does not ring again; ben is busy.
		{want: []string{"bea", "alex"}},
		// ben hangs up his other call while the wave rings: the next wave
		// picks him; everyone else was rung already.
		{before: func() { v.set("ben", roster.Available) }, want: []string{"ben"}},
		{want: []string{"nils", "nina"}},
		// the pool's "all" step finds nobody new: skipped.
		{want: nil},
	}
	if len(p.Steps()) != len(steps) {
		t.Fatalf("steps = %q", stepNames(&p))
	}
	for i, s := range steps {
		if s.before != nil {
			s.before()
		}
		if got := ring(i); !slices.Equal(got, s.want) {
			t.Errorf("step %d picked %q, want %q", i+1, got, s.want)
		}
	}
	joined := strings.Join(p.Trace(), "\n")
	for _, w := range []string{
		"step 1 (last agent for 10s): rings 1 agent: anna",
		"step 2 (3 longest-idle of berlin for 20s): rings 2 agents, first bea",
		"step 3 (all available of berlin for 25s): rings 1 agent: ben",
		"step 5 (all available of national for 25s): skipped, nobody available",
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("trace lacks %q:\n%s", w, joined)
		}
	}
}

func TestPickLongestIdleOrder(t *testing.T) {
	t.Parallel()
	team := &roster.Team{ID: "big"}
	v := &fakeView{agents: map[string]roster.AgentStatus{}}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// idle minutes per agent; a zero IdleSince is the longest idle of all.
	idle := []int{5, 50, 1, 50, 30, 0, 7}
	for i, m := range idle {
		id := fmt.Sprintf("a%d", i)
		team.Agents = append(team.Agents, &roster.Agent{ID: id})
		st := roster.AgentStatus{AgentID: id, State: roster.Available, Registered: true}
		if m != 0 {
			st.IdleSince = base.Add(-time.Duration(m) * time.Minute)
		}
		v.agents[id] = st
	}
	tests := []struct {
		size int
		rung map[string]bool
		want []string
	}{
		{size: 1, want: []string{"a5"}},
		{size: 3, want: []string{"a5", "a1", "a3"}}, // a1 and a3 tie: team order
		{size: 4, rung: map[string]bool{"a1": true}, want: []string{"a5", "a3", "a4", "a6"}},
		{size: 10, want: []string{"a5", "a1", "a3", "a4", "a6", "a0", "a2"}},
		{size: 40, want: []string{"a5", "a1", "a3", "a4", "a6", "a0", "a2"}}, // over maxWave
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			t.Parallel()
			p := planWithStep(router.StepSpec{Kind: router.StepLongestIdle, Team: team, Size: tt.size, RingFor: time.Second})
			if got := p.Pick(nil, 0, v, tt.rung); !slices.Equal(got, tt.want) {
				t.Errorf("Pick = %q, want %q", got, tt.want)
			}
		})
	}
}

// planWithStep builds a plan with one step by routing through a router
// whose only team is team.
func planWithStep(s router.StepSpec) *router.Plan {
	cfg := config.Default()
	cfg.DefaultTeam = s.Team.ID
	ct := config.Team{ID: s.Team.ID, Name: s.Team.ID, TimeZone: "UTC"}
	for _, a := range s.Team.Agents {
		ct.Agents = append(ct.Agents, config.Agent{ID: a.ID, Name: a.ID, Username: a.ID, Password: "pw"})
	}
	cfg.Teams = []config.Team{ct}
	cfg.Routing.WaveSize = s.Size
	cfg.Routing.Fallback = config.FallbackReject
	snap, err := roster.FromConfig(&cfg)
	if err != nil {
		panic(err)
	}
	r, err := router.New(snap, &cfg)
	if err != nil {
		panic(err)
	}
	p := r.Plan(router.Call{Number: "+4930111", Team: s.Team}, &fakeView{}, time.Now())
	return &p
}

func TestEvalStorm(t *testing.T) {
	t.Parallel()
	cfg := config.Storm{Enabled: true, WaitingEnter: 4, WaitingExit: 1, ExitMargin: 2, MinDuration: time.Minute}
	t0 := time.Date(2026, 6, 16, 10, 0, 0, 0, time.UTC)
	on := router.StormState{Active: true, Since: t0}
	tests := []struct {
		name   string
		cfg    config.Storm
		st     router.StormState
		load   router.Load
		free   int
		now    time.Time
		want   bool
		wantEv router.StormTransition
	}{
		{name: "calm", cfg: cfg, load: router.Load{Ringing: 1}, free: 3, now: t0},
		{name: "ringing equals free: calm", cfg: cfg, load: router.Load{Ringing: 3}, free: 3, now: t0},
		{name: "ringing over free: enter", cfg: cfg, load: router.Load{Ringing: 4}, free: 3, now: t0, want: true, wantEv: router.StormEntered},
		{name: "waiting below threshold", cfg: cfg, load: router.Load{Waiting: 3}, free: 3, now: t0},
		{name: "waiting at threshold: enter", cfg: cfg, load: router.Load{Waiting: 4}, free: 3, now: t0, want: true, wantEv: router.StormEntered},
		{name: "disabled never enters", cfg: config.Storm{}, load: router.Load{Ringing: 9}, free: 0, now: t0},
		{name: "disabled ends a storm", cfg: config.Storm{}, st: on, now: t0, wantEv: router.StormExited},
		{name: "hysteresis: margin not reached", cfg: cfg, st: on, load: router.Load{Ringing: 2}, free: 3, now: t0.Add(time.Hour), want: true},
		{name: "too many waiting to exit", cfg: cfg, st: on, load: router.Load{Waiting: 2}, free: 5, now: t0.Add(time.Hour), want: true},
		{name: "too early to exit", cfg: cfg, st: on, free: 5, now: t0.Add(59 * time.Second), want: true},
		{name: "exit", cfg: cfg, st: on, load: router.Load{Ringing: 1, Waiting: 1}, free: 3, now: t0.Add(time.Minute), wantEv: router.StormExited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, ev := router.EvalStorm(tt.cfg, tt.st, tt.load, tt.free, tt.now)
			if st.Active != tt.want || ev.Kind != tt.wantEv || ev.State != st {
				t.Errorf("EvalStorm = %+v, %+v; want active %v, event %v", st, ev, tt.want, tt.wantEv)
			}
			if ev.Kind == router.StormEntered && !st.Since.Equal(tt.now) {
				t.Errorf("storm since %v, want %v", st.Since, tt.now)
			}
		})
	}
}

// TestRouterStorm checks the re-evaluation the call layer runs when load
// drops, without a new call.
func TestRouterStorm(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "team")
	at := time.Date(2026, 6, 16, 10, 0, 0, 0, time.UTC)
	v := newView(f)
	v.loads["berlin"] = router.Load{Storm: router.StormState{Active: true, Since: at.Add(-time.Hour)}}
	st, ev := f.router.Storm("berlin", v, at)
	if st.Active || ev.Kind != router.StormExited || ev.Team != "berlin" {
		t.Errorf("Storm = %+v, %+v; want an exit", st, ev)
	}
	if got, want := ev.String(), "team berlin: storm ended (0 callers ringing, 4 agents free, 0 waiting)"; got != want {
		t.Errorf("event = %q, want %q", got, want)
	}
	if st, _ := f.router.Storm("hamburg", v, at); st.Active {
		t.Errorf("hamburg (storm disabled) in storm")
	}
}

func TestNoteNoAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "team")
	p := f.router.Plan(f.call("+4930123456"), newView(f), time.Date(2026, 6, 16, 10, 0, 0, 0, time.UTC))
	p.NoteNoAnswer("ben", 3)
	p.Note("agent alex answered")
	tr := p.Trace()
	if got := tr[len(tr)-2]; got != "agent ben let 3 calls in a row ring out: away (no answer)" {
		t.Errorf("no-answer line = %q", got)
	}
	if got := tr[len(tr)-1]; got != "agent alex answered" {
		t.Errorf("note = %q", got)
	}
}

func TestTraceOverflowIsCounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "team")
	p := f.router.Plan(f.call("+4930123456"), newView(f), time.Date(2026, 6, 16, 10, 0, 0, 0, time.UTC))
	for range 40 {
		p.Note("x")
	}
	if p.Dropped == 0 || len(p.Decisions()) == 0 {
		t.Fatalf("dropped = %d", p.Dropped)
	}
	tr := p.Trace()
	if !strings.HasSuffix(tr[len(tr)-1], "more decisions not kept)") {
		t.Errorf("last line = %q", tr[len(tr)-1])
	}
}

func TestNewRejectsMismatchedConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "team")
	cfg := *f.cfg
	cfg.Teams = cfg.Teams[:1]
	if _, err := router.New(f.snap, &cfg); err == nil {
		t.Error("New accepted a configuration without the snapshot's teams")
	}
	cfg = *f.cfg
	cfg.Routing.NationalPool = "nowhere"
	if _, err := router.New(f.snap, &cfg); err == nil {
		t.Error("New accepted a national pool that does not exist")
	}
}

// TestPlanVariants covers rules that need another configuration: a national
// pool with hours of its own, storm overflow straight to the fallback,
// affinity turned off.
func TestPlanVariants(t *testing.T) {
	t.Parallel()
	loc := berlin(t)
	closedBerlin := time.Date(2026, 6, 16, 21, 0, 0, 0, loc) // Tuesday 21:00
	open := time.Date(2026, 6, 16, 10, 0, 0, 0, loc)
	poolHours := []string{"    routing:\n      fallback: callback\n", "    routing:\n      fallback: callback\n    hours:\n      tue: [\"08:00-20:00\"]\n"}
	storming := func(v *fakeView) {
		v.loads["berlin"] = router.Load{Waiting: 5}
	}
	tests := []struct {
		name      string
		edits     []string
		number    string
		at        time.Time
		lastAgent string
		change    func(v *fakeView)
		wantTeam  string
		wantSteps []string
		wantFB    router.Fallback
		wantOver  bool
		wantTrace []string
	}{
		{
			name: "team closed and national pool closed too: pool's fallback", edits: poolHours,
			number: "+4930123456", at: closedBerlin,
			wantTeam: "national", wantSteps: nil, wantFB: router.FallbackCallback,
			wantTrace: []string{
				"team berlin closed at Tue 2026-06-16 21:00:00 Europe/Berlin (outside opening hours): national pool national",
				"team national closed at Tue 2026-06-16 21:00:00 Europe/Berlin (outside opening hours): national pool closed too, fallback callback",
			},
		},
		{
			name: "open team hands over to the pool while the pool is open", edits: poolHours,
			number: "+4930123456", at: time.Date(2026, 6, 16, 18, 30, 0, 0, loc),
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "open team, pool closed: no handover, pool's fallback",
			edits: []string{
				"    routing:\n      fallback: callback\n", "    routing:\n      fallback: reject\n    hours:\n      tue: [\"08:00-09:00\"]\n",
			},
			number: "+4930123456", at: open,
			wantTeam: "berlin", wantSteps: berlinSteps[:2], wantFB: router.FallbackReject480,
			wantTrace: []string{"national pool closed too, fallback reject 480", "after the last step: reject 480"},
		},
		{
			name: "storm overflow straight to fallback", edits: []string{"      min_duration: 30s\n", "      min_duration: 30s\n      overflow: fallback\n"},
			number: "+4930123456", at: open, change: storming,
			// berlin's fallback is the national pool: it still takes the call, within its cap.
			wantTeam: "national", wantSteps: poolSteps, wantFB: router.FallbackCallback, wantOver: true,
			wantTrace: []string{"storm: team berlin sends new calls straight to fallback national pool"},
		},
		{
			name: "storm overflow straight to a callback",
			edits: []string{
				"      min_duration: 30s\n", "      min_duration: 30s\n      overflow: fallback\n",
				"      wave_size: 3\n", "      wave_size: 3\n      fallback: callback\n",
			},
			number: "+4930123456", at: open, change: storming,
			wantTeam: "berlin", wantSteps: nil, wantFB: router.FallbackCallback,
			wantTrace: []string{"storm: team berlin sends new calls straight to fallback callback", "after the last step: callback"},
		},
		{
			name: "affinity off", edits: []string{"affinity_days: 30", "affinity_days: 0"},
			number: "+4930123456", at: open, lastAgent: "anna",
			wantTeam: "berlin", wantSteps: berlinSteps, wantFB: router.FallbackCallback,
		},
		{
			name: "team with longest-idle step off", edits: []string{"      wave_size: 3\n", "", "  wave_size: 2\n", "  wave_size: 0\n"},
			number: "+4930123456", at: open,
			wantTeam: "berlin", wantSteps: []string{"all available of berlin for 25s", "all available of national for 25s"},
			wantFB: router.FallbackCallback,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "team", tt.edits...)
			v := newView(f)
			if tt.change != nil {
				tt.change(v)
			}
			c := f.call(tt.number)
			c.LastAgent, c.LastAgentAt = tt.lastAgent, tt.at.Add(-time.Hour)
			p := f.router.Plan(c, v, tt.at)
			joined := strings.Join(p.Trace(), "\n")
			if p.Team.ID != tt.wantTeam || !slices.Equal(stepNames(&p), tt.wantSteps) || p.Fallback != tt.wantFB ||
				p.Overflow != tt.wantOver {
				t.Errorf("plan: team %s, steps %q, fallback %v, overflow %v\nwant team %s, steps %q, fallback %v, overflow %v\n%s",
					p.Team.ID, stepNames(&p), p.Fallback, p.Overflow, tt.wantTeam, tt.wantSteps, tt.wantFB, tt.wantOver, joined)
			}
			for _, w := range tt.wantTrace {
				if !strings.Contains(joined, w) {
					t.Errorf("trace lacks %q:\n%s", w, joined)
				}
			}
		})
	}
}

func TestPlanEdgeCases(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "team")
	at := time.Date(2026, 6, 16, 10, 0, 0, 0, time.UTC)

	p := f.router.Plan(f.call(""), newView(f), at)
	if joined := strings.Join(p.Trace(), "\n"); strings.Contains(joined, "default team") {
		t.Errorf("withheld trace mentions the default team:\n%s", joined)
	}
	if p.HomeTeam.ID != "berlin" || p.Team.ID != "national" {
		t.Errorf("withheld: home %s, team %s", p.HomeTeam.ID, p.Team.ID)
	}

	// A team the router does not know (a roster newer than the router).
	p = f.router.Plan(router.Call{Number: "+4930111", Team: &roster.Team{ID: "ghost"}}, newView(f), at)
	if p.Team.ID != "national" || !strings.Contains(p.Trace()[0], "team ghost has no routing configuration") {
		t.Errorf("unknown team: team %s, trace %q", p.Team.ID, p.Trace())
	}

	// A storm left over after storm mode was turned off ends with the next call.
	v := newView(f)
	v.loads["hamburg"] = router.Load{Storm: router.StormState{Active: true, Since: at.Add(-time.Second)}}
	p = f.router.Plan(f.call("+4940555000"), v, at)
	if p.Storm.Kind != router.StormExited || p.Team.ID != "hamburg" {
		t.Errorf("storm event %v, team %s", p.Storm.Kind, p.Team.ID)
	}

	// Pick outside the plan's steps changes nothing.
	if got := p.Pick([]string{"x"}, 7, v, nil); !slices.Equal(got, []string{"x"}) {
		t.Errorf("Pick(7) = %q", got)
	}
	if !f.router.Open("hamburg", nil, at) || f.router.Open("ghost", nil, at) || f.router.Pool().ID != "national" {
		t.Error("Open/Pool")
	}
	if !f.router.Open("berlin", nil, at.Add(time.Hour)) || f.router.Open("berlin", nil, at.Add(10*time.Hour)) {
		t.Error("berlin should be open at 13:00 and closed at 22:00")
	}
}

func TestOpenRanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "team")
	loc := berlin(t)
	tests := []struct {
		name, team string
		day        time.Time
		want       []string
	}{
		{"weekday with lunch break", "berlin", time.Date(2026, 6, 16, 15, 0, 0, 0, loc), []string{"08:00-12:00", "12:30-19:00"}},
		{"holiday", "berlin", time.Date(2026, 12, 25, 9, 0, 0, 0, loc), nil},
		{"special day", "berlin", time.Date(2026, 12, 24, 23, 0, 0, 0, loc), []string{"08:00-12:00"}},
		{"unknown team", "nowhere", time.Date(2026, 6, 16, 15, 0, 0, 0, loc), nil},
		// The day clocks go back is 25 hours long; wall-clock times still hold.
		{"DST end", "berlin", time.Date(2026, 10, 25, 12, 0, 0, 0, loc), []string{"02:00-03:00"}},
	}
	for _, tt := range tests {
		var got []string
		for _, iv := range f.router.OpenRanges(tt.team, tt.day) {
			got = append(got, iv.Start.In(loc).Format("15:04")+"-"+iv.End.In(loc).Format("15:04"))
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if rs := f.router.OpenRanges("national", time.Date(2026, 6, 16, 15, 0, 0, 0, loc)); len(rs) != 1 ||
		rs[0].End.Sub(rs[0].Start) != 24*time.Hour {
		t.Errorf("around the clock: %v, want one 24-hour range", rs)
	}
}
