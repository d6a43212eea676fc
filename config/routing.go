package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Routing defaults, used for every field the file omits.
const (
	// DefaultAffinityDays is how many days after a call its agent still rings
	// first when the customer calls again.
	DefaultAffinityDays = 30
	// DefaultAffinityRing is how long the customer's last agent rings alone.
	DefaultAffinityRing = 10 * time.Second
	// DefaultWaveSize is how many longest-idle agents ring in the second step.
	DefaultWaveSize = 3
	// DefaultWaveRing is how long the longest-idle wave rings.
	DefaultWaveRing = 20 * time.Second
	// DefaultAllRing is how long the whole available team rings.
	DefaultAllRing = 20 * time.Second
	// DefaultNoAnswerLimit is how many calls in a row an agent may let ring
	// out before going away with reason "no answer".
	DefaultNoAnswerLimit = 3
	// DefaultWrapUp is how long an agent stays unavailable after a call
	// unless the team says otherwise: no wrap-up.
	DefaultWrapUp = 0 * time.Second
	// DefaultStormWaitingEnter is how many waiting callers put a team in
	// storm mode.
	DefaultStormWaitingEnter = 5
	// DefaultStormExitMargin is how many agents must be free beyond the
	// callers ringing before a team leaves storm mode.
	DefaultStormExitMargin = 1
	// DefaultStormMinDuration is the shortest storm: a team stays in storm
	// mode at least this long, so that it does not flap.
	DefaultStormMinDuration = 30 * time.Second
)

// Where team hours are read, for Routing.HoursTimeZone.
const (
	// HoursTeamZone reads opening hours in the team's time zone.
	HoursTeamZone = "team"
	// HoursCallerZone reads opening hours in the caller's time zone (from the
	// number's country), falling back to the team's when it is unknown.
	HoursCallerZone = "caller"
)

// What happens to a call after its team's last step, for Routing.Fallback.
const (
	// FallbackCallback books a callback (a clean 480 until booking exists).
	FallbackCallback = "callback"
	// FallbackNationalPool hands the call over to the national pool.
	FallbackNationalPool = "national_pool"
	// FallbackReject ends the call with 480 Temporarily Unavailable.
	FallbackReject = "reject"
)

// What a team in storm mode does with new calls, for Storm.Overflow.
const (
	// OverflowNeighbours sends new calls to the neighbour teams, then to the
	// national pool, each up to its cap.
	OverflowNeighbours = "neighbours"
	// OverflowFallback sends new calls straight to the team's fallback.
	OverflowFallback = "fallback"
)

// Routing holds the routing defaults every team inherits, and the national
// pool.
type Routing struct {
	// AffinityDays is how many days after a call the agent who took it rings
	// first, alone, when the customer calls again; 0 turns affinity off.
	AffinityDays int `yaml:"affinity_days"`
	// AffinityRing is how long the customer's last agent rings alone.
	AffinityRing time.Duration `yaml:"affinity_ring"`
	// WaveSize is how many longest-idle available agents ring together after
	// the last agent; 0 skips that step.
	WaveSize int `yaml:"wave_size"`
	// WaveRing is how long the longest-idle wave rings.
	WaveRing time.Duration `yaml:"wave_ring"`
	// AllRing is how long every available member of the team rings in the
	// last step.
	AllRing time.Duration `yaml:"all_ring"`
	// Fallback is what happens after a team's last step: "callback",
	// "national_pool" or "reject".
	Fallback string `yaml:"fallback"`
	// NoAnswerLimit is how many calls in a row an agent may let ring out
	// before they are set away with reason "no answer"; 0 means never.
	NoAnswerLimit int `yaml:"no_answer_limit"`
	// WrapUp is how long an agent stays unavailable after each call, for
	// teams that set no wrap_up of their own.
	WrapUp time.Duration `yaml:"wrap_up"`
	// HoursTimeZone says whose clock opening hours are read on: "team" (the
	// team's time zone) or "caller" (the caller's, from their number).
	HoursTimeZone string `yaml:"hours_time_zone"`
	// NationalPool is the ID of the team that takes withheld numbers,
	// opted-out customers, calls outside a team's hours and storm overflow;
	// empty means the default team.
	NationalPool string `yaml:"national_pool"`
	// NationalPoolCap is the most storm-overflow calls the national pool
	// takes at once; 0 means no cap.
	NationalPoolCap int `yaml:"national_pool_cap"`
}

