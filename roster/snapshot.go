package roster

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/teamline/teamline/config"
)

// Team is a group of agents serving callers of one region.
type Team struct {
	// ID identifies the team.
	ID string
	// Name is the team's display name.
	Name string
	// Region describes the area the team serves.
	Region string
	// Location is the time zone of the team's working hours.
	Location *time.Location
	// Prefixes are the E.164 prefixes whose callers the team serves.
	Prefixes []string
	// Agents are the team's members, in configuration order.
	Agents []*Agent
	// Language is the language of the team's prompts ("en", "de").
	Language string
	// WrapUp is how long an agent of the team stays unavailable after a
	// call (the team's wrap_up, else routing.wrap_up).
	WrapUp time.Duration
}

// Agent is a person who answers calls.
type Agent struct {
	// ID identifies the agent.
	ID string
	// Name is the agent's display name.
	Name string
	// Username is the SIP digest user name.
	Username string
	// Password is the SIP digest password; never log it.
	Password string
	// TeamID is the ID of the agent's team.
	TeamID string
}

// Customer is a known caller assigned to a team.
type Customer struct {
	// ID identifies the customer.
	ID string
	// Number is the customer's E.164 number.
	Number string
	// Name is the customer's display name; may be empty.
	Name string
	// TeamID is the ID of the team that serves the customer.
	TeamID string
	// OptedOut marks a customer who asked not to be routed to their team.
	OptedOut bool
}

// Resolution is the team a caller belongs to, and why.
type Resolution struct {
	// Team is the team that serves the caller; never nil.
	Team *Team
	// Customer is the caller's customer record; nil for unknown callers.
	Customer *Customer
	// Reason explains the choice in words, for logs and the agent console.
	Reason string
}

// Snapshot is an immutable view of teams, agents and customers. Build a new
// one on every change and swap it atomically; all methods are safe for
// concurrent use, and nothing they return may be modified.
type Snapshot struct {
	teams       []*Team
	teamByID    map[string]*Team
	agentByID   map[string]*Agent
	agentByUser map[string]*Agent
	customers   map[string]*customerEntry
	defaultTeam *Team
	// prefixes maps each prefix to its team, and prefixLens lists the
	// prefix lengths present, longest first, so that Resolve finds the
	// longest match with one map lookup per length.
	prefixes       map[string]*Team
	prefixLens     []int
	defaultReason  string
	withheldReason string
}

// customerEntry keeps a customer with its precomputed Resolution.
type customerEntry struct {
	customer   Customer
	resolution Resolution
}

