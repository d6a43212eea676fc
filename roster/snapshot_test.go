package roster

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamline/teamline/config"
)

// testConfig returns a roster with nested prefixes: a national team on +49,
// Berlin on +4930, Potsdam on +49331 and Hamburg on +4940.
func testConfig() *config.Config {
	c := config.Default()
	c.DefaultTeam = "berlin"
	c.Teams = []config.Team{
		{ID: "berlin", Name: "Team Berlin", TimeZone: "Europe/Berlin", Prefixes: []string{"+4930"}, Agents: []config.Agent{
			{ID: "anna", Name: "Anna", Username: "anna", Password: "pw-anna"},
			{ID: "alex", Name: "Alex", Username: "alex.b", Password: "pw-alex"},
		}},
		{ID: "potsdam", Name: "Team Potsdam", TimeZone: "Europe/Berlin", Prefixes: []string{"+49331"}},
		{ID: "hamburg", Name: "Team Hamburg", TimeZone: "Europe/Berlin", Prefixes: []string{"+4940"}, Agents: []config.Agent{
			{ID: "hanna", Name: "Hanna", Username: "hanna", Password: "pw-hanna"},
		}},
		{ID: "national", Name: "National pool", TimeZone: "UTC", Prefixes: []string{"+49"}},
	}
	c.Customers = []config.Customer{
		{ID: "erika", Number: "+4930123456", Name: "Erika Musterfrau", Team: "berlin"},
		{ID: "max", Number: "+4930987654", Name: "Max Mustermann", Team: "hamburg", OptedOut: true},
		{ID: "anon", Number: "+43123456789", Team: "potsdam"},
	}
	return &c
}

func mustSnapshot(t testing.TB, c *config.Config) *Snapshot {
	t.Helper()
	s, err := FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResolve(t *testing.T) {
	t.Parallel()
	s := mustSnapshot(t, testConfig())
	tests := []struct {
		name     string
		number   string
		team     string
		customer string
		reason   string
	}{
		{
			name: "customer record", number: "+4930123456", team: "berlin", customer: "erika",
			reason: "customer Erika Musterfrau is assigned to team berlin",
		},
		{
			name: "customer record beats prefix", number: "+4930987654", team: "hamburg", customer: "max",
			reason: "customer Max Mustermann is assigned to team hamburg",
		},
		{
			name: "customer without name", number: "+43123456789", team: "potsdam", customer: "anon",
			reason: "customer +43123456789 is assigned to team potsdam",
		},
		{
			name: "prefix", number: "+4940123456", team: "hamburg",
			reason: "number +4940123456 matches prefix +4940 of team hamburg",
		},
		{
			name: "longest prefix beats shorter", number: "+49331123456", team: "potsdam",
			reason: "number +49331123456 matches prefix +49331 of team potsdam",
		},
		{
			name: "shorter prefix when longer does not match", number: "+4989123456", team: "national",
			reason: "number +4989123456 matches prefix +49 of team national",
		},
		{
			name: "number equal to prefix", number: "+4940", team: "hamburg",
			reason: "number +4940 matches prefix +4940 of team hamburg",
		},
		{
			name: "shorter than every prefix", number: "+4", team: "berlin",
			reason: "no customer or prefix match: default team berlin",
		},
		{
			name: "default team", number: "+12025550143", team: "berlin",
			reason: "no customer or prefix match: default team berlin",
		},
		{
			name: "withheld", number: "", team: "berlin",
			reason: "caller number withheld: default team berlin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := s.Resolve(tt.number)
			if r.Team == nil || r.Team.ID != tt.team {
				t.Fatalf("Resolve(%q).Team = %+v, want %s", tt.number, r.Team, tt.team)
			}
			gotCustomer := ""
			if r.Customer != nil {
				gotCustomer = r.Customer.ID
			}
			if gotCustomer != tt.customer {
				t.Errorf("Resolve(%q).Customer = %q, want %q", tt.number, gotCustomer, tt.customer)
			}
			if r.Reason != tt.reason {
				t.Errorf("Resolve(%q).Reason = %q, want %q", tt.number, r.Reason, tt.reason)
			}
		})
	}
}

// TestResolveAllocations is not parallel: testing.AllocsPerRun refuses to
// run in parallel tests.
func TestResolveAllocations(t *testing.T) {
	s := mustSnapshot(t, testConfig())
	tests := []struct {
		number string
		max    float64
	}{
		{"+4930123456", 0},  // customer: precomputed
		{"+12025550143", 0}, // default: precomputed
		{"+4940123456", 1},  // prefix: the reason string
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, func() { s.Resolve(tt.number) }); got > tt.max {
			t.Errorf("Resolve(%q) allocates %v times, want at most %v", tt.number, got, tt.max)
		}
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	s := mustSnapshot(t, testConfig())
	if a, ok := s.AgentByUsername("alex.b"); !ok || a.ID != "alex" || a.TeamID != "berlin" || a.Password != "pw-alex" {
		t.Errorf("AgentByUsername(alex.b) = %+v, %v", a, ok)
	}
	if _, ok := s.AgentByUsername("alex"); ok {
		t.Error("AgentByUsername found an agent by id")
	}
	if a, ok := s.Agent("hanna"); !ok || a.TeamID != "hamburg" {
		t.Errorf("Agent(hanna) = %+v, %v", a, ok)
	}
	if _, ok := s.Agent("nobody"); ok {
		t.Error("Agent(nobody) found")
	}
	if c, ok := s.Customer("+4930987654"); !ok || c.Name != "Max Mustermann" || c.TeamID != "hamburg" || !c.OptedOut {
		t.Errorf("Customer = %+v, %v", c, ok)
	}
	if _, ok := s.Customer("+4930000000"); ok {
		t.Error("unknown customer found")
	}
	team, ok := s.Team("berlin")
	if !ok || len(team.Agents) != 2 || team.Agents[0].ID != "anna" || team.Location.String() != "Europe/Berlin" {
		t.Fatalf("Team(berlin) = %+v, %v", team, ok)
	}
	if _, ok := s.Team("munich"); ok {
		t.Error("Team(munich) found")
	}
	if s.DefaultTeam() != team {
		t.Errorf("DefaultTeam = %v", s.DefaultTeam())
	}
	teams := s.Teams()
	var ids []string
	for _, t := range teams {
		ids = append(ids, t.ID)
	}
	if got := strings.Join(ids, ","); got != "berlin,potsdam,hamburg,national" {
		t.Errorf("Teams() order = %s", got)
	}
	teams[0] = nil
	if s.Teams()[0] == nil {
		t.Error("Teams() exposes the snapshot's slice")
	}
}

