// Package phone normalises telephone numbers, as they arrive in SIP caller IDs
// and in configuration files, to E.164 ("+4930123456").
//
// Normalisation uses github.com/nyaruka/phonenumbers. A number is accepted when
// its length is possible for its country (phonenumbers.IsPossibleNumberWithReason
// reports IS_POSSIBLE), not only when it is "valid" per the library's numbering
// plan metadata: test and demo numbers such as +4930123456, and numbers from
// ranges allocated after the metadata was built, must still normalise. Numbers
// that are only dialable locally (no area code) are rejected, because routing
// cannot tell where they belong.
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrWithheld is returned by Normalize when the caller withheld the number
// (empty, "anonymous", "unknown", "restricted", "private", "unavailable").
var ErrWithheld = errors.New("number withheld")

// ErrInvalid is returned, wrapped, by Normalize when the input cannot be read as
// a possible telephone number.
var ErrInvalid = errors.New("invalid number")

// maxE164Digits is the longest number E.164 allows, country code included.
const maxE164Digits = 15

// withheld lists user parts that carriers and phones use instead of a number
// when the caller restricts presentation (compared case-insensitively).
var withheld = [...]string{"anonymous", "unknown", "restricted", "private", "unavailable", "withheld"}

// Normalize returns raw as an E.164 number ("+4930123456").
//
// raw may be written in international form ("+49 30 123456", "004930123456"),
// in national form ("030 123456", read in defaultRegion, an ISO 3166-1 alpha-2
// code such as "DE"), as a tel: URI ("tel:+49-30-123456") or as the user part of
// a SIP URI, with or without the "sip:" scheme, host and parameters. Visual
// separators (spaces, dashes, dots, parentheses) are ignored. Extensions are
// dropped.
//
// It returns ErrWithheld for an anonymous caller and an error wrapping
// ErrInvalid when raw is not a possible number.
func Normalize(raw string, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	s = trimURI(s)
	if s == "" || isWithheld(s) {
		return "", ErrWithheld
	}
	var n phonenumbers.PhoneNumber
	if err := phonenumbers.ParseToNumber(s, defaultRegion, &n); err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalid, raw, err)
	}
	switch r := phonenumbers.IsPossibleNumberWithReason(&n); r {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", fmt.Errorf("%w: %q: local number without area code", ErrInvalid, raw)
	case phonenumbers.TOO_SHORT:
		return "", fmt.Errorf("%w: %q: too short", ErrInvalid, raw)
	case phonenumbers.TOO_LONG:
		return "", fmt.Errorf("%w: %q: too long", ErrInvalid, raw)
	default:
		return "", fmt.Errorf("%w: %q: not a possible number", ErrInvalid, raw)
	}
	e164 := phonenumbers.Format(&n, phonenumbers.E164)
	// E.164 section 6: at most 15 digits after the "+"; some national plans
	// allow longer numbers that cannot be carried internationally.
	if len(e164)-1 > maxE164Digits {
		return "", fmt.Errorf("%w: %q: longer than %d digits", ErrInvalid, raw, maxE164Digits)
	}
	// A national number with leading zeros (legitimate in Italy) must read back
	// the same, or the same caller would be stored under two numbers.
	if n.GetItalianLeadingZero() && !roundTrips(e164) {
		return "", fmt.Errorf("%w: %q: not a possible number", ErrInvalid, raw)
	}
	return e164, nil
}

// roundTrips reports whether e164 parses back to itself.
func roundTrips(e164 string) bool {
	var n phonenumbers.PhoneNumber
	if err := phonenumbers.ParseToNumber(e164, "", &n); err != nil {
		return false
	}
	return phonenumbers.IsPossibleNumberWithReason(&n) == phonenumbers.IS_POSSIBLE &&
		phonenumbers.Format(&n, phonenumbers.E164) == e164
}

// trimURI strips a sip:, sips: or tel: scheme, the host of a SIP URI and URI
// parameters, leaving what could be a number. A tel: URI with a phone-context
// parameter is left to phonenumbers, which understands RFC 3966.
func trimURI(s string) string {
	if len(s) >= 4 && strings.EqualFold(s[:4], "sip:") {
		s = s[4:]
	} else if len(s) >= 5 && strings.EqualFold(s[:5], "sips:") {
		s = s[5:]
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if strings.Contains(s, ";phone-context=") {
		return s
	}
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func isWithheld(s string) bool {
	for _, w := range withheld {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}
