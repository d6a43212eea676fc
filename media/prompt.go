package media

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrUnknownLanguage is returned by the Prompts methods for a language that
// has no clips loaded, and by LoadPrompts for a language directory Teamline
// has no sentence rules for.
var ErrUnknownLanguage = errors.New("no prompts for language")

// ErrSlotPassed is returned when a callback slot lies on a day before now's
// day (in the slot's time zone): no sentence can state such a time.
var ErrSlotPassed = errors.New("callback slot lies on an earlier day")

// ErrMissingClip is returned by LoadPrompts when a clip that a sentence
// needs has no file, or an empty one.
var ErrMissingClip = errors.New("prompt clip missing")

const (
	// clipExt is the file name extension of a clip: raw 8 kHz mu-law.
	clipExt = ".ul"
	// ulawSilence is the mu-law byte of a zero sample.
	ulawSilence = 0xFF
	// samplesPerMs is the G.711 sample (and byte) rate per millisecond.
	samplesPerMs = 8

	// wordGap is the silence between two clips of a sentence.
	wordGap = 60 * time.Millisecond
	// sentenceGap is the silence after a clip that ends a sentence.
	sentenceGap = 300 * time.Millisecond
	// leadSilence comes before the first clip, so that the caller's jitter
	// buffer has settled when the first word arrives.
	leadSilence = 100 * time.Millisecond
	// tailSilence follows the last clip, so that the last word is played
	// out before the BYE that follows the prompt.
	tailSilence = 300 * time.Millisecond
)

// sentence is one of the sentences Prompts can compose.
type sentence int

const (
	// sentenceBooked: "All of your team are with other customers. We will
	// call you back today at fourteen thirty."
	sentenceBooked sentence = iota
	// sentenceAlready: "You already have a callback booked for today at
	// fourteen thirty."
	sentenceAlready
)

// dayKind says how a slot's day is named relative to now.
type dayKind int

const (
	dayToday    dayKind = iota // the same calendar day
	dayTomorrow                // the next calendar day
	dayWeekday                 // two to six days ahead: the weekday's name
	dayDate                    // a week or more ahead: day of month and month
)

// weekdayClips are the clip names of the weekdays, indexed by time.Weekday;
// "on_" is prepended for "on Monday" / "am Montag".
var weekdayClips = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// language holds the sentence rules of one language. Each rule turns a
// sentence and a slot into the names of the clips to join, in order.
type language struct {
	// compose appends the clip names of s for the slot to names.
	compose func(names []string, s sentence, kind dayKind, slot time.Time) []string
	// sentenceEnds lists the clips after which a sentence ends.
	sentenceEnds map[string]bool
}

// languages are the languages Teamline can speak, by the name of their
// directory under the prompts directory (the team's language setting).
var languages = map[string]language{
	"en": {compose: composeEnglish, sentenceEnds: map[string]bool{"intro": true}},
	"de": {compose: composeGerman, sentenceEnds: map[string]bool{"intro": true}},
}

// composeEnglish says "We will call you back today at fourteen thirty",
// "... on Monday at nine oh five", "... on the first of March at ten
// o'clock", and "You already have a callback booked for today/Monday/the
// first of March at ...".
func composeEnglish(names []string, s sentence, kind dayKind, slot time.Time) []string {
	names = opening(names, s, kind, slot, "")
	// 24-hour reading: "at fourteen" + "thirty" / "oh five" / "o'clock".
	return append(names, numbered("hour_", slot.Hour()), numbered("minute_", slot.Minute()))
}

// opening appends the start of a sentence and the day the slot falls on,
// which both languages say in the same order; dateFor is the clip before a
// date in the already-booked sentence ("" for none).
func opening(names []string, s sentence, kind dayKind, slot time.Time, dateFor string) []string {
	if s == sentenceBooked {
		names = append(names, "intro", "callback")
	} else {
		names = append(names, "already")
	}
	switch kind {
	case dayToday:
		names = append(names, "today")
	case dayTomorrow:
		names = append(names, "tomorrow")
	case dayWeekday:
		if s == sentenceBooked {
			names = append(names, "on_"+weekdayClips[slot.Weekday()])
		} else {
			names = append(names, weekdayClips[slot.Weekday()])
		}
	case dayDate:
		if s == sentenceBooked {
			names = append(names, "date_on")
		} else if dateFor != "" {
			names = append(names, dateFor)
		}
		names = append(names, numbered("day_", slot.Day()), numbered("month_", int(slot.Month())))
	}
	return names
}

