package http

import (
	"cmp"
	"context"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
)

// The admin portal: server-rendered pages for running the cache pool and
// the data, for admins only (requireAdmin answers everyone else 404, or
// sends them to log in). Every page shares the sub-nav and pager of
// templates/admin_common.html; a page that needs the pool says so when
// serve runs without one.

// Portal sizes.
const (
	adminPageSize    = 50  // images and users per page
	cacheKeysPerPage = 100 // cache keys per page
	chartMinutes     = 30  // the dashboard's period, one chart value a minute
	dashboardRefresh = 30  // seconds between the dashboard's reloads
)

// adminNotices are the portal's ?msg= texts, as notices in layout.go.
var adminNotices = map[string]string{
	"cache":          "Cache settings applied to every node.",
	"cleared":        "The cache was cleared on every node.",
	"mode-auto":      "Automatic mode is on: the auto-scaler sizes the pool from its miss rate.",
	"mode-manual":    "Manual mode is on: the pool keeps the size you set.",
	"resized":        "The pool was resized.",
	"resized-auto":   "The pool was resized. Automatic mode is on, so the auto-scaler may change the size again.",
	"deleted-all":    "Every image and every trashed image was deleted for good and the cache cleared. Accounts were kept.",
	"promoted":       "The user is now an admin.",
	"demoted":        "The user is no longer an admin.",
	"disabled":       "The user is disabled: their sessions and API keys stopped working.",
	"enabled":        "The user is enabled again.",
	"backup-taken":   "Backup taken, stored and verified.",
	"backup-config":  "Backup schedule and retention saved.",
	"signup-mode":    "Sign-up mode saved.",
	"invite-deleted": "Invite deleted: its code no longer works.",
	"quota":          "Quota saved.",
	"policy":         "Storage policy saved.",
}

// adminRoutes registers the admin portal's pages.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	s.addAdminPages()
	mux.HandleFunc("GET /admin", s.requireAdmin(s.handlePortalDashboard))
	mux.HandleFunc("GET /admin/charts/{file}", s.requireAdmin(s.handlePortalChart))
	mux.HandleFunc("GET /admin/cache", s.requireAdmin(s.handlePortalCache))
	mux.HandleFunc("POST /admin/cache", s.requireAdmin(s.handlePortalCacheSave))
	mux.HandleFunc("POST /admin/clear", s.requireAdmin(s.handlePortalClear))
	mux.HandleFunc("GET /admin/pool", s.requireAdmin(s.handlePortalPool))
	mux.HandleFunc("POST /admin/pool/mode", s.requireAdmin(s.handlePortalPoolMode))
	mux.HandleFunc("POST /admin/pool/size", s.requireAdmin(s.handlePortalPoolSize))
	mux.HandleFunc("GET /admin/images", s.requireAdmin(s.handlePortalImages))
	mux.HandleFunc("GET /admin/cache-keys", s.requireAdmin(s.handlePortalCacheKeys))
	mux.HandleFunc("GET /admin/delete-all", s.requireAdmin(s.handlePortalDeleteForm))
	mux.HandleFunc("POST /admin/delete-all", s.requireAdmin(s.handlePortalDeleteAll))
	mux.HandleFunc("GET /admin/users", s.requireAdmin(s.handlePortalUsers))
	mux.HandleFunc("POST /admin/users/admin", s.requireAdmin(s.handlePortalUserAdmin))
	mux.HandleFunc("POST /admin/users/disable", s.requireAdmin(s.handlePortalUserDisable))
	mux.HandleFunc("POST /admin/users/quota", s.requireAdmin(s.handlePortalUserQuota))
	mux.HandleFunc("GET /admin/policy", s.requireAdmin(s.handlePortalPolicy))
	mux.HandleFunc("POST /admin/policy", s.requireAdmin(s.handlePortalPolicySave))
	mux.HandleFunc("GET /admin/signup", s.requireAdmin(s.handlePortalSignup))
	mux.HandleFunc("POST /admin/signup/mode", s.requireAdmin(s.handlePortalSignupMode))
	mux.HandleFunc("POST /admin/invites", s.requireAdmin(s.handlePortalInviteCreate))
	mux.HandleFunc("POST /admin/invites/delete", s.requireAdmin(s.handlePortalInviteDelete))
	mux.HandleFunc("GET /admin/backups", s.requireAdmin(s.handlePortalBackups))
	mux.HandleFunc("POST /admin/backups/create", s.requireAdmin(s.handlePortalBackupCreate))
	mux.HandleFunc("POST /admin/backups/config", s.requireAdmin(s.handlePortalBackupConfig))
	mux.HandleFunc("GET /admin/backups/{name}/download", s.requireAdmin(s.handlePortalBackupDownload))
	mux.HandleFunc("GET /admin/backups/restore", s.requireAdmin(s.handlePortalRestoreForm))
	mux.HandleFunc("POST /admin/backups/restore", s.requireAdmin(s.handlePortalRestore))
	mux.HandleFunc("POST /admin/backups/upload", s.requireAdmin(s.handlePortalRestoreUpload))
}

