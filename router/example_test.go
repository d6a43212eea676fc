package router_test

import (
	"fmt"
	"time"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
)

// This example routes a call from a known customer whose last agent is
// free, then starts the first two steps as the call layer does.
func Example() {
	cfg, err := config.Parse("example.yaml", []byte(`
trunks: [{name: carrier, networks: ["127.0.0.1"], outbound: "127.0.0.1:5070"}]
routing: {national_pool: national, fallback: national_pool}
teams:
  - id: berlin
    name: Team Berlin
    time_zone: Europe/Berlin
    hours: {mon: ["08:00-19:00"]}
    agents:
      - {id: anna, name: Anna, username: anna, password: pw-anna}
      - {id: ben, name: Ben, username: ben, password: pw-ben}
  - id: national
    name: National pool
    time_zone: Europe/Berlin
    routing: {fallback: callback}
    agents: [{id: nora, name: Nora, username: nora, password: pw-nora}]
customers: [{number: "+4930123456", name: Erika, team: berlin}]
`), nil)
	if err != nil {
		panic(err)
	}
	snap, err := roster.FromConfig(cfg)
	if err != nil {
		panic(err)
	}
	r, err := router.New(snap, cfg)
	if err != nil {
		panic(err)
	}
	presence := roster.NewPresence()
	view := router.Live{Agents: presence}

	now := time.Date(2026, 6, 15, 9, 0, 0, 0, time.UTC) // a Monday, 11:00 in Berlin
	res := snap.Resolve("+4930123456")
	plan := r.Plan(router.Call{
		Number: "+4930123456", Customer: res.Customer, Team: res.Team, Reason: res.Reason,
		LastAgent: "anna", LastAgentAt: now.Add(-48 * time.Hour),
	}, view, now)

	rung := map[string]bool{}
	for i := range 2 {
		for _, id := range plan.Pick(nil, i, view, rung) {
			rung[id] = true
		}
	}
	for _, line := range plan.Trace() {
		fmt.Println(line)
	}
	// Output:
	// customer Erika is assigned to team berlin
	// team berlin open at Mon 2026-06-15 11:00:00 Europe/Berlin (08:00-19:00)
	// customer's last agent anna (2 days ago) rings first, alone, for 10s
	// team berlin: 3 steps
	// then national pool national: 2 steps
	// after the last step: callback
	// step 1 (last agent for 10s): rings 1 agent: anna
	// step 2 (3 longest-idle of berlin for 20s): rings 1 agent: ben
}