// DefaultRouting returns the routing defaults.
func DefaultRouting() Routing {
	return Routing{
		AffinityDays:  DefaultAffinityDays,
		AffinityRing:  DefaultAffinityRing,
		WaveSize:      DefaultWaveSize,
		WaveRing:      DefaultWaveRing,
		AllRing:       DefaultAllRing,
		Fallback:      FallbackCallback,
		NoAnswerLimit: DefaultNoAnswerLimit,
		WrapUp:        DefaultWrapUp,
		HoursTimeZone: HoursTeamZone,
	}
}

// PoolID returns the ID of the national pool team: NationalPool, or
// defaultTeam when it is empty.
func (r Routing) PoolID(defaultTeam string) string {
	if r.NationalPool != "" {
		return r.NationalPool
	}
	return defaultTeam
}

// TeamRouting overrides the global routing defaults for one team; a zero
// field inherits the global value.
type TeamRouting struct {
	// AffinityRing is how long the customer's last agent rings alone.
	AffinityRing time.Duration `yaml:"affinity_ring"`
	// WaveSize is how many longest-idle available agents ring together.
	WaveSize int `yaml:"wave_size"`
	// WaveRing is how long the longest-idle wave rings.
	WaveRing time.Duration `yaml:"wave_ring"`
	// AllRing is how long every available member rings.
	AllRing time.Duration `yaml:"all_ring"`
	// Fallback is what happens after the team's last step: "callback",
	// "national_pool" or "reject".
	Fallback string `yaml:"fallback"`
}

// Neighbour is a team that takes overflow calls from a team in storm mode.
type Neighbour struct {
	// Team is the neighbour team's ID.
	Team string `yaml:"team"`
	// Cap is the most overflow calls the neighbour takes at once (at least 1).
	Cap int `yaml:"cap"`
}

// Storm configures when a team counts as swamped. A team enters storm mode
// when more callers are ringing than it has agents free to answer them, or
// when WaitingEnter callers wait; it leaves when ExitMargin agents are free
// beyond the callers ringing, at most WaitingExit callers wait, and the storm
// has lasted MinDuration.
type Storm struct {
	// Enabled turns storm mode on for the team.
	Enabled bool `yaml:"enabled"`
	// WaitingEnter is how many waiting callers start a storm; 0 means the
	// default (5).
	WaitingEnter int `yaml:"waiting_enter"`
	// WaitingExit is the most waiting callers with which a storm may end;
	// less than WaitingEnter.
	WaitingExit int `yaml:"waiting_exit"`
	// ExitMargin is how many agents must be free beyond the callers ringing
	// for a storm to end; 0 means the default (1).
	ExitMargin int `yaml:"exit_margin"`
	// MinDuration is the shortest storm; 0 means the default (30s).
	MinDuration time.Duration `yaml:"min_duration"`
	// Overflow is what happens to new calls during a storm: "neighbours"
	// (neighbour teams, then the national pool, each up to its cap) or
	// "fallback" (straight to the team's fallback).
	Overflow string `yaml:"overflow"`
}

