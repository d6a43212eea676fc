package router

import (
	"time"

	"github.com/teamline/teamline/config"
)

// hours are a team's opening hours, compiled for lookups that do not
// allocate.
type hours struct {
	always     bool
	week       [7][]config.TimeRange
	exceptions map[int]exception // key: dateKey
}

// exception is one dated day with other hours.
type exception struct {
	closed bool
	ranges []config.TimeRange
	note   string
}

func dateKey(y int, m time.Month, d int) int { return y*10000 + int(m)*100 + d }

func compileHours(h *config.Hours, es []config.Exception) hours {
	c := hours{always: h.OpenAlways(), week: h.Week}
	if len(es) > 0 {
		c.exceptions = make(map[int]exception, len(es))
		for _, e := range es {
			c.exceptions[dateKey(e.Year, e.Month, e.Day)] = exception{closed: e.Closed, ranges: e.Ranges, note: e.Note}
		}
	}
	return c
}

// hoursVerdict says whether a team is open at an instant, and why.
type hoursVerdict struct {
	open bool
	// rule is which rule decided: ruleAlways, ruleWeek, ruleHoliday,
	// ruleSpecial.
	rule int
	// rng is the range the instant fell in (open) or zero.
	rng  config.TimeRange
	note string
}

const (
	ruleAlways = iota
	ruleWeek
	ruleHoliday
	ruleSpecial
)

// at evaluates the hours at t, which must already be in the zone the hours
// are read in. Wall-clock fields come from t's location, so DST transitions
// are the location's business: on the day clocks go forward, 02:30 does not
// exist and is never asked for; on the day they go back, 02:30 comes twice
// and is open or closed both times alike.
func (h *hours) at(t time.Time) hoursVerdict {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	sec := hh*3600 + mm*60 + ss
	if e, ok := h.exceptions[dateKey(y, m, d)]; ok {
		if e.closed {
			return hoursVerdict{rule: ruleHoliday, note: e.note}
		}
		return inRanges(e.ranges, sec, ruleSpecial, e.note)
	}
	if h.always {
		return hoursVerdict{open: true, rule: ruleAlways}
	}
	return inRanges(h.week[t.Weekday()], sec, ruleWeek, "")
}

func inRanges(rs []config.TimeRange, sec, rule int, note string) hoursVerdict {
	for _, r := range rs {
		if r.Contains(sec) {
			return hoursVerdict{open: true, rule: rule, rng: r, note: note}
		}
	}
	return hoursVerdict{rule: rule, note: note}
}

// Interval is an absolute span of time, [Start, End).
type Interval struct {
	Start, End time.Time
}

// OpenRanges returns the spans in which a team is open on the calendar day
// that contains day, read in the team's time zone (holidays and special days
// applied), in order. A team open around the clock gets the whole day. Used
// to lay out callback slots; the router itself asks Open.
func (r *Router) OpenRanges(teamID string, day time.Time) []Interval {
	tp, ok := r.teams[teamID]
	if !ok {
		return nil
	}
	loc := tp.team.Location
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := day.In(loc).Date()
	at := func(sec int) time.Time {
		return time.Date(y, m, d, sec/3600, sec%3600/60, sec%60, 0, loc)
	}
	var ranges []config.TimeRange
	if e, ok := tp.hours.exceptions[dateKey(y, m, d)]; ok {
		if e.closed {
			return nil
		}
		ranges = e.ranges
	} else if tp.hours.always {
		ranges = []config.TimeRange{{From: 0, To: 86400}}
	} else {
		ranges = tp.hours.week[time.Date(y, m, d, 12, 0, 0, 0, loc).Weekday()]
	}
	out := make([]Interval, 0, len(ranges))
	for _, rg := range ranges {
		out = append(out, Interval{Start: at(rg.From), End: at(rg.To)})
	}
	return out
}
