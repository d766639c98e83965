package http

import (
	"bytes"
	"cmp"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// The web UI: server-rendered pages, one html/template file each, all
// cloned from templates/layout.html. Pages take image keys in the query
// string, and html/template escapes them wherever they land in a URL.

// pageCSP allows only our own scripts, styles and images (and data: images
// for the favicon), so that no inline script or style ever runs.
const pageCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"

// notices are the fixed texts that ?msg= may ask a page to show, so that a
// link can never make a page say anything else.
var notices = map[string]string{
	"saved":      "Profile saved.",
	"password":   "Password changed; your other sessions were logged out.",
	"deleted":    "Image deleted.",
	"keyrevoked": "API key revoked.",
}

// layout is what templates/layout.html shows around every page: the nav,
// who is logged in, the CSRF token for its forms, a notice and an error.
// Each page's type (homePage, adminPoolPage, ...) embeds it.
type layout struct {
	Title  string
	Nav    string        // which nav entry is the current page
	User   *pixpool.User // nil when logged out
	CSRF   string        // the session's token for state-changing forms
	Error  string
	Notice string
	// ErrorFor names the form an error belongs to on pages with several.
	ErrorFor string
	// Searchable: analysis is on, so the nav and gallery offer search.
	Searchable bool
}

var funcs = template.FuncMap{
	"bytes":    service.FormatBytes,
	"datetime": func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
	"isotime":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"date":     func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"sub":      func(a, b int) int { return a - b },
	// fontsize scales box captions with the image, since the SVG's
	// coordinates are the image's pixels.
	"fontsize": func(width int) int { return max(12, width/40) },
	// maxQuery is the longest search, for the search boxes' maxlength.
	"maxQuery": func() int { return pixpool.MaxSearchQueryBytes },
}

// parsePages parses every page once: layout.html, cloned for each other
// file in templates/, which fills in its "content" block.
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := make(map[string]*template.Template)
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		pages[base] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, name))
	}
	return pages
}

// page starts a page's layout with who is logged in and any notice.
func (s *Server) page(r *http.Request, title, nav string) layout {
	l := layout{Title: title, Nav: nav, Notice: cmp.Or(notices[r.URL.Query().Get("msg")], trashNotice(r.URL.Query()))}
	if a := authFrom(r.Context()); a.session != nil {
		l.User, l.CSRF = a.user, a.session.CSRFToken
		l.Searchable = s.Analyzer != nil
	}
	return l
}

func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store") // pages hold CSRF tokens and private data
}

// render writes a page; d is the page's type, which embeds layout. It
// renders into a buffer first, so a template failure becomes a clean 500
// rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, d any) {
	var buf bytes.Buffer
	t, ok := s.pages[name]
	if !ok {
		s.logger().Error("render: no such page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", d); err != nil {
		s.logger().Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header())
	setRetryAfter(w.Header(), status)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// wantsJSON reports whether a page request came from our script, which
// wants JSON answers rather than HTML.
func wantsJSON(r *http.Request) bool {
	return r.Header.Get("X-Requested-With") == "XMLHttpRequest" ||
		strings.Contains(r.Header.Get("Accept"), "application/json")
}

// redirect answers a POST with 303, so reloading does not post again.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// imageURL is the image page of key.
func imageURL(key string) string {
	return "/image?" + url.Values{"key": {key}}.Encode()
}