// addAdminPages parses the portal's pages into s.pages, which Handler
// fills before it registers routes: each is the layout, the shared parts
// of admin_common.html, and its own admin_*.html. (parsePages parses each
// alone too; those copies lack the shared parts and are replaced here.)
func (s *Server) addAdminPages() {
	base := template.Must(template.New("layout.html").Funcs(funcs).
		ParseFS(templateFS, "templates/layout.html", "templates/admin_common.html"))
	names, err := fs.Glob(templateFS, "templates/admin_*.html")
	if err != nil {
		panic(err)
	}
	if s.pages == nil {
		s.pages = make(map[string]*template.Template)
	}
	for _, name := range names {
		if path.Base(name) == "admin_common.html" {
			continue
		}
		s.pages[path.Base(name)] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, name))
	}
}

// adminLayout is what every portal page's type embeds: the layout, and
// what admin_common.html's sub-nav shows.
type adminLayout struct {
	layout
	Section string // the current sub-nav entry
	PoolOff bool   // serve runs without a cache pool
	// PortalNotice is shown below the sub-nav, not above it as the
	// layout's Notice (left empty) would be.
	PortalNotice string
}

// adminPage starts a portal page in section: the layout, with the notice
// that ?msg= asks for below the sub-nav.
func (s *Server) adminPage(r *http.Request, title, section string) adminLayout {
	l := s.page(r, title, "admin")
	notice := cmp.Or(l.Notice, adminNotices[r.URL.Query().Get("msg")])
	l.Notice = ""
	return adminLayout{layout: l, Section: section, PoolOff: s.Manager == nil, PortalNotice: notice}
}

// pager links a list's neighbouring pages; "" where there is none.
type pager struct {
	From, To, Total int // rows shown, 1-based, of Total (-1: unknown)
	Prev, Next      string
}

// pageURL is a portal list's URL with its query.
func pageURL(base string, q url.Values) string {
	for k, v := range q {
		if len(v) == 0 || v[0] == "" {
			delete(q, k)
		}
	}
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

// offsetParam reads a list offset; anything but a count is 0.
func offsetParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("offset"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// percentText writes a rate from 0 to 1 as a percentage with one decimal.
func percentText(rate float64) string {
	return strconv.FormatFloat(math.Round(rate*1000)/10, 'f', -1, 64) + "%"
}

// hitRateText is hits over lookups as a percentage, or "—" without lookups.
func hitRateText(hits, misses int64) string {
	if hits+misses <= 0 {
		return "—"
	}
	return percentText(float64(hits) / float64(hits+misses))
}

// ownerNames looks up user names by id, once each.
type ownerNames struct {
	s     *Server
	names map[int64]string
}

func (o *ownerNames) name(ctx context.Context, id int64) string {
	if n, ok := o.names[id]; ok {
		return n
	}
	if o.names == nil {
		o.names = make(map[int64]string)
	}
	n := "user #" + strconv.FormatInt(id, 10)
	if u, err := o.s.Store.User(ctx, id); err == nil {
		n = u.Username
	}
	o.names[id] = n
	return n
}

func offsetValue(off int) string {
	if off <= 0 {
		return ""
	}
	return strconv.Itoa(off)
}

// listPager links the pages around rows shown from offset; total is -1
// when unknown, and then a full page is taken to have a next one.
func listPager(offset, shown, total, size int, link func(offset int) string) pager {
	pg := pager{From: offset + 1, To: offset + shown, Total: total}
	if shown == 0 {
		pg.From = 0
	}
	if offset > 0 {
		pg.Prev = link(max(0, offset-size))
	}
	if (total >= 0 && offset+shown < total) || (total < 0 && shown == size) {
		pg.Next = link(offset + size)
	}
	return pg
}
