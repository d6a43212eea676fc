package config

import (
	"strings"
	"testing"
	"time"
)

// routingBase is a valid configuration using every routing option; the line
// numbers matter to the tests.
const routingBase = `trunks:
  - name: carrier
    networks: ["127.0.0.1/32"]
    outbound: "sip:127.0.0.1:5070"
routing:
  national_pool: pool
  fallback: national_pool
  hours_time_zone: caller
teams:
  - id: berlin
    name: Team Berlin
    time_zone: Europe/Berlin
    hours:
      mon: ["08:00-12:00", "13:00-19:00"]
      sat: ["10:00-24:00"]
    exceptions:
      - date: "2026-12-25"
        closed: true
      - date: "2026-12-24"
        hours: ["08:00-12:00"]
    wrap_up: 20s
    routing:
      wave_size: 2
      all_ring: 30s
    neighbours:
      - team: pool
        cap: 2
    storm:
      enabled: true
    agents:
      - {id: anna, name: Anna, username: anna, password: secret-anna}
  - id: pool
    name: Pool
    time_zone: Europe/Berlin
    routing:
      fallback: callback
    agents:
      - {id: nora, name: Nora, username: nora, password: secret-nora}
`

func TestRoutingConfig(t *testing.T) {
	t.Parallel()
	c, err := Parse("r.yaml", []byte(routingBase), nil)
	if err != nil {
		t.Fatalf("routing config does not load:\n%v", err)
	}
	b := &c.Teams[0]
	mon := b.Hours.Week[time.Monday]
	if len(mon) != 2 || mon[0] != (TimeRange{8 * 3600, 12 * 3600}) || mon[1].String() != "13:00-19:00" {
		t.Errorf("monday = %v", mon)
	}
	if sat := b.Hours.Week[time.Saturday]; len(sat) != 1 || sat[0].To != 86400 {
		t.Errorf("saturday = %v", sat)
	}
	if b.Hours.OpenAlways() || !c.Teams[1].Hours.OpenAlways() {
		t.Errorf("OpenAlways: berlin %v, pool %v", b.Hours.OpenAlways(), c.Teams[1].Hours.OpenAlways())
	}
	if e := b.Exceptions[0]; !e.Closed || e.Year != 2026 || e.Month != time.December || e.Day != 25 {
		t.Errorf("holiday = %+v", e)
	}
	if e := b.Exceptions[1]; e.Closed || len(e.Ranges) != 1 || e.Ranges[0].String() != "08:00-12:00" {
		t.Errorf("special day = %+v", e)
	}
	if got := c.TeamWrapUp(b); got != 20*time.Second {
		t.Errorf("berlin wrap-up = %v", got)
	}
	if got := c.TeamWrapUp(&c.Teams[1]); got != DefaultWrapUp {
		t.Errorf("pool wrap-up = %v, want the default", got)
	}
	if c.TeamFallback(b) != FallbackNationalPool || c.TeamFallback(&c.Teams[1]) != FallbackCallback {
		t.Errorf("fallbacks = %s, %s", c.TeamFallback(b), c.TeamFallback(&c.Teams[1]))
	}
	// Omitted storm thresholds take their defaults.
	want := Storm{Enabled: true, WaitingEnter: DefaultStormWaitingEnter, ExitMargin: DefaultStormExitMargin,
		MinDuration: DefaultStormMinDuration, Overflow: OverflowNeighbours}
	if b.Storm != want {
		t.Errorf("storm = %+v, want %+v", b.Storm, want)
	}
	if c.Routing.PoolID(c.DefaultTeam) != "pool" || c.Routing.HoursTimeZone != HoursCallerZone {
		t.Errorf("routing = %+v", c.Routing)
	}
	if c.Routing.AffinityDays != DefaultAffinityDays || c.Routing.WaveSize != DefaultWaveSize {
		t.Errorf("routing defaults not applied: %+v", c.Routing)
	}
}

