package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPhonesHandler(t *testing.T) {
	t.Parallel()
	dist := t.TempDir()
	if err := os.WriteFile(filepath.Join(dist, "jssip.js"), []byte("var JsSIP={};"), 0o644); err != nil {
		t.Fatal(err)
	}
	withDist := PhonesHandler(dist)
	noDist := PhonesHandler("")
	for _, tc := range []struct {
		name, method, path string
		h                  http.Handler
		code               int
		contains, ctype    string
	}{
		{"jssip page", "GET", "/phones/jssip.html", withDist, 200, "new JsSIP.UA", "text/html"},
		{"sipjs page", "GET", "/phones/sipjs.html", withDist, 200, "new SIP.UserAgent", "text/html"},
		{"shared script", "GET", "/phones/phone.js", withDist, 200, "window.phone", "text/javascript"},
		{"bundle from disk", "GET", "/phones/dist/jssip.js", withDist, 200, "var JsSIP", "text/javascript"},
		{"missing bundle", "GET", "/phones/dist/sipjs.js", withDist, 404, "", ""},
		{"no bundle dir", "GET", "/phones/dist/jssip.js", noDist, 404, "", ""},
		{"pages without bundles", "GET", "/phones/jssip.html", noDist, 200, "dist/jssip.js", "text/html"},
		{"no listing", "GET", "/phones/", withDist, 404, "", ""},
		{"no dist listing", "GET", "/phones/dist/", withDist, 404, "", ""},
		{"no escape", "GET", "/phones/dist/..%2f..%2fphones.go", withDist, 404, "", ""},
		{"read only", "POST", "/phones/jssip.html", withDist, 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, rec.Code, tc.code)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tc.ctype)
			}
		})
	}
}

func TestFindPhonesDist(t *testing.T) {
	root := t.TempDir()
	dist := filepath.Join(root, filepath.FromSlash(PhonesDistDir))
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(root, "e2e")
	if err := os.Mkdir(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cwd, want string
		err             error
	}{
		{"module root", root, dist, nil},
		{"package directory", pkg, dist, nil},
		{"elsewhere", t.TempDir(), "", ErrNoPhonesDist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(tc.cwd)
			got, err := FindPhonesDist()
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("FindPhonesDist() = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
