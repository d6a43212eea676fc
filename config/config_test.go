package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a small valid configuration; the line numbers matter to the tests.
const base = `trunks:
  - name: carrier
    networks: ["127.0.0.1/32", "10.0.0.0/8"]
    outbound: "sip:127.0.0.1:5070"
teams:
  - id: berlin
    name: Team Berlin
    time_zone: Europe/Berlin
    prefixes: ["+4930"]
    agents:
      - id: anna
        name: Anna
        username: anna
        password: secret-anna
      - id: alex
        name: Alex
        username: alex
        password: secret-alex
customers:
  - number: "030 123456"
    name: Erika Musterfrau
    team: berlin
`

// writeConfig writes text to a file in a fresh temporary directory and
// returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "teamline.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// edit applies old->new replacements to base, failing when one does not match.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	text := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("edit: %q not in base", pairs[i])
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) LookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "configs", "teamline.example.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Parse with an empty environment so the developer's shell cannot change
	// the outcome.
	c, err := Parse(path, data, noEnv)
	if err != nil {
		t.Fatalf("example config does not load:\n%v", err)
	}
	if got := len(c.Teams); got != 3 {
		t.Fatalf("teams = %d, want 3", got)
	}
	wantAgents := map[string]int{"berlin": 3, "hamburg": 3, "national": 1}
	for _, team := range c.Teams {
		if len(team.Agents) != wantAgents[team.ID] {
			t.Errorf("team %s has %d agents, want %d", team.ID, len(team.Agents), wantAgents[team.ID])
		}
		if team.Location == nil || team.Location.String() != "Europe/Berlin" {
			t.Errorf("team %s location = %v", team.ID, team.Location)
		}
	}
	if c.DefaultTeam != "berlin" || c.DefaultCountry != "DE" {
		t.Errorf("default team/country = %q/%q", c.DefaultTeam, c.DefaultCountry)
	}
	var erika *Customer
	for i := range c.Customers {
		if c.Customers[i].Name == "Erika Musterfrau" {
			erika = &c.Customers[i]
		}
	}
	if erika == nil || erika.Number != "+4930123456" || erika.Team != "berlin" {
		t.Errorf("Erika Musterfrau = %+v", erika)
	}
	if len(c.Trunks) != 1 || c.Trunks[0].Name != "demo-carrier" {
		t.Fatalf("trunks = %+v", c.Trunks)
	}
	for _, a := range []string{"127.0.0.1", "::1"} {
		if _, ok := c.TrunkFor(netip.MustParseAddr(a)); !ok {
			t.Errorf("trunk does not allow %s", a)
		}
	}
	if c.SIP.UDP != "0.0.0.0:5060" || c.SIP.TCP != "0.0.0.0:5060" || c.HTTP.Listen != "0.0.0.0:8080" {
		t.Errorf("listen addresses = %q %q %q", c.SIP.UDP, c.SIP.TCP, c.HTTP.Listen)
	}
	if c.Media.PortMin != 20000 || c.Media.PortMax != 20999 || c.Media.AdvertiseIP != "127.0.0.1" {
		t.Errorf("media = %+v", c.Media)
	}
}

func TestLoadExampleDocumentsEveryField(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "configs", "teamline.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || !strings.Contains(trimmed, ":") {
			continue
		}
		prev := ""
		if i > 0 {
			prev = strings.TrimSpace(lines[i-1])
		}
		if !strings.HasPrefix(prev, "#") {
			t.Errorf("line %d %q has no comment above it", i+1, line)
		}
	}
}

func TestLoadBase(t *testing.T) {
	t.Parallel()
	c, err := Load(writeConfig(t, base))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if !reflect.DeepEqual(c.SIP, want.SIP) || c.Media != want.Media || c.HTTP != want.HTTP || c.Calls != want.Calls {
		t.Errorf("omitted sections do not take defaults: %+v", c)
	}
	if got := c.Customers[0]; got.Number != "+4930123456" || got.ID != "cust-4930123456" {
		t.Errorf("customer = %+v, want normalised number and derived id", got)
	}
	wantNets := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	if !reflect.DeepEqual(c.Trunks[0].Sources, wantNets) {
		t.Errorf("sources = %v, want %v", c.Trunks[0].Sources, wantNets)
	}
}