func TestRoutingMistakes(t *testing.T) {
	t.Parallel()
	ed := func(pairs ...string) string {
		text := routingBase
		for i := 0; i+1 < len(pairs); i += 2 {
			if !strings.Contains(text, pairs[i]) {
				t.Fatalf("edit: %q not in routingBase", pairs[i])
			}
			text = strings.Replace(text, pairs[i], pairs[i+1], 1)
		}
		return text
	}
	tests := []struct {
		name string
		text string
		want []string
	}{
		{
			name: "range ends before it starts",
			text: ed(`"13:00-19:00"`, `"19:00-13:00"`),
			want: []string{"14: teams[0].hours.mon[1]: must end after it starts (ranges may not cross midnight; use 24:00)"},
		},
		{
			name: "not a time",
			text: ed(`"10:00-24:00"`, `"10:00-25:00"`),
			want: []string{`15: teams[0].hours.sat[0]: "25:00" is not a time from 00:00 to 24:00`},
		},
		{
			name: "not a range",
			text: ed(`"10:00-24:00"`, `"10:00"`),
			want: []string{`15: teams[0].hours.sat[0]: must be a range HH:MM-HH:MM`},
		},
		{
			name: "overlapping ranges",
			text: ed(`"13:00-19:00"`, `"11:00-19:00"`),
			want: []string{`14: teams[0].hours.mon: ranges 08:00-12:00 and 11:00-19:00 overlap`},
		},
		{
			name: "unknown day",
			text: ed("      sat:", "      sab:"),
			want: []string{`15: teams[0].hours.sab: unknown field`},
		},
		{
			name: "bad exception date",
			text: ed(`"2026-12-25"`, `"25.12.2026"`),
			want: []string{`17: teams[0].exceptions[0].date: must be a date YYYY-MM-DD`},
		},
		{
			name: "duplicate exception date",
			text: ed(`"2026-12-24"`, `"2026-12-25"`),
			want: []string{`19: teams[0].exceptions[1].date: date 2026-12-25 is already listed at teams[0].exceptions[0]`},
		},
		{
			name: "closed and hours together",
			text: ed("        closed: true\n", "        closed: true\n        hours: [\"09:00-10:00\"]\n"),
			want: []string{`19: teams[0].exceptions[0].hours: must be empty when closed is true`},
		},
		{
			name: "exception without closed or hours",
			text: ed("        closed: true\n", ""),
			want: []string{`17: teams[0].exceptions[0]: must set closed: true or list hours`},
		},
		{
			name: "negative wrap-up",
			text: ed("wrap_up: 20s", "wrap_up: -1s"),
			want: []string{`21: teams[0].wrap_up: must not be negative`},
		},
		{
			name: "bad team fallback",
			text: ed("fallback: callback", "fallback: voicemail"),
			want: []string{`36: teams[1].routing.fallback: must be callback, national_pool or reject`},
		},
		{
			name: "pool falls back to itself",
			text: ed("    routing:\n      fallback: callback\n", ""),
			want: []string{`7: routing.fallback: the national pool pool cannot fall back to itself; use callback or reject`},
		},
		{
			name: "neighbour does not exist",
			text: ed("- team: pool", "- team: hamburg"),
			want: []string{`26: teams[0].neighbours[0].team: must name a team; no team has id "hamburg"`},
		},
		{
			name: "own neighbour and no cap",
			text: ed("- team: pool\n        cap: 2", "- team: berlin"),
			want: []string{
				`26: teams[0].neighbours[0].team: a team cannot be its own neighbour`,
				`26: teams[0].neighbours[0].cap: must be at least 1`,
			},
		},
		{
			name: "national pool does not exist",
			text: ed("national_pool: pool", "national_pool: national"),
			want: []string{`6: routing.national_pool: must name a team; no team has id "national"`},
		},
		{
			name: "bad global routing values",
			text: ed("  hours_time_zone: caller\n", "  hours_time_zone: moon\n  wave_size: -1\n  affinity_ring: 0s\n  no_answer_limit: -2\n"),
			want: []string{
				`8: routing.hours_time_zone: must be team or caller`,
				`9: routing.wave_size: must not be negative`,
				`10: routing.affinity_ring: must be greater than zero`,
				`11: routing.no_answer_limit: must not be negative`,
			},
		},
		{
			name: "storm exit not below entry",
			text: ed("      enabled: true\n", "      enabled: true\n      waiting_enter: 2\n      waiting_exit: 2\n      overflow: sideways\n"),
			want: []string{
				`31: teams[0].storm.waiting_exit: must be less than waiting_enter (2)`,
				`32: teams[0].storm.overflow: must be neighbours or fallback`,
			},
		},
		{
			name: "short API token, not quoted",
			text: routingBase + "http:\n  api_token: short-secret\n",
			want: []string{`40: http.api_token: must be at least 16 characters long`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("r.yaml", []byte(tt.text), nil)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			got := strings.Split(err.Error(), "\n")
			var want []string
			for _, w := range tt.want {
				want = append(want, "r.yaml:"+w)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
			}
			if strings.Contains(err.Error(), "short-secret") {
				t.Errorf("error quotes the API token:\n%v", err)
			}
		})
	}
}

