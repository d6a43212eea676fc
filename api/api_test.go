package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/api"
	"github.com/teamline/teamline/callback"
	"github.com/teamline/teamline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const token = "s3cret-token"

var berlin = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return loc
}()

// now is a Wednesday, 08:50 in Berlin; the team opens at 09:00.
var now = time.Date(2026, 3, 4, 8, 50, 0, 0, berlin)

func at(hh, mm int) time.Time {
	return time.Date(2026, 3, 4, hh, mm, 0, 0, berlin)
}

// officeHours: 09:00-17:00 every day.
var officeHours = callback.HoursFunc(func(_ string, day time.Time) []callback.TimeRange {
	y, m, d := day.Date()
	return []callback.TimeRange{{
		Start: time.Date(y, m, d, 9, 0, 0, 0, day.Location()),
		End:   time.Date(y, m, d, 17, 0, 0, 0, day.Location()),
	}}
})

// server starts the API on a fresh database: team "berlin" (capacity 1)
// serves German numbers; +44 numbers have no team.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := pgtest.Store(t)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	if err := callback.Migrate(ctx, st.Pool(), log); err != nil {
		t.Fatal(err)
	}
	svc, err := callback.New(st.Pool(), callback.Config{
		Hours: officeHours,
		Teams: func(id string) (callback.TeamSlots, bool) {
			return callback.TeamSlots{Location: berlin, Capacity: 1}, id == "berlin"
		},
		Now: func() time.Time { return now },
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Deps{
		Token:     token,
		Callbacks: svc,
		ResolveTeam: func(e164 string) (string, string, bool) {
			if strings.HasPrefix(e164, "+49") {
				return "berlin", "cust-" + e164[len(e164)-4:], true
			}
			return "", "", false
		},
		DefaultCountry: "DE",
		Now:            func() time.Time { return now },
	}, log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// call sends a request with the token and decodes the JSON answer into out
// (if not nil). It returns the status.
func call(t *testing.T, srv *httptest.Server, method, path, body string, out any) int {
	t.Helper()
	return callAuth(t, srv, method, path, body, "Bearer "+token, out)
}

func callAuth(t *testing.T, srv *httptest.Server, method, path, body, auth string, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.NewDecoder(bytes.NewReader(raw)).Decode(out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

type errBody struct {
	Error    string `json:"error"`
	NextFree []struct {
		Start time.Time `json:"start"`
		Free  int       `json:"free"`
	} `json:"next_free"`
	Callback *cbBody `json:"callback"`
}

type cbBody struct {
	ID          string `json:"id"`
	Team        string `json:"team"`
	CustomerID  string `json:"customer_id"`
	Number      string `json:"number"`
	Reason      string `json:"reason"`
	State       string `json:"state"`
	Slot        struct{ Start, End time.Time }
	RequestedAt time.Time `json:"requested_at"`
	Attempts    []any     `json:"attempts"`
}

func TestAuth(t *testing.T) {
	t.Parallel()
	srv := server(t)
	tests := []struct {
		name string
		auth string
		want int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"token prefix", "Bearer " + token[:5], http.StatusUnauthorized},
		{"other scheme", "Basic " + token, http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"right token", "Bearer " + token, http.StatusOK},
		{"scheme is case-insensitive", "bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var e errBody
			got := callAuth(t, srv, http.MethodGet, "/v1/callbacks", "", tt.auth, &e)
			if got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
			if tt.want == http.StatusUnauthorized && e.Error == "" {
				t.Errorf("401 without a JSON error")
			}
		})
	}
	// Unknown paths are behind the token too.
	if got := callAuth(t, srv, http.MethodGet, "/v1/nothing", "", "", nil); got != http.StatusUnauthorized {
		t.Errorf("unknown path without token: %d", got)
	}
}

func TestNoTokenConfiguredRefusesAll(t *testing.T) {
	t.Parallel()
	h := api.New(api.Deps{}, zerolog.Nop())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		if got := callAuth(t, srv, http.MethodGet, "/v1/callbacks", "", auth, nil); got != http.StatusUnauthorized {
			t.Errorf("auth %q: status %d, want 401", auth, got)
		}
	}
}

func TestSlots(t *testing.T) {
	t.Parallel()
	srv := server(t)
	if got := call(t, srv, http.MethodPost, "/v1/callbacks", `{"number":"+4930123456","slot":"2026-03-04T09:15:00+01:00"}`, nil); got != http.StatusCreated {
		t.Fatalf("book: %d", got)
	}
	var out struct {
		Team  string `json:"team"`
		Slots []struct {
			Start    time.Time `json:"start"`
			Capacity int       `json:"capacity"`
			Booked   int       `json:"booked"`
			Free     int       `json:"free"`
		} `json:"slots"`
	}
	if got := call(t, srv, http.MethodGet, "/v1/teams/berlin/slots?from=2026-03-04T09:00:00%2B01:00&to=2026-03-04T10:00:00%2B01:00", "", &out); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	if out.Team != "berlin" || len(out.Slots) != 4 {
		t.Fatalf("got %+v, want 4 slots of berlin", out)
	}
	for i, want := range []int{1, 0, 1, 1} {
		if out.Slots[i].Free != want || out.Slots[i].Capacity != 1 {
			t.Errorf("slot %v: free %d, want %d", out.Slots[i].Start, out.Slots[i].Free, want)
		}
	}
	// Defaults: from now, for a day.
	if got := call(t, srv, http.MethodGet, "/v1/teams/berlin/slots", "", &out); got != http.StatusOK || len(out.Slots) != 32 {
		t.Errorf("default range: status %d, %d slots, want 32", got, len(out.Slots))
	}
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/v1/teams/berlin/slots?from=yesterday", http.StatusBadRequest},
		{"/v1/teams/berlin/slots?from=2026-03-04T10:00:00Z&to=2026-03-04T09:00:00Z", http.StatusBadRequest},
		{"/v1/teams/berlin/slots?from=2026-03-04T10:00:00Z&to=2026-06-04T09:00:00Z", http.StatusBadRequest},
		{"/v1/teams/paris/slots", http.StatusNotFound},
	} {
		var e errBody
		if got := call(t, srv, http.MethodGet, tt.path, "", &e); got != tt.want || e.Error == "" {
			t.Errorf("GET %s: %d %q, want %d with an error", tt.path, got, e.Error, tt.want)
		}
	}
}