func TestSnapshotIsolatedFromConfig(t *testing.T) {
	t.Parallel()
	c := testConfig()
	s := mustSnapshot(t, c)
	c.Teams[0].Prefixes[0] = "+4999"
	c.Teams[0].Agents[0].Password = "changed"
	team, _ := s.Team("berlin")
	if team.Prefixes[0] != "+4930" {
		t.Error("snapshot shares prefixes with the config")
	}
	if a, _ := s.Agent("anna"); a.Password != "pw-anna" {
		t.Error("snapshot shares agents with the config")
	}
}

func TestFromConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   string
	}{
		{"duplicate team", func(c *config.Config) { c.Teams[1].ID = "berlin" }, `duplicate team "berlin"`},
		{"duplicate agent", func(c *config.Config) { c.Teams[2].Agents[0].ID = "anna" }, `duplicate agent "anna"`},
		{"duplicate username", func(c *config.Config) { c.Teams[2].Agents[0].Username = "anna" }, `duplicate username "anna"`},
		{"duplicate prefix", func(c *config.Config) { c.Teams[1].Prefixes[0] = "+4930" }, "prefix +4930 in teams berlin and potsdam"},
		{"prefix not e164", func(c *config.Config) { c.Teams[1].Prefixes[0] = "49331" }, `prefix "49331" is not E.164`},
		{"unknown default team", func(c *config.Config) { c.DefaultTeam = "munich" }, `default team "munich" does not exist`},
		{"customer of unknown team", func(c *config.Config) { c.Customers[0].Team = "munich" }, `team "munich" does not exist`},
		{"customer number not e164", func(c *config.Config) { c.Customers[0].Number = "030123456" }, `customer number "030123456" is not E.164`},
		{"duplicate customer", func(c *config.Config) { c.Customers[1].Number = c.Customers[0].Number }, "duplicate customer number +4930123456"},
		{"bad time zone", func(c *config.Config) { c.Teams[3].TimeZone = "Mars/Olympus" }, "team national"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := testConfig()
			tt.mutate(c)
			_, err := FromConfig(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("FromConfig error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFromExampleConfig(t *testing.T) {
	t.Parallel()
	c, err := config.Load(filepath.Join("..", "configs", "teamline.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := mustSnapshot(t, c)
	r := s.Resolve("+4930123456")
	if r.Team.ID != "berlin" || r.Customer == nil || r.Reason != "customer Erika Musterfrau is assigned to team berlin" {
		t.Errorf("Resolve(Erika) = %+v", r)
	}
	if r := s.Resolve("+4940555555"); r.Team.ID != "hamburg" {
		t.Errorf("Resolve(Hamburg number) = %+v", r)
	}
	if a, ok := s.AgentByUsername("ben"); !ok || a.TeamID != "berlin" {
		t.Errorf("AgentByUsername(ben) = %+v, %v", a, ok)
	}
}

// benchConfig builds 10 teams of 40 agents with 30 prefixes each (300
// nested prefixes of 6 to 8 characters) and 2,000 customers.
func benchConfig() *config.Config {
	c := config.Default()
	for i := range 10 {
		team := config.Team{ID: fmt.Sprintf("team%d", i), Name: "Team", TimeZone: "Europe/Berlin"}
		for j := range 30 {
			// +49<i><j zero-padded to 2, 3 or 4 digits>: nested prefixes of
			// several lengths, so that Resolve probes more than one.
			team.Prefixes = append(team.Prefixes, fmt.Sprintf("+49%d%0*d", i, 2+j%3, j))
		}
		for j := range 40 {
			id := fmt.Sprintf("t%da%d", i, j)
			team.Agents = append(team.Agents, config.Agent{ID: id, Name: id, Username: id, Password: "pw"})
		}
		c.Teams = append(c.Teams, team)
	}
	c.DefaultTeam = "team0"
	for i := range 2000 {
		c.Customers = append(c.Customers, config.Customer{
			ID: fmt.Sprintf("c%d", i), Number: fmt.Sprintf("+4989%07d", i), Name: "Customer", Team: fmt.Sprintf("team%d", i%10),
		})
	}
	return &c
}

func BenchmarkResolve(b *testing.B) {
	s := mustSnapshot(b, benchConfig())
	cases := []struct{ name, number, team string }{
		{"customer", "+49890001234", "team4"},
		{"prefix", "+495001123456", "team5"},
		{"default", "+12025550143", "team0"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			if got := s.Resolve(tc.number).Team.ID; got != tc.team {
				b.Fatalf("Resolve(%s) = %s, want %s", tc.number, got, tc.team)
			}
			b.ReportAllocs()
			for b.Loop() {
				s.Resolve(tc.number)
			}
		})
	}
}