// TestUnquotedNumbersKeepTheirText checks that +4930, which YAML reads as
// the integer 4930, is taken as written in string fields.
func TestUnquotedNumbersKeepTheirText(t *testing.T) {
	t.Parallel()
	text := edit(t,
		`"030 123456"`, `+4930123456`,
		`["+4930"]`, "\n      - +4930\n      - +49331",
		"password: secret-alex", "password: 0x1F",
	)
	c, err := Parse("x.yaml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Customers[0].Number; got != "+4930123456" {
		t.Errorf("number = %q, want +4930123456", got)
	}
	if got := c.Teams[0].Prefixes; !reflect.DeepEqual(got, []string{"+4930", "+49331"}) {
		t.Errorf("prefixes = %q", got)
	}
	if got := c.Teams[0].Agents[1].Password; got != "0x1F" {
		t.Errorf("password = %q, want 0x1F", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []string // "line: field: message", without the file name
	}{
		{
			name: "empty password",
			text: edit(t, "password: secret-alex", `password: ""`),
			want: []string{"18: teams[0].agents[1].password: must not be empty"},
		},
		{
			name: "missing password reported at the agent",
			text: edit(t, "        password: secret-alex\n", ""),
			want: []string{"15: teams[0].agents[1].password: must not be empty"},
		},
		{
			name: "unknown field",
			text: edit(t, "name: Alex", "nmae: Alex"),
			want: []string{
				"15: teams[0].agents[1].name: must not be empty",
				"16: teams[0].agents[1].nmae: unknown field",
			},
		},
		{
			name: "unknown top-level field",
			text: base + "colour: blue\n",
			want: []string{"23: colour: unknown field"},
		},
		{
			name: "duplicate username",
			text: edit(t, "username: alex", "username: anna"),
			want: []string{`17: teams[0].agents[1].username: duplicate username "anna" (also teams[0].agents[0].username)`},
		},
		{
			name: "duplicate agent id",
			text: edit(t, "id: alex", "id: anna"),
			want: []string{`15: teams[0].agents[1].id: duplicate agent id "anna" (also teams[0].agents[0].id)`},
		},
		{
			name: "bad agent id",
			text: edit(t, "id: alex", `id: "alex smith"`),
			want: []string{"15: teams[0].agents[1].id: may contain only letters, digits, '.', '_' and '-'"},
		},
		{
			name: "unknown time zone",
			text: edit(t, "Europe/Berlin", "Europe/Atlantis"),
			want: []string{`8: teams[0].time_zone: unknown IANA time zone "Europe/Atlantis"`},
		},
		{
			name: "bad prefix",
			text: edit(t, `["+4930"]`, `["+4930", "4940"]`),
			want: []string{"9: teams[0].prefixes[1]: must be an E.164 prefix: '+' and 1 to 15 digits, such as +4930"},
		},
		{
			name: "bad network",
			text: edit(t, `"10.0.0.0/8"`, `"10.0.0.0/33"`),
			want: []string{"3: trunks[0].networks[1]: must be a CIDR prefix such as 10.0.0.0/8 or a single IP address"},
		},
		{
			name: "networks not a list",
			text: edit(t, `networks: ["127.0.0.1/32", "10.0.0.0/8"]`, "networks: {a: b}"),
			want: []string{"3: trunks[0].networks: must be a list of strings"},
		},
		{
			name: "bad outbound",
			text: edit(t, `"sip:127.0.0.1:5070"`, `"sip:127.0.0.1:99999"`),
			want: []string{"4: trunks[0].outbound: must be a sip: URI or host:port (port must be a number from 0 to 65535)"},
		},
		{
			name: "no trunks",
			text: edit(t, "trunks:\n  - name: carrier\n    networks: [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n    outbound: \"sip:127.0.0.1:5070\"\n", "trunks: []\n"),
			want: []string{"1: trunks: at least one trunk is required"},
		},
		{
			name: "customer of unknown team",
			text: edit(t, "team: berlin", "team: potsdam"),
			want: []string{`22: customers[0].team: must name a team; no team has id "potsdam"`},
		},
		{
			name: "customer number invalid",
			text: edit(t, `"030 123456"`, `"call me"`),
			want: []string{`20: customers[0].number: "call me" is not a possible telephone number`},
		},
		{
			name: "duplicate customer number in another spelling",
			text: base + "  - number: \"+49 30 123456\"\n    team: berlin\n",
			want: []string{"23: customers[1].number: duplicate customer number +4930123456 (also customers[0].number)"},
		},
		{
			name: "explicit id collides with a derived one",
			text: base + "  - id: cust-4930123456\n    number: \"+4930999999\"\n    team: berlin\n",
			want: []string{`23: customers[1].id: duplicate customer id "cust-4930123456" (also customers[0].id)`},
		},
		{
			name: "default team unknown",
			text: base + "default_team: hamburg\n",
			want: []string{`23: default_team: must name a team; no team has id "hamburg"`},
		},
		{
			name: "default team omitted and no berlin",
			text: edit(t, "id: berlin", "id: potsdam", "team: berlin", "team: potsdam"),
			want: []string{`1: default_team: must name a team; no team has id "berlin"`},
		},
		{
			name: "default country unknown",
			text: base + "default_country: XX\n",
			want: []string{"23: default_country: must be an ISO 3166-1 alpha-2 region known to the number library, such as DE"},
		},
		{
			name: "bad duration",
			text: base + "calls:\n  ring_timeout: 30x\n",
			want: []string{`24: calls.ring_timeout: must be a duration such as "30s" or "4h"`},
		},
		{
			name: "zero duration",
			text: base + "calls:\n  max_duration: 0s\n",
			want: []string{"24: calls.max_duration: must be greater than zero"},
		},
		{
			name: "odd and inverted media ports",
			text: base + "media:\n  port_min: 20001\n  port_max: 20000\n",
			want: []string{
				"24: media.port_min: must be even (RTP uses even ports, RTCP the next odd one)",
				"25: media.port_max: must be greater than port_min (20001)",
			},
		},
		{
			name: "port not an integer",
			text: base + "media:\n  port_min: low\n",
			want: []string{"24: media.port_min: must be an integer"},
		},
		{
			name: "unspecified advertise address",
			text: base + "media:\n  advertise_ip: 0.0.0.0\nsip:\n  advertise_host: \"::\"\n",
			want: []string{
				"24: media.advertise_ip: must be an address peers can reach, not 0.0.0.0",
				"26: sip.advertise_host: must be an address peers can reach, not ::",
			},
		},
		{
			name: "team callback slots that cannot work",
			text: strings.Replace(base, "    prefixes: [\"+4930\"]\n", "    prefixes: [\"+4930\"]\n    callbacks:\n"+
				"      slot_length: 7m\n      calls_per_agent: -1\n      lead_time: -1m\n", 1),
			want: []string{
				"11: teams[0].callbacks.slot_length: must be at least 5s and divide a day evenly (e.g. 10m, 15m, 30m), or 0 to inherit",
				"12: teams[0].callbacks.calls_per_agent: must be at least 1, or 0 to inherit",
				"13: teams[0].callbacks.lead_time: must not be negative",
			},
		},
		{
			name: "flood limit that refuses steady traffic",
			text: base + "sip:\n  flood_rate: 0\n  flood_burst: 0\n",
			want: []string{
				"24: sip.flood_rate: must be more than 0 requests per second",
				"25: sip.flood_burst: must be at least flood_rate (and 1): a burst smaller than a second's rate refuses steady traffic",
			},
		},
		{
			name: "listen address without port",
			text: base + "sip:\n  udp: 0.0.0.0\nhttp:\n  listen: \"localhost:http\"\n",
			want: []string{
				"24: sip.udp: must be host:port (missing port or malformed address)",
				"26: http.listen: must be host:port (port must be a number from 0 to 65535)",
			},
		},
		{
			name: "no sip transport",
			text: base + "sip:\n  udp: \"\"\n  tcp: \"\"\n",
			want: []string{"23: sip: at least one of udp and tcp must be set"},
		},
		{
			name: "public url not http",
			text: base + "http:\n  public_url: ftp://example.com\n",
			want: []string{"24: http.public_url: must be an absolute http:// or https:// URL"},
		},
		{
			name: "duplicate team id and prefix",
			text: strings.Replace(base, "customers:", "  - id: berlin\n    name: Again\n    time_zone: UTC\n    prefixes: [\"+4930\"]\ncustomers:", 1),
			want: []string{
				`19: teams[1].id: duplicate team id "berlin"`,
				"22: teams[1].prefixes[0]: prefix +4930 is already used by teams[0].prefixes[0]",
			},
		},
		{
			name: "teams not a list",
			text: "trunks:\n  - name: c\n    networks: [127.0.0.1]\n    outbound: 127.0.0.1:5070\nteams: {id: berlin}\n",
			want: []string{"5: teams: must be a list"},
		},
		{
			name: "password of wrong type is not echoed",
			text: edit(t, "password: secret-alex", "password: [secret-alex]"),
			want: []string{"18: teams[0].agents[1].password: must be a string"},
		},
		{
			name: "duplicate key",
			text: edit(t, "name: Alex", "name: Alex\n        name: Alexander"),
			want: []string{"17: yaml: mapping key \"name\" already defined at [16:9]"},
		},
		{
			name: "syntax error",
			text: edit(t, `prefixes: ["+4930"]`, `prefixes: ["+4930"`),
			want: []string{"10: yaml: ',' or ']' must be specified"},
		},
		{
			name: "not a mapping",
			text: "- just\n- a list\n",
			want: []string{"1: must be a mapping of fields"},
		},
		{
			name: "two documents",
			text: base + "---\nsip: {}\n",
			want: []string{"24: only one YAML document is allowed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.text)
			c, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c.Redacted())
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %T %v is not a *ValidationError", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				if got[i] != path+":"+w {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
			if strings.Contains(err.Error(), "secret-") {
				t.Errorf("error quotes a password:\n%v", err)
			}
		})
	}
}