// Hours are a team's weekly opening hours: for each day, a list of ranges
// "HH:MM-HH:MM" (end exclusive, "24:00" allowed as end, no range crosses
// midnight). A team with Always set, or without any range at all, is open
// around the clock.
type Hours struct {
	// Always marks a team that is open around the clock.
	Always bool `yaml:"always"`
	// Mon lists Monday's opening ranges ("08:00-12:00").
	Mon []string `yaml:"mon"`
	// Tue lists Tuesday's opening ranges.
	Tue []string `yaml:"tue"`
	// Wed lists Wednesday's opening ranges.
	Wed []string `yaml:"wed"`
	// Thu lists Thursday's opening ranges.
	Thu []string `yaml:"thu"`
	// Fri lists Friday's opening ranges.
	Fri []string `yaml:"fri"`
	// Sat lists Saturday's opening ranges.
	Sat []string `yaml:"sat"`
	// Sun lists Sunday's opening ranges.
	Sun []string `yaml:"sun"`
	// Week holds the parsed ranges, indexed by time.Weekday; filled by Load.
	Week [7][]TimeRange `yaml:"-"`
}

// OpenAlways reports whether the hours never close: Always is set, or no day
// is listed at all (a team without hours). Listing days, even all of them
// empty, means closed except in the ranges given.
func (h *Hours) OpenAlways() bool {
	if h.Always {
		return true
	}
	for _, d := range h.days() {
		if *d != nil {
			return false
		}
	}
	return true
}

// clone returns a copy of h that shares no list with it.
func (h Hours) clone() Hours {
	for _, d := range h.days() {
		*d = slices.Clone(*d)
	}
	for i := range h.Week {
		h.Week[i] = slices.Clone(h.Week[i])
	}
	return h
}

// days returns pointers to the day fields, indexed by time.Weekday.
func (h *Hours) days() [7]*[]string {
	return [7]*[]string{&h.Sun, &h.Mon, &h.Tue, &h.Wed, &h.Thu, &h.Fri, &h.Sat}
}

// dayKeys are the YAML names of the days, indexed by time.Weekday.
var dayKeys = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// TimeRange is an opening range within one day, in seconds after local
// midnight, From inclusive, To exclusive.
type TimeRange struct {
	// From is the first second of the range (0 = 00:00:00).
	From int
	// To is the first second after the range (86400 = 24:00).
	To int
}

// Contains reports whether the second of the day sec falls in the range.
func (r TimeRange) Contains(sec int) bool { return sec >= r.From && sec < r.To }

// String formats the range as "HH:MM-HH:MM".
func (r TimeRange) String() string {
	return clock(r.From) + "-" + clock(r.To)
}

func clock(sec int) string {
	h, m := sec/3600, sec%3600/60
	return string([]byte{byte('0' + h/10), byte('0' + h%10), ':', byte('0' + m/10), byte('0' + m%10)})
}

// Exception is one dated day with other hours than the week's: a holiday
// (Closed) or special hours.
type Exception struct {
	// Date is the day, "YYYY-MM-DD", in the zone hours are read in.
	Date string `yaml:"date"`
	// Closed marks a day the team is closed all day.
	Closed bool `yaml:"closed"`
	// Hours are the day's opening ranges ("09:00-13:00"), instead of the
	// week's; exclusive with Closed.
	Hours []string `yaml:"hours"`
	// Note says why, for people ("Christmas Day").
	Note string `yaml:"note"`
	// Year, Month and Day are Date parsed by Load.
	Year int `yaml:"-"`
	// Month is the month of Date.
	Month time.Month `yaml:"-"`
	// Day is the day of the month of Date.
	Day int `yaml:"-"`
	// Ranges are Hours parsed by Load; empty when Closed.
	Ranges []TimeRange `yaml:"-"`
}

func cloneExceptions(es []Exception) []Exception {
	if es == nil {
		return nil
	}
	out := make([]Exception, len(es))
	for i, e := range es {
		e.Hours = slices.Clone(e.Hours)
		e.Ranges = slices.Clone(e.Ranges)
		out[i] = e
	}
	return out
}

