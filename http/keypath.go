package http

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// keyPrefixes are the routes whose path ends in an image key.
var keyPrefixes = []string{"/api/v1/images/", "/api/v1/info/", "/api/v1/analysis/", "/api/v1/originals/", "/api/key/", "/api/v1/variants/sign/"}

const keyCtx ctxKey = 1

// keyPaths takes the image key of key routes from the raw path before the
// mux sees it. A key may be "." or hold "//" or "/../": ServeMux would
// clean such a path and redirect, changing the key. The mux gets the same
// route with a clean placeholder instead, and handlers read pathKey.
func keyPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, prefix := range keyPrefixes {
			raw, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
			if !ok {
				continue
			}
			// GET and POST /api/v1/images/{key}/analysis are the analysis
			// routes (so a key ending in "/analysis" is read through
			// /api/v1/info or the web UI, not by GET here).
			if prefix == "/api/v1/images/" && (r.Method == http.MethodGet || r.Method == http.MethodPost) {
				if k, ok := strings.CutSuffix(raw, "/analysis"); ok {
					raw, prefix = k, "/api/v1/analysis/"
				}
			}
			key, err := url.PathUnescape(raw)
			if err != nil {
				key = "\x00" // refused by the handler's key check, with its message
			}
			r2 := r.WithContext(context.WithValue(r.Context(), keyCtx, key))
			u := *r.URL
			u.Path, u.RawPath = prefix+"key", ""
			r2.URL = &u
			next.ServeHTTP(w, r2)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pathKey returns the image key of a key route.
func pathKey(r *http.Request) string {
	key, _ := r.Context().Value(keyCtx).(string)
	return key
}
