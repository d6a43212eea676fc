package callback

import (
	"slices"
	"time"
)

// DefaultSlotLength is the length of a callback slot when TeamSlots.SlotLength
// is zero.
const DefaultSlotLength = 15 * time.Minute

// TimeRange is a half-open interval of time [Start, End).
type TimeRange struct {
	Start time.Time
	End   time.Time
}

// Contains reports whether t lies in [r.Start, r.End).
func (r TimeRange) Contains(t time.Time) bool {
	return !t.Before(r.Start) && t.Before(r.End)
}

// Hours tells when a team is open. The roster implements it from the team's
// opening hours, time zone and holidays.
type Hours interface {
	// OpenRanges returns the ranges in which team teamID is open on the
	// calendar day of day (midnight in the team's location), in order. A
	// closed day has none.
	OpenRanges(teamID string, day time.Time) []TimeRange
}

// HoursFunc adapts a function to Hours.
type HoursFunc func(teamID string, day time.Time) []TimeRange

// OpenRanges calls f.
func (f HoursFunc) OpenRanges(teamID string, day time.Time) []TimeRange {
	return f(teamID, day)
}

// TeamSlots is a team's callback configuration.
type TeamSlots struct {
	// TeamID names the team.
	TeamID string
	// Location is the team's time zone; nil means UTC. Days (for Hours) are
	// counted in it.
	Location *time.Location
	// SlotLength is the length of one slot; zero means DefaultSlotLength.
	// Slots start at the beginning of each open range and follow each other
	// without gaps; a slot that would end after the range closes is dropped.
	SlotLength time.Duration
	// Capacity is how many callbacks one slot holds (calls per agent per slot
	// times agents expected on shift). Zero or less: the team takes no
	// callbacks.
	Capacity int
	// LeadTime is how far ahead of now a slot must start to be booked.
	LeadTime time.Duration
}

// withDefaults fills in the zero fields.
func (t TeamSlots) withDefaults() TeamSlots {
	if t.Location == nil {
		t.Location = time.UTC
	}
	if t.SlotLength <= 0 {
		t.SlotLength = DefaultSlotLength
	}
	return t
}

// Slot is one callback slot of a team and how full it is.
type Slot struct {
	// Start and End bound the slot.
	Start time.Time
	End   time.Time
	// Capacity is the team's configured capacity per slot.
	Capacity int
	// Booked is the number of places taken (callbacks not cancelled).
	Booked int
}

// Free is the number of places left, never negative (the capacity may have
// been lowered after bookings).
func (s Slot) Free() int {
	return max(0, s.Capacity-s.Booked)
}

// daySlots returns the slots of team t on the calendar day of day, in its
// location, ordered by start.
func daySlots(h Hours, t TeamSlots, day time.Time) []TimeRange {
	d := day.In(t.Location)
	midnight := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, t.Location)
	var out []TimeRange
	for _, r := range h.OpenRanges(t.TeamID, midnight) {
		for s := r.Start; !s.Add(t.SlotLength).After(r.End); s = s.Add(t.SlotLength) {
			out = append(out, TimeRange{Start: s, End: s.Add(t.SlotLength)})
		}
	}
	slices.SortFunc(out, func(a, b TimeRange) int { return a.Start.Compare(b.Start) })
	// Overlapping ranges from Hours would repeat a start: keep the first.
	return slices.CompactFunc(out, func(a, b TimeRange) bool { return a.Start.Equal(b.Start) })
}

// slotsBetween returns the slots of team t that start in [from, to), ordered
// by start.
func slotsBetween(h Hours, t TeamSlots, from, to time.Time) []TimeRange {
	var out []TimeRange
	forEachDay(t, from, to, func(day time.Time) bool {
		for _, s := range daySlots(h, t, day) {
			if !s.Start.Before(from) && s.Start.Before(to) {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}

// forEachDay calls f with noon of every calendar day, in t's location, that
// [from, to) touches, in order, until f returns false. Noon rather than
// midnight: adding 24 hours to noon never skips or repeats a day across a
// daylight saving change.
func forEachDay(t TeamSlots, from, to time.Time, f func(day time.Time) bool) {
	if !from.Before(to) {
		return
	}
	f0 := from.In(t.Location)
	day := time.Date(f0.Year(), f0.Month(), f0.Day(), 12, 0, 0, 0, t.Location)
	last := to.Add(-time.Nanosecond).In(t.Location)
	end := time.Date(last.Year(), last.Month(), last.Day(), 12, 0, 0, 0, t.Location)
	for !day.After(end) {
		if !f(day) {
			return
		}
		y, m, d := day.Date()
		day = time.Date(y, m, d+1, 12, 0, 0, 0, t.Location)
	}
}

// slotAt returns the slot of team t that starts exactly at start.
func slotAt(h Hours, t TeamSlots, start time.Time) (TimeRange, bool) {
	for _, s := range daySlots(h, t, start) {
		if s.Start.Equal(start) {
			return s, true
		}
	}
	return TimeRange{}, false
}

// nextOpen returns the earliest time at or after at, within horizon, when team
// t is open, or at itself when nothing is open until then.
func nextOpen(h Hours, t TeamSlots, at time.Time, horizon time.Duration) time.Time {
	found := at
	forEachDay(t, at, at.Add(horizon), func(day time.Time) bool {
		d := day.In(t.Location)
		midnight := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, t.Location)
		ranges := h.OpenRanges(t.TeamID, midnight)
		best := time.Time{}
		for _, r := range ranges {
			switch {
			case r.Contains(at):
				best = at
			case r.Start.After(at) && (best.IsZero() || r.Start.Before(best)):
				best = r.Start
			}
		}
		if !best.IsZero() {
			found = best
			return false
		}
		return true
	})
	return found
}