// composeGerman says "Wir rufen Sie heute um vierzehn Uhr dreißig zurück",
// "... am Montag um neun Uhr fünf zurück", "... am ersten März um zehn Uhr
// zurück", and "Ihr Rückruf ist bereits für heute/Montag/den ersten März um
// ... vereinbart". The verb's particle comes last, so both sentences have a
// closing clip.
func composeGerman(names []string, s sentence, kind dayKind, slot time.Time) []string {
	names = opening(names, s, kind, slot, "date_for")
	// "um vierzehn Uhr" + "dreißig"; on the full hour nothing follows "Uhr".
	names = append(names, numbered("hour_", slot.Hour()))
	if slot.Minute() != 0 {
		names = append(names, numbered("minute_", slot.Minute()))
	}
	if s == sentenceBooked {
		return append(names, "callback_end")
	}
	return append(names, "already_end")
}

// numbered returns prefix followed by n in two digits, e.g. "hour_09".
func numbered(prefix string, n int) string {
	return fmt.Sprintf("%s%02d", prefix, n)
}

// requiredClips returns every clip name lang's rules can ask for, sorted.
// It composes both sentences for every minute of a day, and for every day
// kind on every day of a leap year (so every weekday, day of month and
// month); the rules say the time the same way whatever the day.
func requiredClips(lang language) []string {
	seen := map[string]bool{}
	var names []string
	add := func(s sentence, kind dayKind, slot time.Time) {
		names = lang.compose(names[:0], s, kind, slot)
		for _, n := range names {
			seen[n] = true
		}
	}
	base := time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC) // a Monday
	for _, s := range []sentence{sentenceBooked, sentenceAlready} {
		for m := 0; m < 24*60; m++ {
			add(s, dayToday, base.Add(time.Duration(m)*time.Minute))
		}
		for d := 0; d < 366; d++ {
			for kind := dayToday; kind <= dayDate; kind++ {
				add(s, kind, base.AddDate(0, 0, d))
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Prompts holds the prompt clips of every language found by LoadPrompts and
// composes the callback sentences from them. It is immutable and safe for
// concurrent use.
type Prompts struct {
	langs map[string]*clipSet
}

// clipSet is one language's rules and clips.
type clipSet struct {
	rules language
	clips map[string][]byte // mu-law audio by clip name
}

// LoadPrompts reads the clips of every language directory under dir
// (dir/<lang>/<clip>.ul, raw 8 kHz mono mu-law, as scripts/prompts.sh
// writes them). Every clip a language's sentences can need must be there
// and non-empty; the error names the first missing file. Files that are not
// clips (such as the manifest) are ignored. A directory of a language
// Teamline has no sentence rules for is an error, as is a dir without any
// language.
func LoadPrompts(dir string) (*Prompts, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load prompts: %w", err)
	}
	p := &Prompts{langs: map[string]*clipSet{}}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rules, ok := languages[e.Name()]
		if !ok {
			return nil, fmt.Errorf("load prompts: directory %s: %w %q (Teamline speaks %s)",
				filepath.Join(dir, e.Name()), ErrUnknownLanguage, e.Name(), strings.Join(knownLanguages(), ", "))
		}
		set, err := loadClipSet(filepath.Join(dir, e.Name()), rules)
		if err != nil {
			return nil, fmt.Errorf("load prompts: %w", err)
		}
		p.langs[e.Name()] = set
	}
	if len(p.langs) == 0 {
		return nil, fmt.Errorf("load prompts: no language directory under %s (run make prompts)", dir)
	}
	return p, nil
}

// loadClipSet reads the clips rules needs from dir.
func loadClipSet(dir string, rules language) (*clipSet, error) {
	need := requiredClips(rules)
	set := &clipSet{rules: rules, clips: make(map[string][]byte, len(need))}
	var missing []string
	for _, name := range need {
		path := filepath.Join(dir, name+clipExt)
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist), err == nil && len(b) == 0:
			missing = append(missing, path)
		case err != nil:
			return nil, fmt.Errorf("read clip: %w", err)
		default:
			set.clips[name] = b
		}
	}
	switch len(missing) {
	case 0:
		return set, nil
	case 1:
		return nil, fmt.Errorf("%w: %s (run make prompts)", ErrMissingClip, missing[0])
	default:
		return nil, fmt.Errorf("%w: %s and %d more (run make prompts)", ErrMissingClip, missing[0], len(missing)-1)
	}
}

