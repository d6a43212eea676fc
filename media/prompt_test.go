package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin and America/New_York on any machine
)

// manifestPath is the prompt manifest, relative to this package.
var manifestPath = filepath.Join("..", "configs", "prompts", "texts.tsv")

// fakePrompts writes every clip the rules of langs need into a temporary
// directory, each clip's bytes being its own name (no 0xFF byte, so the
// silence between clips separates them), and returns the directory.
func fakePrompts(t testing.TB, langs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, l := range langs {
		if err := os.MkdirAll(filepath.Join(dir, l), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range requiredClips(languages[l]) {
			if err := os.WriteFile(filepath.Join(dir, l, name+clipExt), []byte(name), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// clipNames splits audio made from fakePrompts' clips back into the names
// of its clips, checking the silence before, between and after them.
func clipNames(t testing.TB, audio []byte) []string {
	t.Helper()
	lead := silenceBytes(leadSilence)
	if len(audio) < lead || !isSilence(audio[:lead]) {
		t.Fatalf("audio does not start with %s of silence", leadSilence)
	}
	tail := silenceBytes(tailSilence)
	if len(audio) < lead+tail || !isSilence(audio[len(audio)-tail:]) {
		t.Fatalf("audio does not end with %s of silence", tailSilence)
	}
	var names []string
	for _, f := range bytes.Split(audio, []byte{ulawSilence}) {
		if len(f) > 0 {
			names = append(names, string(f))
		}
	}
	return names
}

func isSilence(b []byte) bool {
	for _, c := range b {
		if c != ulawSilence {
			return false
		}
	}
	return true
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load location %s: %v", name, err)
	}
	return loc
}

func TestCallbackSentences(t *testing.T) {
	t.Parallel()
	p, err := LoadPrompts(fakePrompts(t, "en", "de"))
	if err != nil {
		t.Fatalf("LoadPrompts: %v", err)
	}
	berlin := mustLoad(t, "Europe/Berlin")
	newYork := mustLoad(t, "America/New_York")
	at := func(loc *time.Location, y int, m time.Month, d, hh, mm int) time.Time {
		return time.Date(y, m, d, hh, mm, 0, 0, loc)
	}
	mon := at(berlin, 2025, time.March, 10, 9, 0) // Monday 10 March 2025, 09:00

	tests := []struct {
		name    string
		lang    string
		already bool
		now     time.Time
		slot    time.Time
		want    []string
	}{
		{"en today", "en", false, mon, at(berlin, 2025, time.March, 10, 14, 30),
			[]string{"intro", "callback", "today", "hour_14", "minute_30"}},
		{"en oh five", "en", false, mon, at(berlin, 2025, time.March, 10, 9, 5),
			[]string{"intro", "callback", "today", "hour_09", "minute_05"}},
		{"en full hour", "en", false, mon, at(berlin, 2025, time.March, 10, 10, 0),
			[]string{"intro", "callback", "today", "hour_10", "minute_00"}},
		{"en earlier today is still today", "en", false, mon, at(berlin, 2025, time.March, 10, 8, 45),
			[]string{"intro", "callback", "today", "hour_08", "minute_45"}},
		{"en tomorrow across midnight", "en", false, at(berlin, 2025, time.March, 10, 23, 50), at(berlin, 2025, time.March, 11, 0, 5),
			[]string{"intro", "callback", "tomorrow", "hour_00", "minute_05"}},
		{"en weekday in two days", "en", false, mon, at(berlin, 2025, time.March, 12, 9, 5),
			[]string{"intro", "callback", "on_wednesday", "hour_09", "minute_05"}},
		{"en weekday in six days", "en", false, mon, at(berlin, 2025, time.March, 16, 11, 15),
			[]string{"intro", "callback", "on_sunday", "hour_11", "minute_15"}},
		{"en date in seven days", "en", false, mon, at(berlin, 2025, time.March, 17, 10, 0),
			[]string{"intro", "callback", "date_on", "day_17", "month_03", "hour_10", "minute_00"}},
		{"en already today", "en", true, mon, at(berlin, 2025, time.March, 10, 14, 30),
			[]string{"already", "today", "hour_14", "minute_30"}},
		{"en already tomorrow", "en", true, mon, at(berlin, 2025, time.March, 11, 16, 45),
			[]string{"already", "tomorrow", "hour_16", "minute_45"}},
		{"en already weekday", "en", true, mon, at(berlin, 2025, time.March, 14, 9, 5),
			[]string{"already", "friday", "hour_09", "minute_05"}},
		{"en already date", "en", true, mon, at(berlin, 2025, time.April, 1, 23, 59),
			[]string{"already", "day_01", "month_04", "hour_23", "minute_59"}},
		{"de today", "de", false, mon, at(berlin, 2025, time.March, 10, 14, 30),
			[]string{"intro", "callback", "today", "hour_14", "minute_30", "callback_end"}},
		{"de full hour has no minute", "de", false, mon, at(berlin, 2025, time.March, 10, 10, 0),
			[]string{"intro", "callback", "today", "hour_10", "callback_end"}},
		{"de tomorrow", "de", false, mon, at(berlin, 2025, time.March, 11, 9, 5),
			[]string{"intro", "callback", "tomorrow", "hour_09", "minute_05", "callback_end"}},
		{"de weekday", "de", false, mon, at(berlin, 2025, time.March, 13, 15, 0),
			[]string{"intro", "callback", "on_thursday", "hour_15", "callback_end"}},
		{"de date", "de", false, mon, at(berlin, 2025, time.December, 31, 8, 1),
			[]string{"intro", "callback", "date_on", "day_31", "month_12", "hour_08", "minute_01", "callback_end"}},
		{"de already today", "de", true, mon, at(berlin, 2025, time.March, 10, 14, 30),
			[]string{"already", "today", "hour_14", "minute_30", "already_end"}},
		{"de already weekday", "de", true, mon, at(berlin, 2025, time.March, 15, 9, 5),
			[]string{"already", "saturday", "hour_09", "minute_05", "already_end"}},
		{"de already date", "de", true, mon, at(berlin, 2025, time.March, 24, 10, 0),
			[]string{"already", "date_for", "day_24", "month_03", "hour_10", "already_end"}},
		{"region subtag ignored", "de-AT", true, mon, at(berlin, 2025, time.March, 10, 14, 30),
			[]string{"already", "today", "hour_14", "minute_30", "already_end"}},
		{"language case ignored", "EN", true, mon, at(berlin, 2025, time.March, 10, 14, 30),
			[]string{"already", "today", "hour_14", "minute_30"}},
		// now is 23:30 UTC on the 10th, already 00:30 on the 11th in
		// Berlin: the slot's zone decides, so 14:00 on the 11th is today.
		{"now in another zone, today in the slot's", "en", false,
			time.Date(2025, time.March, 10, 23, 30, 0, 0, time.UTC), at(berlin, 2025, time.March, 11, 14, 0),
			[]string{"intro", "callback", "today", "hour_14", "minute_00"}},
		// 04:00 on the 11th in Berlin is 23:00 on the 10th in New York
		// (already on summer time), so a New York slot at 23:30 on the
		// 10th is today, said in New York's time.
		{"slot zone behind now's", "en", false,
			at(berlin, 2025, time.March, 11, 4, 0), at(newYork, 2025, time.March, 10, 23, 30),
			[]string{"intro", "callback", "today", "hour_23", "minute_30"}},
		// The night before the spring change has 23 hours, the night
		// before the autumn change 25: calendar days count, not hours.
		{"tomorrow across spring dst", "en", false,
			at(berlin, 2025, time.March, 29, 12, 0), at(berlin, 2025, time.March, 30, 11, 30),
			[]string{"intro", "callback", "tomorrow", "hour_11", "minute_30"}},
		{"tomorrow across autumn dst", "de", false,
			at(berlin, 2025, time.October, 25, 0, 10), at(berlin, 2025, time.October, 26, 23, 45),
			[]string{"intro", "callback", "tomorrow", "hour_23", "minute_45", "callback_end"}},
		{"weekday across autumn dst", "en", false,
			at(berlin, 2025, time.October, 25, 23, 59), at(berlin, 2025, time.October, 27, 0, 0),
			[]string{"intro", "callback", "on_monday", "hour_00", "minute_00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sentenceBooked
			say := p.CallbackBooked
			if tt.already {
				s, say = sentenceAlready, p.CallbackAlreadyBooked
			}
			_, names, err := p.compose(tt.lang, s, tt.now, tt.slot)
			if err != nil {
				t.Fatalf("compose: %v", err)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("compose = %v, want %v", names, tt.want)
			}
			audio, err := say(tt.lang, tt.now, tt.slot)
			if err != nil {
				t.Fatalf("sentence: %v", err)
			}
			if got := clipNames(t, audio); !slices.Equal(got, tt.want) {
				t.Errorf("audio holds clips %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCallbackSentenceGaps(t *testing.T) {
	t.Parallel()
	p, err := LoadPrompts(fakePrompts(t, "en"))
	if err != nil {
		t.Fatalf("LoadPrompts: %v", err)
	}
	now := time.Date(2025, time.March, 10, 9, 0, 0, 0, time.UTC)
	audio, err := p.CallbackBooked("en", now, now.Add(5*time.Hour+30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// intro, a sentence gap, callback, a word gap, today, ...
	want := silenceBytes(leadSilence)
	if got := bytes.Index(audio, []byte("intro")); got != want {
		t.Errorf("intro starts at byte %d, want %d", got, want)
	}
	want += len("intro") + silenceBytes(sentenceGap)
	if got := bytes.Index(audio, []byte("callback")); got != want {
		t.Errorf("callback starts at byte %d, want %d", got, want)
	}
	want += len("callback") + silenceBytes(wordGap)
	if got := bytes.Index(audio, []byte("today")); got != want {
		t.Errorf("today starts at byte %d, want %d", got, want)
	}
}

func TestCallbackSentenceErrors(t *testing.T) {
	t.Parallel()
	p, err := LoadPrompts(fakePrompts(t, "en"))
	if err != nil {
		t.Fatalf("LoadPrompts: %v", err)
	}
	berlin := mustLoad(t, "Europe/Berlin")
	now := time.Date(2025, time.March, 10, 0, 30, 0, 0, berlin)
	tests := []struct {
		name string
		lang string
		slot time.Time
		want error
	}{
		{"language not loaded", "de", now.Add(time.Hour), ErrUnknownLanguage},
		{"language unknown", "fr", now.Add(time.Hour), ErrUnknownLanguage},
		{"empty language", "", now.Add(time.Hour), ErrUnknownLanguage},
		{"slot yesterday", "en", now.Add(-time.Hour), ErrSlotPassed},
		// now is 19:30 on the 9th in New York: the 8th there has passed.
		{"slot yesterday in its own zone", "en", time.Date(2025, time.March, 8, 20, 0, 0, 0, mustLoad(t, "America/New_York")), ErrSlotPassed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, say := range []func(string, time.Time, time.Time) ([]byte, error){p.CallbackBooked, p.CallbackAlreadyBooked} {
				audio, err := say(tt.lang, now, tt.slot)
				if !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
				if audio != nil {
					t.Errorf("audio of %d bytes returned with the error", len(audio))
				}
			}
		})
	}
}

func TestLoadPrompts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		prepare   func(t *testing.T, dir string)
		wantErr   error
		wantInErr string
		wantLangs []string
	}{
		{name: "both languages", wantLangs: []string{"de", "en"}},
		{
			name: "other files are ignored",
			prepare: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "texts.tsv"), "en\tintro\tHello\n")
				write(t, filepath.Join(dir, "en", "README"), "not a clip")
				if err := os.Mkdir(filepath.Join(dir, ".cache"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantLangs: []string{"de", "en"},
		},
		{
			name:      "missing clip is named",
			prepare:   func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "de", "hour_14.ul")) },
			wantErr:   ErrMissingClip,
			wantInErr: filepath.Join("de", "hour_14.ul"),
		},
		{
			name: "several missing clips",
			prepare: func(t *testing.T, dir string) {
				remove(t, filepath.Join(dir, "en", "callback.ul"))
				remove(t, filepath.Join(dir, "en", "today.ul"))
			},
			wantErr:   ErrMissingClip,
			wantInErr: filepath.Join("en", "callback.ul") + " and 1 more",
		},
		{
			name:      "empty clip",
			prepare:   func(t *testing.T, dir string) { write(t, filepath.Join(dir, "en", "minute_07.ul"), "") },
			wantErr:   ErrMissingClip,
			wantInErr: filepath.Join("en", "minute_07.ul"),
		},
		{
			name: "language without rules",
			prepare: func(t *testing.T, dir string) {
				if err := os.Mkdir(filepath.Join(dir, "fr"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantErr:   ErrUnknownLanguage,
			wantInErr: `"fr"`,
		},
		{
			name: "no language at all",
			prepare: func(t *testing.T, dir string) {
				for _, l := range []string{"en", "de"} {
					if err := os.RemoveAll(filepath.Join(dir, l)); err != nil {
						t.Fatal(err)
					}
				}
			},
			wantInErr: "make prompts",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := fakePrompts(t, "en", "de")
			if tt.prepare != nil {
				tt.prepare(t, dir)
			}
			p, err := LoadPrompts(dir)
			if tt.wantErr == nil && tt.wantInErr == "" {
				if err != nil {
					t.Fatalf("LoadPrompts: %v", err)
				}
				if got := p.Languages(); !slices.Equal(got, tt.wantLangs) {
					t.Errorf("Languages = %v, want %v", got, tt.wantLangs)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadPrompts succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantInErr)
			}
		})
	}

	t.Run("directory missing", func(t *testing.T) {
		t.Parallel()
		_, err := LoadPrompts(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want one wrapping os.ErrNotExist", err)
		}
	})
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// manifestEntry is one line of the prompt manifest.
type manifestEntry struct{ lang, name, text string }

func readManifest(t testing.TB) []manifestEntry {
	t.Helper()
	f, err := os.Open(manifestPath)
	if err != nil {
		t.Fatalf("open manifest: %v", err)
	}
	defer f.Close()
	var out []manifestEntry
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fields := strings.Split(l, "\t")
		if len(fields) != 3 || fields[0] == "" || fields[1] == "" || strings.TrimSpace(fields[2]) == "" {
			t.Fatalf("%s:%d: want language<TAB>name<TAB>text, got %q", manifestPath, line, l)
		}
		out = append(out, manifestEntry{fields[0], fields[1], fields[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	return out
}

// TestManifestMatchesRules checks that the manifest holds exactly the clips
// the sentence rules use, per language, each once: a clip the rules need
// but the manifest lacks would fail LoadPrompts at start-up, and a clip
// nobody uses is dead weight.
func TestManifestMatchesRules(t *testing.T) {
	t.Parallel()
	byLang := map[string][]string{}
	for _, e := range readManifest(t) {
		byLang[e.lang] = append(byLang[e.lang], e.name)
	}
	for lang, rules := range languages {
		got := slices.Clone(byLang[lang])
		slices.Sort(got)
		if d := slices.Compact(slices.Clone(got)); len(d) != len(got) {
			t.Errorf("%s: manifest names a clip twice", lang)
		}
		want := requiredClips(rules)
		for _, n := range want {
			if _, ok := slices.BinarySearch(got, n); !ok {
				t.Errorf("%s: manifest lacks clip %s", lang, n)
			}
		}
		for _, n := range got {
			if _, ok := slices.BinarySearch(want, n); !ok {
				t.Errorf("%s: manifest clip %s is used by no sentence", lang, n)
			}
		}
	}
	for lang := range byLang {
		if _, ok := languages[lang]; !ok {
			t.Errorf("manifest has language %s, which has no sentence rules", lang)
		}
	}
}

// TestGeneratorScript runs scripts/prompts.sh for real with espeak-ng and
// sox, and loads what it made.
func TestGeneratorScript(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesises every clip; skipped with -short")
	}
	for _, tool := range []string{"bash", "espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install espeak-ng sox): %v", tool, err)
		}
	}
	t.Parallel()
	out := t.TempDir()
	run := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "scripts", "prompts.sh"), out)
		cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("prompts.sh: %v\n%s", err, b)
		}
	}
	run()

	entries := readManifest(t)
	mtimes := map[string]time.Time{}
	var total int64
	for _, e := range entries {
		path := filepath.Join(out, e.lang, e.name+clipExt)
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("clip for %q: %v", e.text, err)
			continue
		}
		// A clip is trimmed speech: at least a tenth of a second and no
		// more than eight seconds of 8 kHz mu-law.
		if fi.Size() < 800 || fi.Size() > 8*8000 {
			t.Errorf("%s (%q) is %d bytes, want 800-64000", path, e.text, fi.Size())
		}
		mtimes[path] = fi.ModTime()
		total += fi.Size()
	}
	t.Logf("%d clips, %d bytes, %.1f s of audio", len(entries), total, float64(total)/8000)

	p, err := LoadPrompts(out)
	if err != nil {
		t.Fatalf("LoadPrompts of generated clips: %v", err)
	}
	now := time.Date(2025, time.March, 10, 9, 0, 0, 0, time.UTC)
	for _, lang := range []string{"en", "de"} {
		audio, err := p.CallbackBooked(lang, now, now.Add(5*time.Hour+30*time.Minute))
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		// The opening sentence and the time take a few seconds to say.
		if secs := float64(len(audio)) / 8000; secs < 3 || secs > 15 {
			t.Errorf("%s: sentence lasts %.1f s, want 3-15 s", lang, secs)
		}
		t.Logf("%s sentence: %.1f s", lang, float64(len(audio))/8000)
	}

	// A second run makes nothing anew.
	run()
	for path, before := range mtimes {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(before) {
			t.Errorf("%s was made again although the manifest did not change", path)
		}
	}
}
