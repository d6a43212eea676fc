package router_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
)

// benchSetup builds a 40-agent team with opening hours, storm mode and a
// national pool, and a live roster.Presence in which every agent is
// registered and has been idle for a different time.
func benchSetup(b *testing.B) (*router.Router, *roster.Snapshot, router.View, time.Time) {
	b.Helper()
	cfg := config.Default()
	cfg.DefaultTeam = "big"
	cfg.Routing.NationalPool = "pool"
	cfg.Routing.Fallback = config.FallbackNationalPool
	big := config.Team{ID: "big", Name: "Big", TimeZone: "Europe/Berlin", Prefixes: []string{"+4930"}}
	for j := range 40 {
		id := fmt.Sprintf("a%02d", j)
		big.Agents = append(big.Agents, config.Agent{ID: id, Name: id, Username: id, Password: "pw"})
	}
	big.Neighbours = []config.Neighbour{{Team: "pool", Cap: 2}}
	big.Storm = config.Storm{Enabled: true, WaitingEnter: 5, ExitMargin: 1, MinDuration: time.Minute, Overflow: config.OverflowNeighbours}
	big.Hours = config.Hours{Week: [7][]config.TimeRange{}}
	for d := time.Monday; d <= time.Friday; d++ {
		big.Hours.Week[d] = []config.TimeRange{{From: 8 * 3600, To: 12 * 3600}, {From: 13 * 3600, To: 19 * 3600}}
	}
	big.Exceptions = []config.Exception{{Year: 2026, Month: 12, Day: 25, Closed: true, Note: "Christmas Day"}}
	pool := config.Team{ID: "pool", Name: "Pool", TimeZone: "Europe/Berlin",
		Agents:  []config.Agent{{ID: "p1", Name: "p1", Username: "p1", Password: "pw"}},
		Routing: config.TeamRouting{Fallback: config.FallbackCallback}}
	cfg.Teams = []config.Team{big, pool}
	snap, err := roster.FromConfig(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	r, err := router.New(snap, &cfg)
	if err != nil {
		b.Fatal(err)
	}
	clock := time.Date(2026, 6, 16, 9, 0, 0, 0, time.UTC)
	presence := roster.NewPresenceWithOptions(roster.PresenceOptions{
		Now:                 func() time.Time { return clock },
		RequireRegistration: true,
	})
	for j := range 40 {
		clock = clock.Add(time.Second)
		presence.SetRegistered(fmt.Sprintf("a%02d", (j*7)%40), true)
	}
	presence.SetRegistered("p1", true)
	view := router.Live{Agents: presence, Loads: func(string) router.Load { return router.Load{Ringing: 1} }}
	return r, snap, view, clock
}

// BenchmarkRoute measures one routing decision for a 40-agent team: the plan
// and the first step's agents, with the live state read from
// roster.Presence.
func BenchmarkRoute(b *testing.B) {
	r, snap, view, now := benchSetup(b)
	res := snap.Resolve("+4930555123")
	call := router.Call{Number: "+4930555123", Team: res.Team, Reason: res.Reason}
	affinity := call
	affinity.LastAgent, affinity.LastAgentAt = "a17", now.Add(-48*time.Hour)
	for _, bc := range []struct {
		name string
		call router.Call
	}{{"longest-idle", call}, {"last-agent", affinity}} {
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]string, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				p := r.Plan(bc.call, view, now)
				dst = p.Pick(dst[:0], 0, view, nil)
			}
			if len(dst) == 0 {
				b.Fatal("first step picked nobody")
			}
		})
	}
}

// BenchmarkPickAll measures materialising the "every available member" step
// of a 40-agent team.
func BenchmarkPickAll(b *testing.B) {
	r, snap, view, now := benchSetup(b)
	res := snap.Resolve("+4930555123")
	p := r.Plan(router.Call{Number: "+4930555123", Team: res.Team}, view, now)
	dst := make([]string, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		q := p
		dst = q.Pick(dst[:0], 1, view, nil)
	}
	if len(dst) != 40 {
		b.Fatalf("picked %d agents, want 40", len(dst))
	}
}