func TestBookAndManage(t *testing.T) {
	t.Parallel()
	srv := server(t)

	// As soon as possible, with a national number and a reason.
	var c cbBody
	if got := call(t, srv, http.MethodPost, "/v1/callbacks", `{"number":"030 123456","asap":true,"reason":"invoice"}`, &c); got != http.StatusCreated {
		t.Fatalf("book asap: %d", got)
	}
	if c.Number != "+4930123456" || c.Team != "berlin" || c.CustomerID != "cust-3456" || c.State != "booked" ||
		c.Reason != "invoice" || !c.Slot.Start.Equal(at(9, 0)) || !c.RequestedAt.Equal(now) {
		t.Errorf("booked %+v", c)
	}

	// Into a given slot, then the same slot again from another number: full.
	var c2 cbBody
	if got := call(t, srv, http.MethodPost, "/v1/callbacks", `{"number":"+4989123456","slot":"2026-03-04T10:00:00+01:00"}`, &c2); got != http.StatusCreated {
		t.Fatalf("book slot: %d", got)
	}
	var e errBody
	if got := call(t, srv, http.MethodPost, "/v1/callbacks", `{"number":"+4940123456","slot":"2026-03-04T10:00:00+01:00"}`, &e); got != http.StatusConflict {
		t.Fatalf("book full slot: %d", got)
	}
	if len(e.NextFree) == 0 || !e.NextFree[0].Start.Equal(at(10, 15)) || e.NextFree[0].Free != 1 {
		t.Errorf("full: %+v, want next free from 10:15", e)
	}
	// A window.
	var c3 cbBody
	if got := call(t, srv, http.MethodPost, "/v1/callbacks", `{"number":"+4940123456","window":{"from":"2026-03-04T10:00:00+01:00"}}`, &c3); got != http.StatusCreated || !c3.Slot.Start.Equal(at(10, 15)) {
		t.Fatalf("book window: %d, slot %v", got, c3.Slot.Start)
	}
	// The same number again: its open callback comes back.
	e = errBody{}
	if got := call(t, srv, http.MethodPost, "/v1/callbacks", `{"number":"+49 30 123456","asap":true}`, &e); got != http.StatusConflict || e.Callback == nil || e.Callback.ID != c.ID {
		t.Fatalf("book twice: %d %+v", got, e)
	}

	for _, tt := range []struct {
		name, body string
		want       int
	}{
		{"no number", `{"asap":true}`, http.StatusBadRequest},
		{"bad number", `{"number":"12","asap":true}`, http.StatusBadRequest},
		{"withheld", `{"number":"anonymous","asap":true}`, http.StatusBadRequest},
		{"no team", `{"number":"+442079460000","asap":true}`, http.StatusBadRequest},
		{"no when", `{"number":"+4930999999"}`, http.StatusBadRequest},
		{"two whens", `{"number":"+4930999999","asap":true,"slot":"2026-03-04T11:00:00+01:00"}`, http.StatusBadRequest},
		{"empty window", `{"number":"+4930999999","window":{}}`, http.StatusBadRequest},
		{"not a slot", `{"number":"+4930999999","slot":"2026-03-04T11:05:00+01:00"}`, http.StatusBadRequest},
		{"unknown field", `{"number":"+4930999999","asap":true,"vip":true}`, http.StatusBadRequest},
		{"bad time", `{"number":"+4930999999","slot":"11:00"}`, http.StatusBadRequest},
		{"not JSON", `number=1`, http.StatusBadRequest},
		{"two values", `{"number":"+4930999999","asap":true}{}`, http.StatusBadRequest},
	} {
		var e errBody
		if got := call(t, srv, http.MethodPost, "/v1/callbacks", tt.body, &e); got != tt.want || e.Error == "" {
			t.Errorf("%s: %d %q, want %d with an error", tt.name, got, e.Error, tt.want)
		}
	}

	// Read one, with its (no) attempts.
	var got cbBody
	if st := call(t, srv, http.MethodGet, "/v1/callbacks/"+c.ID, "", &got); st != http.StatusOK || got.ID != c.ID || got.Attempts == nil {
		t.Errorf("get: %d %+v", st, got)
	}
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", "nope"} {
		if st := call(t, srv, http.MethodGet, "/v1/callbacks/"+id, "", &errBody{}); st != http.StatusNotFound {
			t.Errorf("get %s: %d, want 404", id, st)
		}
	}

	// Reschedule keeps when the customer asked; into a full slot: 409.
	var moved cbBody
	if st := call(t, srv, http.MethodPatch, "/v1/callbacks/"+c.ID, `{"slot":"2026-03-04T14:00:00+01:00"}`, &moved); st != http.StatusOK ||
		!moved.Slot.Start.Equal(at(14, 0)) || !moved.RequestedAt.Equal(c.RequestedAt) {
		t.Errorf("reschedule: %d %+v", st, moved)
	}
	if st := call(t, srv, http.MethodPatch, "/v1/callbacks/"+c.ID, `{"slot":"2026-03-04T10:00:00+01:00"}`, &errBody{}); st != http.StatusConflict {
		t.Errorf("reschedule into a full slot: %d", st)
	}
	if st := call(t, srv, http.MethodPatch, "/v1/callbacks/"+c.ID, `{}`, &errBody{}); st != http.StatusBadRequest {
		t.Errorf("reschedule without a when: %d", st)
	}

	// List, filtered.
	var list struct {
		Callbacks []cbBody `json:"callbacks"`
	}
	if st := call(t, srv, http.MethodGet, "/v1/callbacks?team=berlin&state=booked", "", &list); st != http.StatusOK || len(list.Callbacks) != 3 {
		t.Fatalf("list: %d, %d callbacks", st, len(list.Callbacks))
	}
	if list.Callbacks[0].ID != c2.ID || list.Callbacks[2].ID != c.ID {
		t.Errorf("list not in slot order: %+v", list.Callbacks)
	}
	for _, q := range []string{"state=lost", "limit=0", "limit=x"} {
		if st := call(t, srv, http.MethodGet, "/v1/callbacks?"+q, "", &errBody{}); st != http.StatusBadRequest {
			t.Errorf("list ?%s: %d, want 400", q, st)
		}
	}

	// Cancel, twice; then it cannot be moved.
	var cancelled cbBody
	if st := call(t, srv, http.MethodDelete, "/v1/callbacks/"+c.ID, "", &cancelled); st != http.StatusOK || cancelled.State != "cancelled" {
		t.Errorf("cancel: %d %+v", st, cancelled)
	}
	if st := call(t, srv, http.MethodDelete, "/v1/callbacks/"+c.ID, "", nil); st != http.StatusOK {
		t.Errorf("cancel again: %d", st)
	}
	if st := call(t, srv, http.MethodPatch, "/v1/callbacks/"+c.ID, `{"asap":true}`, &errBody{}); st != http.StatusConflict {
		t.Errorf("reschedule a cancelled callback: %d, want 409", st)
	}
	if st := call(t, srv, http.MethodGet, "/v1/callbacks?state=cancelled", "", &list); st != http.StatusOK || len(list.Callbacks) != 1 {
		t.Errorf("list cancelled: %d, %d", st, len(list.Callbacks))
	}
	// The freed place can be booked again.
	if st := call(t, srv, http.MethodPost, "/v1/callbacks", `{"number":"+4930123456","slot":"2026-03-04T14:00:00+01:00"}`, nil); st != http.StatusCreated {
		t.Errorf("book the freed place: %d", st)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	srv := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/v1/callbacks", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	var e errBody
	if st := call(t, srv, http.MethodGet, "/v2/whatever", "", &e); st != http.StatusNotFound || e.Error == "" {
		t.Errorf("unknown path: %d %q", st, e.Error)
	}
}
