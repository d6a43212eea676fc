package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/api"
	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
)

const agentsYAML = `
trunks:
  - {name: carrier, networks: ["127.0.0.1/32"], outbound: "127.0.0.1:5070"}
teams:
  - id: berlin
    name: Team Berlin
    time_zone: Europe/Berlin
    prefixes: ["+4930"]
    agents:
      - {id: anna, name: Anna, username: anna, password: secret-anna}
      - {id: alex, name: Alex, username: alex, password: secret-alex}
`

func TestAgentState(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("agents.yaml", []byte(agentsYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := roster.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	presence := roster.NewPresenceWithOptions(roster.PresenceOptions{Roster: func() *roster.Snapshot { return snap }})
	srv := httptest.NewServer(api.New(api.Deps{Token: token, Roster: func() *roster.Snapshot { return snap }, Agents: presence}, zerolog.Nop()))
	t.Cleanup(srv.Close)

	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, res.Body)
		return res.StatusCode, b.String()
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"away with a reason", "PUT", "/v1/agents/anna/state", `{"state":"away","reason":"lunch"}`, 200, `"state":"away"`},
		{"reason is shown", "GET", "/v1/agents/anna", "", 200, `"reason":"lunch"`},
		{"away needs a reason", "PUT", "/v1/agents/alex/state", `{"state":"away"}`, 400, "reason"},
		{"unknown state", "PUT", "/v1/agents/alex/state", `{"state":"asleep"}`, 400, "available"},
		{"unknown agent", "PUT", "/v1/agents/zoe/state", `{"state":"available"}`, 404, "zoe"},
		{"back again", "PUT", "/v1/agents/anna/state", `{"state":"available"}`, 200, `"state":"available"`},
		{"team list", "GET", "/v1/agents?team=berlin", "", 200, `"id":"alex"`},
		{"wrong method", "POST", "/v1/agents/anna/state", `{}`, 405, "error"},
	}
	for _, tt := range tests {
		status, body := do(tt.method, tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s, want %d containing %q", tt.name, status, body, tt.status, tt.contains)
		}
	}

	// An agent set away is not reserved for calls; back, they are.
	if _, _ = do("PUT", "/v1/agents/alex/state", `{"state":"away","reason":"training"}`); presence.TryReserve("alex", "c1") {
		t.Fatal("agent set away over the API was reserved for a call")
	}
	do("PUT", "/v1/agents/alex/state", `{"state":"available"}`)
	if !presence.TryReserve("alex", "c2") {
		t.Fatal("agent back from away could not be reserved")
	}
	if status, _ := do("PUT", "/v1/agents/alex/state", `{"state":"available"}`); status != http.StatusConflict {
		t.Fatalf("available while ringing for a call: %d, want 409", status)
	}
}

func TestWallboard(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("agents.yaml", []byte(agentsYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := roster.FromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	presence := roster.NewPresenceWithOptions(roster.PresenceOptions{Roster: func() *roster.Snapshot { return snap }})
	presence.TryReserve("anna", "c1")
	if err := presence.SetAway("alex", "lunch"); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	loads := func(team string) router.Load {
		return router.Load{Ringing: 4, Waiting: 2, Storm: router.StormState{Active: true, Since: since}}
	}
	srv := httptest.NewServer(api.New(api.Deps{Token: token, Roster: func() *roster.Snapshot { return snap },
		Agents: presence, Loads: loads}, zerolog.Nop()))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/wallboard", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var teams []struct {
		ID      string         `json:"id"`
		Ringing int            `json:"callers_ringing"`
		Storm   bool           `json:"storm"`
		Since   time.Time      `json:"storm_since"`
		Agents  map[string]int `json:"agents"`
	}
	if err := json.NewDecoder(res.Body).Decode(&teams); err != nil {
		t.Fatal(err)
	}
	if len(teams) != 1 || teams[0].ID != "berlin" || teams[0].Ringing != 4 || !teams[0].Storm || !teams[0].Since.Equal(since) {
		t.Fatalf("wallboard = %+v", teams)
	}
	if a := teams[0].Agents; a["ringing"] != 1 || a["away"] != 1 {
		t.Fatalf("agents by state = %v, want anna ringing and alex away", a)
	}
}
