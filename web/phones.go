package web

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// PhonesDistDir is where `make browser-deps` writes the bundled SIP
// libraries (JsSIP, SIP.js) the phone pages load, relative to the module
// root. It is build output, never committed.
const PhonesDistDir = "web/phones/dist"

// ErrNoPhonesDist is returned by FindPhonesDist when no bundle directory is
// found: `make browser-deps` has not run.
var ErrNoPhonesDist = errors.New("no " + PhonesDistDir + " (run `make browser-deps`)")

// The pages and their shared script are committed and embedded; the bundles
// are not (a clean checkout must build before npm ran), so they are served
// from disk.
//
//go:embed phones/*.html phones/*.js
var phonePages embed.FS

// PhonesHandler serves the browser phone pages under /phones/: jssip.html
// and sipjs.html (JsSIP and SIP.js agents that register over SIP over
// WebSocket and auto-answer), phone.js, and the bundled libraries under
// /phones/dist/ read from distDir. An empty distDir serves the pages only;
// their scripts then answer 404. Mount it at "/phones/".
func PhonesHandler(distDir string) http.Handler {
	pages, err := fs.Sub(phonePages, "phones")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	mux := http.NewServeMux()
	mux.Handle("GET /phones/", http.StripPrefix("/phones/", noDirs(http.FileServerFS(pages))))
	if distDir != "" {
		mux.Handle("GET /phones/dist/", http.StripPrefix("/phones/dist/", noDirs(http.FileServer(http.Dir(distDir)))))
	}
	return mux
}

// noDirs answers 404 for directory paths instead of a listing.
func noDirs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// FindPhonesDist returns the bundle directory PhonesDistDir below the
// working directory or one of its parents (`make run` starts in the module
// root, tests in a package directory), or ErrNoPhonesDist.
func FindPhonesDist() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find phone bundles: %w", err)
	}
	for range 4 {
		cand := filepath.Join(dir, filepath.FromSlash(PhonesDistDir))
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", ErrNoPhonesDist
}