// FromConfig builds a Snapshot from a loaded configuration. It checks the
// invariants it relies on (unique ids, usernames, numbers and prefixes,
// references to existing teams) even though config.Load checks them too,
// because a Config may also be assembled in code.
func FromConfig(cfg *config.Config) (*Snapshot, error) {
	s := &Snapshot{
		teamByID:    make(map[string]*Team, len(cfg.Teams)),
		agentByID:   map[string]*Agent{},
		agentByUser: map[string]*Agent{},
		customers:   make(map[string]*customerEntry, len(cfg.Customers)),
		prefixes:    map[string]*Team{},
	}
	for _, ct := range cfg.Teams {
		if ct.ID == "" {
			return nil, fmt.Errorf("build roster: team with empty id")
		}
		if _, dup := s.teamByID[ct.ID]; dup {
			return nil, fmt.Errorf("build roster: duplicate team %q", ct.ID)
		}
		loc := ct.Location
		if loc == nil {
			var err error
			if loc, err = time.LoadLocation(ct.TimeZone); err != nil {
				return nil, fmt.Errorf("build roster: team %s: %w", ct.ID, err)
			}
		}
		t := &Team{
			ID:       ct.ID,
			Name:     ct.Name,
			Region:   ct.Region,
			Location: loc,
			Prefixes: slices.Clone(ct.Prefixes),
			Agents:   make([]*Agent, 0, len(ct.Agents)),
			WrapUp:   cfg.TeamWrapUp(&ct),
			Language: ct.Language,
		}
		for _, ca := range ct.Agents {
			a := &Agent{ID: ca.ID, Name: ca.Name, Username: ca.Username, Password: ca.Password, TeamID: ct.ID}
			if a.ID == "" || a.Username == "" {
				return nil, fmt.Errorf("build roster: team %s: agent with empty id or username", ct.ID)
			}
			if _, dup := s.agentByID[a.ID]; dup {
				return nil, fmt.Errorf("build roster: duplicate agent %q", a.ID)
			}
			if _, dup := s.agentByUser[a.Username]; dup {
				return nil, fmt.Errorf("build roster: duplicate username %q", a.Username)
			}
			s.agentByID[a.ID] = a
			s.agentByUser[a.Username] = a
			t.Agents = append(t.Agents, a)
		}
		for _, p := range t.Prefixes {
			if len(p) < 2 || p[0] != '+' {
				return nil, fmt.Errorf("build roster: team %s: prefix %q is not E.164", t.ID, p)
			}
			if other, dup := s.prefixes[p]; dup {
				return nil, fmt.Errorf("build roster: prefix %s in teams %s and %s", p, other.ID, t.ID)
			}
			s.prefixes[p] = t
			if !slices.Contains(s.prefixLens, len(p)) {
				s.prefixLens = append(s.prefixLens, len(p))
			}
		}
		s.teams = append(s.teams, t)
		s.teamByID[t.ID] = t
	}
	slices.SortFunc(s.prefixLens, func(a, b int) int { return b - a })

	var ok bool
	if s.defaultTeam, ok = s.teamByID[cfg.DefaultTeam]; !ok {
		return nil, fmt.Errorf("build roster: default team %q does not exist", cfg.DefaultTeam)
	}
	s.defaultReason = "no customer or prefix match: default team " + s.defaultTeam.ID
	s.withheldReason = "caller number withheld: default team " + s.defaultTeam.ID

	for _, cc := range cfg.Customers {
		if !strings.HasPrefix(cc.Number, "+") {
			return nil, fmt.Errorf("build roster: customer number %q is not E.164", cc.Number)
		}
		t, ok := s.teamByID[cc.Team]
		if !ok {
			return nil, fmt.Errorf("build roster: customer %s: team %q does not exist", cc.Number, cc.Team)
		}
		if _, dup := s.customers[cc.Number]; dup {
			return nil, fmt.Errorf("build roster: duplicate customer number %s", cc.Number)
		}
		e := &customerEntry{customer: Customer{
			ID: cc.ID, Number: cc.Number, Name: cc.Name, TeamID: cc.Team, OptedOut: cc.OptedOut,
		}}
		who := cc.Name
		if who == "" {
			who = cc.Number
		}
		e.resolution = Resolution{
			Team:     t,
			Customer: &e.customer,
			Reason:   "customer " + who + " is assigned to team " + t.ID,
		}
		s.customers[cc.Number] = e
	}
	return s, nil
}

// Team returns the team with the given ID.
func (s *Snapshot) Team(id string) (*Team, bool) {
	t, ok := s.teamByID[id]
	return t, ok
}

// Teams returns all teams in configuration order.
func (s *Snapshot) Teams() []*Team {
	return slices.Clone(s.teams)
}

// DefaultTeam returns the team for callers that match no customer and no
// prefix.
func (s *Snapshot) DefaultTeam() *Team {
	return s.defaultTeam
}

// Agent returns the agent with the given ID.
func (s *Snapshot) Agent(id string) (*Agent, bool) {
	a, ok := s.agentByID[id]
	return a, ok
}

// AgentByUsername returns the agent with the given SIP user name.
func (s *Snapshot) AgentByUsername(username string) (*Agent, bool) {
	a, ok := s.agentByUser[username]
	return a, ok
}

// Customer returns the customer with the given E.164 number.
func (s *Snapshot) Customer(e164 string) (*Customer, bool) {
	e, ok := s.customers[e164]
	if !ok {
		return nil, false
	}
	return &e.customer, true
}

// Resolve returns the team that serves the caller with the E.164 number
// e164: the team of the caller's customer record if there is one, else the
// team with the longest prefix matching the number, else the default team.
// An empty number (withheld caller) goes to the default team.
//
// Resolve does not allocate, except for the reason of a prefix match.
func (s *Snapshot) Resolve(e164 string) Resolution {
	if e164 == "" {
		return Resolution{Team: s.defaultTeam, Reason: s.withheldReason}
	}
	if e, ok := s.customers[e164]; ok {
		return e.resolution
	}
	for _, n := range s.prefixLens {
		if n > len(e164) {
			continue
		}
		if t, ok := s.prefixes[e164[:n]]; ok {
			return Resolution{
				Team:   t,
				Reason: "number " + e164 + " matches prefix " + e164[:n] + " of team " + t.ID,
			}
		}
	}
	return Resolution{Team: s.defaultTeam, Reason: s.defaultReason}
}
