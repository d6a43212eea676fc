package roster

import (
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// zoneCache maps an E.164 country-and-area prefix answer (the zone name) to
// its loaded location, so that LoadLocation reads the zone database once.
var zoneCache sync.Map // zone name -> *time.Location

// CallerLocation returns the time zone of the caller with E.164 number
// e164, as far as the number tells (from its country code and area), or nil
// when it is unknown or ambiguous (a number whose prefix spans several
// zones). Routing uses it when opening hours are read in the caller's zone;
// nil means the team's zone counts. It may read the zone database once per
// zone, so call it outside the router.
func CallerLocation(e164 string) *time.Location {
	if len(e164) < 2 || e164[0] != '+' {
		return nil
	}
	zones, err := phonenumbers.GetTimezonesForPrefix(e164)
	if err != nil || len(zones) != 1 || zones[0] == phonenumbers.UNKNOWN_TIMEZONE {
		return nil
	}
	name := zones[0]
	if loc, ok := zoneCache.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zoneCache.Store(name, loc)
	return loc
}