// knownLanguages returns the languages Teamline has sentence rules for.
func knownLanguages() []string {
	out := make([]string, 0, len(languages))
	for l := range languages {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Languages returns the languages whose clips were loaded, sorted.
func (p *Prompts) Languages() []string {
	out := make([]string, 0, len(p.langs))
	for l := range p.langs {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// CallbackBooked returns the mu-law audio of the sentence that confirms a
// callback booked in a call, in lang ("en", "de"; a region such as "de-AT"
// is ignored): the opening sentence, then "We will call you back today at
// fourteen thirty." Whether the slot is today, tomorrow, on a weekday (two
// to six days ahead) or on a date is decided from the calendar days of now
// and slot in slot's time zone, and the time is said in that zone, so slot
// must already be in the team's location. A slot on a day before now's
// returns ErrSlotPassed; a language without clips, ErrUnknownLanguage.
//
// The clips are joined with short gaps of silence into a new slice, once
// per call; play it with Session.PlayA.
func (p *Prompts) CallbackBooked(lang string, now, slot time.Time) ([]byte, error) {
	return p.say(lang, sentenceBooked, now, slot)
}

// CallbackAlreadyBooked returns the mu-law audio of the sentence for a
// caller who already has a callback booked: "You already have a callback
// booked for today at fourteen thirty." Days, times and errors are as for
// CallbackBooked.
func (p *Prompts) CallbackAlreadyBooked(lang string, now, slot time.Time) ([]byte, error) {
	return p.say(lang, sentenceAlready, now, slot)
}

// say composes and joins one sentence.
func (p *Prompts) say(lang string, s sentence, now, slot time.Time) ([]byte, error) {
	set, names, err := p.compose(lang, s, now, slot)
	if err != nil {
		return nil, err
	}
	return set.join(names), nil
}

// compose returns the clip names of sentence s for slot, in order, and the
// language's clips.
func (p *Prompts) compose(lang string, s sentence, now, slot time.Time) (*clipSet, []string, error) {
	key := normaliseLanguage(lang)
	set, ok := p.langs[key]
	if !ok {
		return nil, nil, fmt.Errorf("compose callback sentence: %w %q", ErrUnknownLanguage, lang)
	}
	kind, err := dayOf(now, slot)
	if err != nil {
		return nil, nil, fmt.Errorf("compose callback sentence: %w", err)
	}
	return set, set.rules.compose(make([]string, 0, 10), s, kind, slot), nil
}

// normaliseLanguage maps a language tag to its primary subtag in lower
// case: "DE-at" -> "de".
func normaliseLanguage(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(lang, "-_"); i >= 0 {
		lang = lang[:i]
	}
	return lang
}

// dayOf names slot's day relative to now, both read as calendar days in
// slot's location.
func dayOf(now, slot time.Time) (dayKind, error) {
	loc := slot.Location()
	n := now.In(loc)
	// Count calendar days in UTC, where every day has 24 hours: a DST
	// change between now and the slot must not shift the count.
	from := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
	to := time.Date(slot.Year(), slot.Month(), slot.Day(), 0, 0, 0, 0, time.UTC)
	days := int(to.Sub(from) / (24 * time.Hour))
	switch {
	case days < 0:
		return 0, fmt.Errorf("slot %s, now %s: %w", slot.Format(time.RFC3339), n.Format(time.RFC3339), ErrSlotPassed)
	case days == 0:
		return dayToday, nil
	case days == 1:
		return dayTomorrow, nil
	case days < 7:
		return dayWeekday, nil
	default:
		return dayDate, nil
	}
}

// join concatenates the named clips with silence between them, into one
// newly allocated slice.
func (c *clipSet) join(names []string) []byte {
	gap := func(i int) time.Duration {
		switch {
		case i == len(names)-1:
			return tailSilence
		case c.rules.sentenceEnds[names[i]]:
			return sentenceGap
		default:
			return wordGap
		}
	}
	size := silenceBytes(leadSilence)
	for i, n := range names {
		size += len(c.clips[n]) + silenceBytes(gap(i))
	}
	out := make([]byte, 0, size)
	out = appendSilence(out, leadSilence)
	for i, n := range names {
		out = append(out, c.clips[n]...)
		out = appendSilence(out, gap(i))
	}
	return out
}

// silenceBytes returns the number of G.711 bytes that last d.
func silenceBytes(d time.Duration) int {
	return int(d/time.Millisecond) * samplesPerMs
}

// appendSilence appends d of mu-law silence to b.
func appendSilence(b []byte, d time.Duration) []byte {
	for range silenceBytes(d) {
		b = append(b, ulawSilence)
	}
	return b
}
