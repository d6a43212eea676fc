package router

import (
	"strconv"
	"strings"
	"time"

	"github.com/teamline/teamline/config"
)

// decisionKind says which rule a Decision records.
type decisionKind uint8

const (
	dResolved decisionKind = iota
	dWithheld
	dOptedOut
	dOpen
	dClosed
	dPoolClosed
	dStorm
	dStormChange
	dNeighbour
	dNeighbourSkipped
	dOverflowPool
	dOverflowPoolSkipped
	dStormFallback
	dAffinity
	dAffinityOld
	dAffinityElsewhere
	dAffinityUnknown
	dSteps
	dHandover
	dFallback
	dStepSkipped
	dStepPicked
	dNoAnswer
)

// Decision is one line of a plan's decision trace. It keeps its facts and
// renders the line only when asked (String), so that planning a call does
// not build strings nobody reads.
type Decision struct {
	kind   decisionKind
	team   string
	other  string
	agent  string
	text   string
	note   string
	n, m   int
	k      int
	age    time.Duration
	ring   time.Duration
	at     time.Time
	rng    config.TimeRange
	rule   int
	caller bool
}

// String renders the decision as one human-readable line.
func (d Decision) String() string {
	var b strings.Builder
	switch d.kind {
	case dResolved:
		b.WriteString(d.text)
	case dWithheld:
		b.WriteString("caller number withheld: national pool " + d.team)
	case dOptedOut:
		b.WriteString("customer " + d.text + " opted out of the team model: national pool " + d.team)
	case dOpen, dClosed, dPoolClosed:
		b.WriteString("team " + d.team)
		if d.kind == dOpen {
			b.WriteString(" open at ")
		} else {
			b.WriteString(" closed at ")
		}
		d.writeWhen(&b)
		switch {
		case d.rule == ruleAlways:
			b.WriteString(" (open around the clock)")
		case d.rule == ruleHoliday:
			b.WriteString(" (closed all day")
			d.writeNote(&b)
			b.WriteString(")")
		case d.kind == dOpen:
			b.WriteString(" (" + d.rng.String())
			if d.rule == ruleSpecial {
				b.WriteString(", special hours")
			}
			d.writeNote(&b)
			b.WriteString(")")
		case d.rule == ruleSpecial:
			b.WriteString(" (outside special hours")
			d.writeNote(&b)
			b.WriteString(")")
		default:
			b.WriteString(" (outside opening hours)")
		}
		switch d.kind {
		case dClosed:
			b.WriteString(": national pool " + d.other)
		case dPoolClosed:
			b.WriteString(": national pool closed too, fallback " + d.text)
		}
	case dStorm:
		b.WriteString("team " + d.team + " is in storm mode since " + d.at.UTC().Format(time.TimeOnly) + " UTC")
	case dStormChange:
		b.WriteString("team " + d.team + ": " + d.text + " (" + stormFigures(d.n, d.m, d.k) + ")")
	case dNeighbour:
		b.WriteString("storm: overflow to neighbour " + d.other + " (" + strconv.Itoa(d.n+1) + " of " +
			strconv.Itoa(d.m) + " overflow calls)")
	case dNeighbourSkipped:
		b.WriteString("storm: neighbour " + d.other + " skipped: " + d.text)
	case dOverflowPool:
		b.WriteString("storm: overflow to national pool " + d.other)
		if d.m > 0 {
			b.WriteString(" (" + strconv.Itoa(d.n+1) + " of " + strconv.Itoa(d.m) + " overflow calls)")
		}
	case dOverflowPoolSkipped:
		b.WriteString("storm: national pool " + d.other + " skipped: " + d.text)
	case dStormFallback:
		b.WriteString("storm: team " + d.team + " sends new calls straight to fallback " + d.text)
	case dAffinity:
		b.WriteString("customer's last agent " + d.agent + " (" + ago(d.age) + ") rings first, alone, for " + d.ring.String())
	case dAffinityOld:
		b.WriteString("last agent " + d.agent + " talked to the customer " + ago(d.age) + ", over the " +
			strconv.Itoa(d.n) + "-day limit: ignored")
	case dAffinityElsewhere:
		b.WriteString("last agent " + d.agent + " is not in team " + d.team + ": ignored")
	case dAffinityUnknown:
		b.WriteString("last agent " + d.agent + " is not in the roster: ignored")
	case dSteps:
		b.WriteString("team " + d.team + ": " + strconv.Itoa(d.n) + " steps")
	case dHandover:
		b.WriteString("then national pool " + d.other + ": " + strconv.Itoa(d.n) + " steps")
	case dFallback:
		b.WriteString("after the last step: " + d.text)
	case dStepSkipped:
		b.WriteString("step " + strconv.Itoa(d.n) + " (" + d.stepLabel() + "): skipped, ")
		if StepKind(d.rule) == StepLastAgent {
			b.WriteString("last agent " + d.agent + " is " + d.note)
		} else {
			b.WriteString(d.note)
		}
	case dStepPicked:
		b.WriteString("step " + strconv.Itoa(d.n) + " (" + d.stepLabel() + "): rings " + strconv.Itoa(d.m))
		if d.m == 1 {
			b.WriteString(" agent: " + d.agent)
		} else {
			b.WriteString(" agents, first " + d.agent)
		}
	case dNoAnswer:
		b.WriteString("agent " + d.agent + " let " + strconv.Itoa(d.n) + " calls in a row ring out: away (" +
			d.text + ")")
	}
	return b.String()
}

func (d Decision) stepLabel() string {
	return stepLabel(StepKind(d.rule), d.team, d.k, d.ring)
}

func (d Decision) writeWhen(b *strings.Builder) {
	b.WriteString(d.at.Format("Mon 2006-01-02 15:04:05 "))
	b.WriteString(d.at.Location().String())
	if d.caller {
		b.WriteString(" (caller's time zone)")
	}
}

func (d Decision) writeNote(b *strings.Builder) {
	if d.note != "" {
		b.WriteString(": " + d.note)
	}
}

// ago renders an age in days or hours ("3 days ago").
func ago(d time.Duration) string {
	switch days := int(d / (24 * time.Hour)); {
	case days >= 2:
		return strconv.Itoa(days) + " days ago"
	case d >= 2*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " hours ago"
	case d >= time.Hour:
		return "1 hour ago"
	default:
		return strconv.Itoa(int(d/time.Minute)) + " minutes ago"
	}
}

// maxTrace is how many decisions a plan keeps; later ones are counted in
// Plan.Dropped. A plan makes about 6 decisions and each step adds one.
const maxTrace = 20