// parseRange reads "HH:MM-HH:MM".
func parseRange(s string) (TimeRange, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return TimeRange{}, fmt.Errorf("must be a range HH:MM-HH:MM")
	}
	f, err := parseClock(from)
	if err != nil {
		return TimeRange{}, err
	}
	t, err := parseClock(to)
	if err != nil {
		return TimeRange{}, err
	}
	if f >= t {
		return TimeRange{}, fmt.Errorf("must end after it starts (ranges may not cross midnight; use 24:00)")
	}
	return TimeRange{From: f, To: t}, nil
}

// parseClock reads "HH:MM" (00:00 to 24:00) as seconds after midnight.
func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	hs, ms, ok := strings.Cut(s, ":")
	if !ok || len(hs) != 2 || len(ms) != 2 || !isDigits(hs) || !isDigits(ms) {
		return 0, fmt.Errorf("%q is not a time HH:MM", s)
	}
	h, _ := strconv.Atoi(hs)
	m, _ := strconv.Atoi(ms)
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time from 00:00 to 24:00", s)
	}
	return h*3600 + m*60, nil
}

// ranges parses a list of ranges at field, reporting bad or overlapping
// ones, and returns them sorted.
func (v *validator) ranges(field string, list []string) []TimeRange {
	out := make([]TimeRange, 0, len(list))
	for i, s := range list {
		f := field + "[" + strconv.Itoa(i) + "]"
		r, err := parseRange(s)
		if err != nil {
			v.add(f, "%v", err)
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b TimeRange) int { return a.From - b.From })
	for i := 1; i < len(out); i++ {
		if out[i].From < out[i-1].To {
			v.add(field, "ranges %s and %s overlap", out[i-1], out[i])
			break
		}
	}
	return out
}

func validFallback(s string) bool {
	return s == FallbackCallback || s == FallbackNationalPool || s == FallbackReject
}

// routing checks the global routing block.
func (v *validator) routing(r *Routing) {
	if r.AffinityDays < 0 {
		v.add("routing.affinity_days", "must not be negative")
	}
	v.positive("routing.affinity_ring", r.AffinityRing)
	if r.WaveSize < 0 {
		v.add("routing.wave_size", "must not be negative")
	}
	v.positive("routing.wave_ring", r.WaveRing)
	v.positive("routing.all_ring", r.AllRing)
	if !validFallback(r.Fallback) {
		v.add("routing.fallback", "must be callback, national_pool or reject")
	}
	if r.NoAnswerLimit < 0 {
		v.add("routing.no_answer_limit", "must not be negative")
	}
	if r.WrapUp < 0 {
		v.add("routing.wrap_up", "must not be negative")
	}
	if r.HoursTimeZone != HoursTeamZone && r.HoursTimeZone != HoursCallerZone {
		v.add("routing.hours_time_zone", "must be team or caller")
	}
	if r.NationalPoolCap < 0 {
		v.add("routing.national_pool_cap", "must not be negative")
	}
}

