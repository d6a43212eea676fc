package router

import (
	"math"
	"slices"
	"time"

	"github.com/teamline/teamline/roster"
)

// maxWave is the largest StepLongestIdle step Pick selects without
// allocating.
const maxWave = 32

// Pick materialises step i of the plan when it starts: it appends to dst the
// agents to ring, in order, and returns the extended slice. An agent is
// picked only if registered, available and not in rung (the agents this
// call already rang), so that no agent rings twice in one call and an agent
// who became free while earlier steps rang is picked by the next one. A
// step that finds nobody appends nothing and the trace says it was skipped;
// the call layer then moves on to the next step at once.
//
// StepLongestIdle picks the Size agents idle longest (ties in team order),
// StepAll every eligible member in team order. Pick does not allocate when
// dst has room.
func (p *Plan) Pick(dst []string, i int, view View, rung map[string]bool) []string {
	if i < 0 || i >= p.nSteps {
		return dst
	}
	s := p.steps[i]
	d := Decision{kind: dStepPicked, n: i + 1, rule: int(s.Kind), team: s.Team.ID, k: s.Size, ring: s.RingFor}
	base := len(dst)
	switch s.Kind {
	case StepLastAgent:
		st := view.Status(p.LastAgent)
		d.agent = p.LastAgent
		switch {
		case rung[p.LastAgent]:
			d.note = "already rung"
		case !st.Registered:
			d.note = "not registered"
		case st.State != roster.Available:
			d.note = st.State.String()
		default:
			dst = append(dst, p.LastAgent)
		}
	case StepLongestIdle:
		dst = pickLongestIdle(dst, s, view, rung)
	default:
		for _, a := range s.Team.Agents {
			if eligible(a.ID, view, rung) {
				dst = append(dst, a.ID)
			}
		}
	}
	if n := len(dst) - base; n > 0 {
		d.m, d.agent = n, dst[base]
	} else {
		d.kind = dStepSkipped
		if d.note == "" {
			d.note = "nobody available"
		}
	}
	p.add(d)
	return dst
}

func eligible(id string, view View, rung map[string]bool) bool {
	if rung[id] {
		return false
	}
	st := view.Status(id)
	return st.Registered && st.State == roster.Available
}

// idleKey orders agents by how long they have been idle: a zero IdleSince
// (idle since before the process started) is the longest.
func idleKey(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// pickLongestIdle appends the s.Size eligible members of s.Team with the
// oldest IdleSince, oldest first, keeping team order among equals. It keeps
// a sorted window of at most Size agents (insertion), which for waves of a
// few agents beats sorting the whole team and needs no allocation.
func pickLongestIdle(dst []string, s StepSpec, view View, rung map[string]bool) []string {
	base := len(dst)
	if s.Size > maxWave {
		return pickLongestIdleLarge(dst, s, view, rung)
	}
	var keys [maxWave]int64
	for _, a := range s.Team.Agents {
		if rung[a.ID] {
			continue
		}
		st := view.Status(a.ID)
		if !st.Registered || st.State != roster.Available {
			continue
		}
		key := idleKey(st.IdleSince)
		n := len(dst) - base
		if n < s.Size {
			dst = append(dst, "")
			n++
		} else if key >= keys[n-1] {
			continue
		}
		j := n - 1
		for j > 0 && keys[j-1] > key {
			keys[j] = keys[j-1]
			dst[base+j] = dst[base+j-1]
			j--
		}
		keys[j], dst[base+j] = key, a.ID
	}
	return dst
}

// pickLongestIdleLarge is pickLongestIdle for waves over maxWave agents.
func pickLongestIdleLarge(dst []string, s StepSpec, view View, rung map[string]bool) []string {
	type cand struct {
		id  string
		key int64
	}
	var cs []cand
	for _, a := range s.Team.Agents {
		if rung[a.ID] {
			continue
		}
		st := view.Status(a.ID)
		if st.Registered && st.State == roster.Available {
			cs = append(cs, cand{a.ID, idleKey(st.IdleSince)})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	for i := 0; i < len(cs) && i < s.Size; i++ {
		dst = append(dst, cs[i].id)
	}
	return dst
}