func TestLoadReportsAllMistakesTogether(t *testing.T) {
	t.Parallel()
	text := edit(t,
		"10.0.0.0/8", "10.0.0.0/8x",
		"password: secret-alex", `password: ""`,
		"team: berlin", "team: nowhere",
	) + "calls:\n  ring_timeout: soon\n"
	path := writeConfig(t, text)
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	want := []string{
		path + ":3: trunks[0].networks[1]: must be a CIDR prefix such as 10.0.0.0/8 or a single IP address",
		path + `:18: teams[0].agents[1].password: must not be empty`,
		path + `:22: customers[0].team: must name a team; no team has id "nowhere"`,
		path + `:24: calls.ring_timeout: must be a duration such as "30s" or "4h"`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestPasswordEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		env      map[string]string
		want     string
		wantProb string
	}{
		{
			name: "env wins over file",
			text: edit(t, "password: secret-alex", "password: secret-alex\n        password_env: ALEX_PW"),
			env:  map[string]string{"ALEX_PW": "from-env"},
			want: "from-env",
		},
		{
			name: "env only",
			text: edit(t, "password: secret-alex", "password_env: ALEX_PW"),
			env:  map[string]string{"ALEX_PW": "from-env"},
			want: "from-env",
		},
		{
			name: "unset env falls back to file",
			text: edit(t, "password: secret-alex", "password: secret-alex\n        password_env: ALEX_PW"),
			want: "secret-alex",
		},
		{
			name:     "unset env and no password",
			text:     edit(t, "password: secret-alex", "password_env: ALEX_PW"),
			wantProb: ":18: teams[0].agents[1].password_env: environment variable ALEX_PW is not set or empty",
		},
		{
			name:     "empty env and no password",
			text:     edit(t, "password: secret-alex", "password_env: ALEX_PW"),
			env:      map[string]string{"ALEX_PW": ""},
			wantProb: ":18: teams[0].agents[1].password_env: environment variable ALEX_PW is not set or empty",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("x.yaml", []byte(tt.text), envMap(tt.env))
			if tt.wantProb != "" {
				if err == nil || err.Error() != "x.yaml"+tt.wantProb {
					t.Fatalf("err = %v, want x.yaml%s", err, tt.wantProb)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Teams[0].Agents[1].Password; got != tt.want {
				t.Fatalf("password = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDatabaseURLEnv(t *testing.T) {
	t.Parallel()
	text := base + "database:\n  url: postgres://file@db/teamline\n"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "env wins", env: map[string]string{"DATABASE_URL": "postgres://env@db/teamline"}, want: "postgres://env@db/teamline"},
		{name: "empty env ignored", env: map[string]string{"DATABASE_URL": ""}, want: "postgres://file@db/teamline"},
		{name: "file without env", want: "postgres://file@db/teamline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("x.yaml", []byte(text), envMap(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Database.URL != tt.want {
				t.Fatalf("url = %q, want %q", c.Database.URL, tt.want)
			}
		})
	}
}

// TestLoadUsesProcessEnvironment checks that Load, unlike Parse, reads the
// real environment. It cannot run in parallel because of t.Setenv.
func TestLoadUsesProcessEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://u@h/teamline_env")
	t.Setenv("TEAMLINE_TEST_ALEX", "env-secret")
	c, err := Load(writeConfig(t, edit(t, "password: secret-alex", "password_env: TEAMLINE_TEST_ALEX")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != "postgres://u@h/teamline_env" || c.Teams[0].Agents[1].Password != "env-secret" {
		t.Fatalf("environment not applied: url %q", c.Database.URL)
	}
}

func TestAnchorsAndAliases(t *testing.T) {
	t.Parallel()
	text := edit(t, `networks: ["127.0.0.1/32", "10.0.0.0/8"]`, `networks: &nets ["127.0.0.1/32", "10.0.0.0/8"]`) +
		"  - number: \"+4940123456\"\n    team: berlin\n" +
		"calls:\n  ring_timeout: &t 15s\n  max_duration: *t\n"
	c, err := Parse("x.yaml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Calls.MaxDuration != 15*time.Second {
		t.Fatalf("alias not resolved: %v", c.Calls.MaxDuration)
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	c, err := Parse("x.yaml", []byte(base+"database:\n  url: postgres://teamline:db-secret@db:5432/teamline\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	if got := r.Teams[0].Agents[0].Password; got != "REDACTED" {
		t.Errorf("redacted password = %q", got)
	}
	if c.Teams[0].Agents[0].Password != "secret-anna" {
		t.Errorf("Redacted changed the original: %q", c.Teams[0].Agents[0].Password)
	}
	if strings.Contains(r.Database.URL, "db-secret") || !strings.Contains(r.Database.URL, "teamline:REDACTED@db:5432") {
		t.Errorf("redacted url = %q", r.Database.URL)
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=pw&sslmode=disable", "postgres://h/db?password=REDACTED&sslmode=disable"},
		{"host=h user=u password=pw dbname=d", "host=h user=u password=REDACTED dbname=d"},
		{"host=h password = 'p w' dbname=d", "host=h password = REDACTED dbname=d"},
	}
	for _, tt := range tests {
		if got := redactDatabaseURL(tt.in); got != tt.want {
			t.Errorf("redactDatabaseURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTrunk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outbound string
		want     string
	}{
		{"sip:127.0.0.1:5070", "127.0.0.1:5070"},
		{"sip:carrier.example", "carrier.example:5060"},
		{"sip:gw@carrier.example:5080;transport=tcp", "carrier.example:5080"},
		{"127.0.0.1:5070", "127.0.0.1:5070"},
		{"sip:[::1]:5070", "[::1]:5070"},
		{"[::1]", "[::1]:5060"},
	}
	for _, tt := range tests {
		tr := Trunk{Outbound: tt.outbound}
		if got := tr.OutboundHostPort(); got != tt.want {
			t.Errorf("OutboundHostPort(%q) = %q, want %q", tt.outbound, got, tt.want)
		}
	}
	for _, bad := range []string{"sips:x", "http://x", "sip:", "a b:5060", "sip:x:port"} {
		if _, _, err := splitOutbound(bad); err == nil {
			t.Errorf("splitOutbound(%q) accepted", bad)
		}
	}
	tr := Trunk{Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for addr, want := range map[string]bool{"10.1.2.3": true, "::ffff:10.1.2.3": true, "11.0.0.1": false} {
		if got := tr.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allows(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestSIPDigestRealm(t *testing.T) {
	t.Parallel()
	if got := (SIP{Domain: "d"}).DigestRealm(); got != "d" {
		t.Errorf("realm = %q, want domain", got)
	}
	if got := (SIP{Domain: "d", Realm: "r"}).DigestRealm(); got != "r" {
		t.Errorf("realm = %q, want override", got)
	}
}

// FuzzParse checks that no input makes Parse panic and that every rejection
// is a *ValidationError.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("teams: [{id: a, agents: [{id: *x}]}]\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n<<: *x\n"))
	f.Add([]byte("sip: !!map {udp: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data, nil)
		if err == nil {
			if c == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var verr *ValidationError
		if !errors.As(err, &verr) || len(verr.Problems) == 0 {
			t.Fatalf("error %T %v is not a non-empty *ValidationError", err, err)
		}
	})
}

// A team's own callback slot settings win over the callbacks block; what
// it leaves out is inherited.
func TestTeamSlots(t *testing.T) {
	t.Parallel()
	cfg, err := Load(writeConfig(t, strings.Replace(base, "    prefixes: [\"+4930\"]\n",
		"    prefixes: [\"+4930\"]\n    callbacks:\n      slot_length: 30m\n      calls_per_agent: 3\n", 1)+
		"callbacks:\n  slot_length: 10m\n  calls_per_agent: 1\n  lead_time: 7m\n"))
	if err != nil {
		t.Fatal(err)
	}
	slot, perAgent, lead := cfg.TeamSlots(&cfg.Teams[0])
	if slot != 30*time.Minute || perAgent != 3 || lead != 7*time.Minute {
		t.Errorf("team slots = %s, %d per agent, lead %s; want 30m, 3, 7m (inherited)", slot, perAgent, lead)
	}
	slot, perAgent, lead = cfg.TeamSlots(&Team{})
	if slot != 10*time.Minute || perAgent != 1 || lead != 7*time.Minute {
		t.Errorf("team without overrides = %s, %d, %s; want the callbacks block's 10m, 1, 7m", slot, perAgent, lead)
	}
}