// teamRouting checks one team's hours, exceptions and routing overrides.
func (v *validator) teamRouting(p string, t *Team) {
	for i, d := range t.Hours.days() {
		t.Hours.Week[i] = v.ranges(p+".hours."+dayKeys[i], *d)
	}
	dates := map[string]string{}
	for i := range t.Exceptions {
		e := &t.Exceptions[i]
		ep := fmt.Sprintf("%s.exceptions[%d]", p, i)
		day, err := time.Parse(time.DateOnly, e.Date)
		if err != nil {
			v.add(ep+".date", "must be a date YYYY-MM-DD")
		} else {
			e.Year, e.Month, e.Day = day.Date()
			if first, dup := dates[e.Date]; dup {
				v.add(ep+".date", "date %s is already listed at %s", e.Date, first)
			}
			dates[e.Date] = ep
		}
		switch {
		case e.Closed && len(e.Hours) > 0:
			v.add(ep+".hours", "must be empty when closed is true")
		case !e.Closed && len(e.Hours) == 0:
			v.add(ep, "must set closed: true or list hours")
		case !e.Closed:
			e.Ranges = v.ranges(ep+".hours", e.Hours)
		}
	}
	if t.WrapUp < 0 {
		v.add(p+".wrap_up", "must not be negative")
	}
	v.teamCallbacks(p, t.Callbacks)
	r := &t.Routing
	for _, d := range []struct {
		f string
		d time.Duration
	}{{"affinity_ring", r.AffinityRing}, {"wave_ring", r.WaveRing}, {"all_ring", r.AllRing}} {
		if d.d < 0 {
			v.add(p+".routing."+d.f, "must not be negative")
		}
	}
	if r.WaveSize < 0 {
		v.add(p+".routing.wave_size", "must not be negative")
	}
	if r.Fallback != "" && !validFallback(r.Fallback) {
		v.add(p+".routing.fallback", "must be callback, national_pool or reject")
	}
	s := &t.Storm
	if s.WaitingEnter == 0 {
		s.WaitingEnter = DefaultStormWaitingEnter
	}
	if s.ExitMargin == 0 {
		s.ExitMargin = DefaultStormExitMargin
	}
	if s.MinDuration == 0 {
		s.MinDuration = DefaultStormMinDuration
	}
	if s.Overflow == "" {
		s.Overflow = OverflowNeighbours
	}
	switch {
	case s.WaitingEnter < 0:
		v.add(p+".storm.waiting_enter", "must not be negative")
	case s.WaitingExit < 0:
		v.add(p+".storm.waiting_exit", "must not be negative")
	case s.WaitingExit >= s.WaitingEnter:
		v.add(p+".storm.waiting_exit", "must be less than waiting_enter (%d)", s.WaitingEnter)
	}
	if s.ExitMargin < 0 {
		v.add(p+".storm.exit_margin", "must not be negative")
	}
	if s.MinDuration < 0 {
		v.add(p+".storm.min_duration", "must not be negative")
	}
	if s.Overflow != OverflowNeighbours && s.Overflow != OverflowFallback {
		v.add(p+".storm.overflow", "must be neighbours or fallback")
	}
}

// references checks what refers to other teams: neighbours, the national
// pool and fallbacks that hand over to it.
func (v *validator) references(c *Config, teams map[string]bool) {
	pool := c.Routing.PoolID(c.DefaultTeam)
	if c.Routing.NationalPool != "" && !teams[c.Routing.NationalPool] {
		v.add("routing.national_pool", "must name a team; no team has id %q", c.Routing.NationalPool)
	}
	for i := range c.Teams {
		t := &c.Teams[i]
		p := fmt.Sprintf("teams[%d]", i)
		seen := map[string]bool{}
		for j, n := range t.Neighbours {
			np := fmt.Sprintf("%s.neighbours[%d]", p, j)
			switch {
			case n.Team == "":
				v.add(np+".team", "must not be empty")
			case n.Team == t.ID:
				v.add(np+".team", "a team cannot be its own neighbour")
			case !teams[n.Team]:
				v.add(np+".team", "must name a team; no team has id %q", n.Team)
			case seen[n.Team]:
				v.add(np+".team", "neighbour %q listed twice", n.Team)
			}
			seen[n.Team] = true
			if n.Cap < 1 {
				v.add(np+".cap", "must be at least 1")
			}
		}
		if t.ID == pool && c.TeamFallback(t) == FallbackNationalPool {
			field := p + ".routing.fallback"
			if t.Routing.Fallback == "" {
				field = "routing.fallback"
			}
			v.add(field, "the national pool %s cannot fall back to itself; use callback or reject", pool)
		}
	}
}

// TeamFallback returns the effective fallback of team t: its own, or the
// global one.
func (c *Config) TeamFallback(t *Team) string {
	if t.Routing.Fallback != "" {
		return t.Routing.Fallback
	}
	return c.Routing.Fallback
}

// TeamWrapUp returns the effective wrap-up time of team t: its own, or the
// global one.
func (c *Config) TeamWrapUp(t *Team) time.Duration {
	if t.WrapUp > 0 {
		return t.WrapUp
	}
	return c.Routing.WrapUp
}