func TestAPIToken(t *testing.T) {
	t.Parallel()
	text := base + "http:\n  api_token: file-token-0123456789\n"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "env wins", env: map[string]string{APITokenEnv: "env-token-0123456789"}, want: "env-token-0123456789"},
		{name: "empty env ignored", env: map[string]string{APITokenEnv: ""}, want: "file-token-0123456789"},
		{name: "file", want: "file-token-0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("x.yaml", []byte(text), envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTP.APIToken != tt.want {
				t.Errorf("token = %q, want %q", c.HTTP.APIToken, tt.want)
			}
			if r := c.Redacted(); r.HTTP.APIToken != "REDACTED" {
				t.Errorf("redacted token = %q", r.HTTP.APIToken)
			}
			if c.HTTP.APIToken != tt.want {
				t.Errorf("Redacted changed the original")
			}
		})
	}
}

func TestRedactedCopiesRoutingLists(t *testing.T) {
	t.Parallel()
	c, err := Parse("r.yaml", []byte(routingBase), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	r.Teams[0].Hours.Mon[0] = "changed"
	r.Teams[0].Hours.Week[time.Monday][0].From = 1
	r.Teams[0].Exceptions[1].Ranges[0].From = 1
	r.Teams[0].Neighbours[0].Cap = 99
	b := c.Teams[0]
	if b.Hours.Mon[0] == "changed" || b.Hours.Week[time.Monday][0].From == 1 || b.Exceptions[1].Ranges[0].From == 1 ||
		b.Neighbours[0].Cap == 99 {
		t.Error("Redacted shares lists with the original")
	}
}

func TestExampleRouting(t *testing.T) {
	t.Parallel()
	c, err := Load("../configs/teamline.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pool := c.Routing.PoolID(c.DefaultTeam)
	var found bool
	for i := range c.Teams {
		team := &c.Teams[i]
		if team.ID == pool {
			found = true
			if len(team.Agents) == 0 || !team.Hours.OpenAlways() {
				t.Errorf("national pool %s: %d agents, always open %v", pool, len(team.Agents), team.Hours.OpenAlways())
			}
		}
		// Tests that use the example config must not depend on the time of day.
		if team.ID == "berlin" && (!team.Hours.OpenAlways() || len(team.Exceptions) > 0) {
			t.Error("berlin's demo hours depend on the time of day")
		}
	}
	if !found {
		t.Errorf("national pool %q is not a team", pool)
	}
}

func TestHoursWithEveryDayEmptyAreClosed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		hours string
		want  bool
	}{
		{"    hours: {mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: []}\n", false},
		{"    hours: {sun: []}\n", false},
		{"    hours: {always: true}\n", true},
		{"", true},
	} {
		text := strings.Replace(base, "    prefixes: [\"+4930\"]\n", "    prefixes: [\"+4930\"]\n"+tt.hours, 1)
		c, err := Parse("h.yaml", []byte(text), nil)
		if err != nil {
			t.Fatalf("%q: %v", tt.hours, err)
		}
		if got := c.Teams[0].Hours.OpenAlways(); got != tt.want {
			t.Errorf("hours %q: OpenAlways = %v, want %v", tt.hours, got, tt.want)
		}
	}
}
