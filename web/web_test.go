package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/store"
)

type history map[string][]store.Call

func (h history) RecentCalls(_ context.Context, customerID string, _ int) ([]store.Call, error) {
	return h[customerID], nil
}

func TestHistoryLink(t *testing.T) {
	t.Parallel()
	links := NewLinkSigner("http://teamline.example:8080/", time.Hour)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	links.now = func() time.Time { return now }
	calls := history{"erika": {{CreatedAt: now.Add(-24 * time.Hour), TeamID: "berlin", AgentID: "anna", Outcome: store.OutcomeAnswered}}}
	srv := httptest.NewServer(NewHandler(calls, links, http.NotFoundHandler(), zerolog.Nop()))
	t.Cleanup(srv.Close)

	link := links.CustomerURL("erika", "+4930123456")
	if !strings.HasPrefix(link, "http://teamline.example:8080/history?") {
		t.Fatalf("link %q does not start at the public URL", link)
	}
	u, _ := url.Parse(link)
	get := func(q url.Values) (int, string) {
		t.Helper()
		res, err := http.Get(srv.URL + "/history?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get(u.Query())
	if code != 200 || !strings.Contains(body, "anna") || !strings.Contains(body, "4930123456") {
		t.Fatalf("valid link: %d %s", code, body)
	}

	tampered := u.Query()
	tampered.Set("customer", "max")
	if code, _ := get(tampered); code != http.StatusForbidden {
		t.Fatalf("tampered link: %d, want 403", code)
	}
	now = now.Add(2 * time.Hour)
	if code, _ := get(u.Query()); code != http.StatusForbidden {
		t.Fatalf("expired link: %d, want 403", code)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(NewHandler(history{}, NewLinkSigner("http://x", time.Hour), http.NotFoundHandler(), zerolog.Nop()))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
}

func TestWallboardPageReadsTheAPI(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(NewHandler(history{}, NewLinkSigner("http://x", time.Hour), http.NotFoundHandler(), zerolog.Nop()))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/wallboard")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(b), "/v1/wallboard") || !strings.Contains(string(b), "Authorization") {
		t.Fatalf("wallboard page: %d", res.StatusCode)
	}
}
