package http

import (
	"context"
	"encoding/base64"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
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

// adminNotices are the portal's ?msg= texts, as notices in web.go.
var adminNotices = map[string]string{
	"cache":          "Cache settings applied to every node.",
	"cleared":        "The cache was cleared on every node.",
	"mode-auto":      "Automatic mode is on: the auto-scaler sizes the pool from its miss rate.",
	"mode-manual":    "Manual mode is on: the pool keeps the size you set.",
	"resized":        "The pool was resized.",
	"resized-auto":   "The pool was resized. Automatic mode is on, so the auto-scaler may change the size again.",
	"deleted-all":    "Every image was deleted and the cache cleared. Accounts were kept.",
	"promoted":       "The user is now an admin.",
	"demoted":        "The user is no longer an admin.",
	"disabled":       "The user is disabled: their sessions and API keys stopped working.",
	"enabled":        "The user is enabled again.",
	"backup-taken":   "Backup taken, stored and verified.",
	"backup-config":  "Backup schedule and retention saved.",
	"signup-mode":    "Sign-up mode saved.",
	"invite-deleted": "Invite deleted: its code no longer works.",
}

// errNoCachePool answers a portal action on the cache pool when serve
// runs without one.
var errNoCachePool = pixpool.Errorf(pixpool.EINVALID, "The cache pool is off (--cache-size 0): there is nothing to change.")

// deleteConfirmation must be typed to delete every image.
const deleteConfirmation = "DELETE"

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

// adminBase is what every portal page's Page holds.
type adminBase struct {
	Section string // the current sub-nav entry
	PoolOff bool   // serve runs without a cache pool
	Notice  string // shown below the sub-nav, not above it as the layout would
}

// portalBase starts a page's Page, taking over d's notice.
func (s *Server) portalBase(d *data, section string) adminBase {
	b := adminBase{Section: section, PoolOff: s.Pool == nil, Notice: d.Notice}
	d.Notice = ""
	return b
}

// adminData starts a portal page's data.
func (s *Server) adminData(r *http.Request, title string) *data {
	d := s.page(r, title, "admin")
	if d.Notice == "" {
		d.Notice = adminNotices[r.URL.Query().Get("msg")]
	}
	return d
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

// The dashboard.

// dashboardPage is the dashboard's Page.
type dashboardPage struct {
	adminBase
	Refresh    int
	Nodes, Up  int
	Mode       string
	CapacityMB int
	Policy     string
	HitRate    string // over the last minute, "—" without lookups
	Lookups    int64  // in the last minute
	Items      int64
	Bytes      int64
	Charts     []dashboardChart
	Updated    time.Time
}

// dashboardChart is one chart, inline, and the name of its SVG file.
type dashboardChart struct {
	Name string
	SVG  template.HTML
}

// chartHistory returns the pool's one-minute buckets of the dashboard's
// period, and the samples they come from, the last one the interval in
// progress.
func (s *Server) chartHistory(ctx context.Context, now time.Time) ([]manager.Bucket, []pixpool.PoolSample, error) {
	samples, err := s.poolSamples(ctx, now.Add(-(chartMinutes+1)*time.Minute), now)
	if err != nil {
		return nil, nil, err
	}
	return manager.Buckets(samples, now, chartMinutes), samples, nil
}

// poolSamples returns the pool's stats samples after since, ending, with a
// pool, with the interval in progress read from its nodes at now; without
// one (--cache-size 0), what an earlier run stored.
func (s *Server) poolSamples(ctx context.Context, since, now time.Time) ([]pixpool.PoolSample, error) {
	if s.Pool != nil {
		return s.Pool.Samples(ctx, since, now)
	}
	return s.Store.PoolSamples(ctx, since)
}

// handlePortalDashboard shows the pool now and charts of its last half
// hour, reloading itself.
func (s *Server) handlePortalDashboard(w http.ResponseWriter, r *http.Request) {
	d := s.adminData(r, "Admin")
	p := &dashboardPage{adminBase: s.portalBase(d, "dashboard"), Refresh: dashboardRefresh}
	d.Page = p
	if s.Pool == nil {
		s.render(w, r, http.StatusOK, "admin_dashboard.html", d)
		return
	}
	ctx := r.Context()
	now := time.Now().UTC()
	buckets, samples, err := s.chartHistory(ctx, now)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	st := s.Pool.State()
	p.Nodes, p.Mode, p.CapacityMB, p.Policy, p.Updated = len(st.Nodes), st.Mode, st.CapacityMB, st.Policy, now
	if n := len(samples); n > 0 { // the last one is the pool now
		p.Up, p.Items, p.Bytes = samples[n-1].Up, samples[n-1].Items, samples[n-1].Bytes
	}
	win := manager.Sum(samples, now.Add(-time.Minute), now)
	p.HitRate, p.Lookups = hitRateText(win.Lookups-win.Misses, win.Misses), win.Lookups
	for _, m := range chartMetrics {
		p.Charts = append(p.Charts, dashboardChart{Name: m.Name, SVG: template.HTML(chartOfMetric(m, buckets).SVG(false))})
	}
	s.render(w, r, http.StatusOK, "admin_dashboard.html", d)
}

// handlePortalChart serves one dashboard chart as an SVG file.
func (s *Server) handlePortalChart(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	m, known := chartMetricByName(name)
	if !ok || !known {
		s.errorPage(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "No such chart."))
		return
	}
	buckets, _, err := s.chartHistory(r.Context(), time.Now().UTC())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(chartOfMetric(m, buckets).SVG(true))
}

// Cache settings.

// cachePage is the cache settings' Page; the fields hold the form as
// typed.
type cachePage struct {
	adminBase
	CapacityMB string
	Policy     string
	Nodes      int
}

// renderCachePage renders the cache settings; p holds the form as typed,
// or nothing for the pool's settings.
func (s *Server) renderCachePage(w http.ResponseWriter, r *http.Request, status int, d *data, p *cachePage) {
	p.adminBase = s.portalBase(d, "cache")
	if s.Pool != nil {
		st := s.Pool.State()
		p.Nodes = len(st.Nodes)
		if p.CapacityMB == "" && p.Policy == "" {
			p.CapacityMB, p.Policy = strconv.Itoa(st.CapacityMB), st.Policy
		}
	}
	d.Page = p
	s.render(w, r, status, "admin_cache.html", d)
}

func (s *Server) handlePortalCache(w http.ResponseWriter, r *http.Request) {
	s.renderCachePage(w, r, http.StatusOK, s.adminData(r, "Cache settings"), &cachePage{})
}

// handlePortalCacheSave applies a capacity and a policy to every node. Both
// are checked before either is applied.
func (s *Server) handlePortalCacheSave(w http.ResponseWriter, r *http.Request) {
	d := s.adminData(r, "Cache settings")
	p := &cachePage{CapacityMB: strings.TrimSpace(r.PostFormValue("capacity_mb")), Policy: r.PostFormValue("policy")}
	var err error = errNoCachePool
	if s.Pool != nil {
		err = s.saveCacheSettings(r.Context(), p.CapacityMB, p.Policy)
	}
	if err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.renderCachePage(w, r, ErrorStatus(err), d, p)
		return
	}
	redirect(w, r, "/admin/cache?msg=cache")
}

func (s *Server) saveCacheSettings(ctx context.Context, capacity, policy string) error {
	mb, err := strconv.Atoi(capacity)
	if err != nil || mb < 1 || mb > 1<<20 {
		return pixpool.Errorf(pixpool.EINVALID, "The capacity must be a whole number of MB from 1 to %d, such as 64.", 1<<20)
	}
	p, err := manager.ParsePolicy(policy)
	if err != nil {
		return err
	}
	if err := s.Pool.SetCapacity(ctx, mb); err != nil {
		return err
	}
	return s.Pool.SetPolicy(ctx, p)
}

// handlePortalClear empties every cache node.
func (s *Server) handlePortalClear(w http.ResponseWriter, r *http.Request) {
	if s.Pool == nil {
		s.errorPage(w, r, errNoCachePool)
		return
	}
	if err := s.Pool.Clear(r.Context()); err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.logger().Info("cache cleared", "admin", authFrom(r.Context()).user.Username)
	to := "/admin/cache"
	if r.PostFormValue("from") == "cache-keys" {
		to = "/admin/cache-keys"
	}
	redirect(w, r, to+"?msg=cleared")
}

// The pool.

// modeForm is the auto-scaler's form as typed; rates are in percent.
type modeForm struct {
	Mode                     string
	MaxMiss, MinMiss         string
	Expand, Shrink, Cooldown string
	MinNodes, MaxNodes       string
}

func formFromParams(mode string, p autoscale.Params) modeForm {
	pc := func(rate float64) string { return strconv.FormatFloat(math.Round(rate*1e6)/1e4, 'f', -1, 64) }
	fl := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return modeForm{
		Mode: mode, MaxMiss: pc(p.MaxMiss), MinMiss: pc(p.MinMiss), Expand: fl(p.Expand), Shrink: fl(p.Shrink),
		Cooldown: strconv.FormatInt(int64(p.Cooldown/time.Second), 10),
		MinNodes: strconv.Itoa(p.MinNodes), MaxNodes: strconv.Itoa(p.MaxNodes),
	}
}

// params reads the form. The rates are checked here, where the messages
// can speak in percent as the form does; Params.Validate checks the rest.
func (f modeForm) params() (autoscale.Params, error) {
	var p autoscale.Params
	num := func(s, msg string) (float64, error) {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, pixpool.Errorf(pixpool.EINVALID, "%s", msg)
		}
		return v, nil
	}
	whole := func(s, msg string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, pixpool.Errorf(pixpool.EINVALID, "%s", msg)
		}
		return v, nil
	}
	maxMiss, err := num(f.MaxMiss, "The max miss rate must be a number of percent, such as 50.")
	if err != nil {
		return p, err
	}
	minMiss, err := num(f.MinMiss, "The min miss rate must be a number of percent, such as 10.")
	if err != nil {
		return p, err
	}
	switch {
	case maxMiss <= 0 || maxMiss > 100:
		return p, pixpool.Errorf(pixpool.EINVALID, "The max miss rate must be above 0%% and at most 100%%.")
	case minMiss < 0 || minMiss >= 100:
		return p, pixpool.Errorf(pixpool.EINVALID, "The min miss rate must be at least 0%% and below 100%%.")
	case minMiss >= maxMiss:
		return p, pixpool.Errorf(pixpool.EINVALID, "The min miss rate must be below the max miss rate.")
	}
	p.MaxMiss, p.MinMiss = maxMiss/100, minMiss/100
	if p.Expand, err = num(f.Expand, "The expand ratio must be a number, such as 2."); err != nil {
		return p, err
	}
	if p.Shrink, err = num(f.Shrink, "The shrink ratio must be a number, such as 0.5."); err != nil {
		return p, err
	}
	cooldown, err := whole(f.Cooldown, "The cooldown must be a whole number of seconds, such as 120.")
	if err != nil {
		return p, err
	}
	if cooldown < 0 || cooldown > 24*3600 {
		return p, pixpool.Errorf(pixpool.EINVALID, "The cooldown must be between 0 and 86400 seconds (24 hours).")
	}
	p.Cooldown = time.Duration(cooldown) * time.Second
	if p.MinNodes, err = whole(f.MinNodes, "The minimum pool size must be a whole number of nodes."); err != nil {
		return p, err
	}
	if p.MaxNodes, err = whole(f.MaxNodes, "The maximum pool size must be a whole number of nodes."); err != nil {
		return p, err
	}
	return p, nil
}

// nodeRow is one line of the node list.
type nodeRow struct {
	ID, Addr               string
	Up                     bool
	Items, Bytes, Capacity int64
	HitRate                string
}

// resizeRow is one line of the resize history.
type resizeRow struct {
	manager.Resize
	Took string
}

// poolPage is the pool page's Page.
type poolPage struct {
	adminBase
	Size, MaxSize int
	Mode          string
	Fixed         bool // a static list of nodes: no resizing, no automatic mode
	Form          modeForm
	Nodes         []nodeRow
	History       []resizeRow // newest first
}

// renderPoolPage renders the pool page; form, if not nil, is the mode form as
// typed.
func (s *Server) renderPoolPage(w http.ResponseWriter, r *http.Request, status int, d *data, form *modeForm) {
	p := &poolPage{adminBase: s.portalBase(d, "pool")}
	d.Page = p
	if s.Pool == nil {
		s.render(w, r, status, "admin_pool.html", d)
		return
	}
	st := s.Pool.State()
	p.Size, p.MaxSize, p.Mode, p.Fixed = len(st.Nodes), s.Pool.MaxSize(), st.Mode, s.Pool.Provider == nil
	p.Form = formFromParams(st.Mode, st.Auto)
	if form != nil {
		p.Form = *form
	}
	for _, ns := range s.Pool.Stats(r.Context()) {
		p.Nodes = append(p.Nodes, nodeRow{ID: ns.ID, Addr: ns.Addr, Up: ns.Up, Items: ns.Items, Bytes: ns.Bytes,
			Capacity: ns.Capacity, HitRate: hitRateText(ns.Hits, ns.Misses)})
	}
	for _, rs := range slices.Backward(st.Resizes) {
		p.History = append(p.History, resizeRow{Resize: rs, Took: rs.Took.Round(time.Millisecond).String()})
	}
	s.render(w, r, status, "admin_pool.html", d)
}

func (s *Server) handlePortalPool(w http.ResponseWriter, r *http.Request) {
	s.renderPoolPage(w, r, http.StatusOK, s.adminData(r, "Cache pool"), nil)
}

// handlePortalPoolMode switches between manual and automatic sizing and
// saves the auto-scaler's settings.
func (s *Server) handlePortalPoolMode(w http.ResponseWriter, r *http.Request) {
	d := s.adminData(r, "Cache pool")
	f := modeForm{
		Mode: r.PostFormValue("mode"), MaxMiss: r.PostFormValue("max_miss"), MinMiss: r.PostFormValue("min_miss"),
		Expand: r.PostFormValue("expand"), Shrink: r.PostFormValue("shrink"), Cooldown: r.PostFormValue("cooldown"),
		MinNodes: r.PostFormValue("min_nodes"), MaxNodes: r.PostFormValue("max_nodes"),
	}
	var err error = errNoCachePool
	if s.Pool != nil {
		var p autoscale.Params
		if p, err = f.params(); err == nil {
			err = s.Pool.SetMode(r.Context(), f.Mode, p)
		}
	}
	if err != nil {
		s.logError(r, err)
		d.Error, d.ErrorFor = pixpool.ErrorMessage(err), "mode"
		s.renderPoolPage(w, r, ErrorStatus(err), d, &f)
		return
	}
	redirect(w, r, "/admin/pool?msg=mode-"+f.Mode)
}

// handlePortalPoolSize resizes the pool to n nodes, or by delta (+1, -1)
// from its size now. It answers once the new layout is in effect.
func (s *Server) handlePortalPoolSize(w http.ResponseWriter, r *http.Request) {
	d := s.adminData(r, "Cache pool")
	var err error = errNoCachePool
	if s.Pool != nil {
		err = s.resize(r)
	}
	if err != nil {
		s.logError(r, err)
		d.Error, d.ErrorFor = pixpool.ErrorMessage(err), "size"
		s.renderPoolPage(w, r, ErrorStatus(err), d, nil)
		return
	}
	msg := "resized"
	if st := s.Pool.State(); st.Mode == manager.ModeAuto {
		msg = "resized-auto"
	}
	redirect(w, r, "/admin/pool?msg="+msg)
}

func (s *Server) resize(r *http.Request) error {
	var n int
	if delta := r.PostFormValue("delta"); delta != "" {
		dn, err := strconv.Atoi(delta)
		if err != nil {
			return pixpool.Errorf(pixpool.EINVALID, "The change in size must be a whole number of nodes.")
		}
		n = s.Pool.Size() + dn
	} else {
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(r.PostFormValue("n"))); err != nil {
			return pixpool.Errorf(pixpool.EINVALID, "The pool size must be a whole number of nodes.")
		}
	}
	admin := authFrom(r.Context()).user.Username
	rep, err := s.Pool.Resize(r.Context(), n, "manual: by "+admin+" in the admin portal")
	if err == nil {
		s.logger().Info("pool resized", "admin", admin, "from", rep.From, "to", rep.To, "moved", rep.Moved, "took", rep.Took)
	}
	return err
}

// Database keys.

// imageRow is one stored image with its owner's name.
type imageRow struct {
	Owner string
	*pixpool.Image
}

// imagesPage is the image list's Page.
type imagesPage struct {
	adminBase
	Owner, Prefix string // the filter as typed
	NoOwner       bool   // Owner names no user
	Rows          []imageRow
	Pager         pager
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

// handlePortalImages lists every stored image, by owner then key, filtered
// by owner and key prefix.
func (s *Server) handlePortalImages(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := s.adminData(r, "Stored images")
	q := r.URL.Query()
	p := &imagesPage{adminBase: s.portalBase(d, "images"), Owner: strings.TrimSpace(q.Get("owner")), Prefix: q.Get("prefix")}
	d.Page = p
	f := pixpool.ImageFilter{Prefix: p.Prefix, Offset: offsetParam(r), Limit: adminPageSize}
	if p.Owner != "" {
		u, err := s.Store.UserByUsername(ctx, p.Owner)
		if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
			p.NoOwner = true
			s.render(w, r, http.StatusOK, "admin_images.html", d)
			return
		} else if err != nil {
			s.errorPage(w, r, err)
			return
		}
		f.OwnerID = u.ID
	}
	total, err := s.Store.CountImages(ctx, f)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	imgs, err := s.Store.Images(ctx, f)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	names := &ownerNames{s: s}
	for _, img := range imgs {
		p.Rows = append(p.Rows, imageRow{Owner: names.name(ctx, img.OwnerID), Image: img})
	}
	p.Pager = listPager(f.Offset, len(imgs), total, adminPageSize, func(off int) string {
		return pageURL("/admin/images", url.Values{"owner": {p.Owner}, "prefix": {p.Prefix}, "offset": {offsetValue(off)}})
	})
	s.render(w, r, http.StatusOK, "admin_images.html", d)
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

// Cache keys.

// keyRow is one item of a node, with the image it holds where its cache
// key can be read back.
type keyRow struct {
	Pos        int // in LRU order, 1 = least recently used
	CacheKey   string
	Owner, Key string // "" when the cache key is not an image's
	Hashed     bool   // a long key, cached under its hash
	Size       int64
	LastAccess time.Time
	Seen       string // LastAccess to the second, which LRU order turns on
}

// keysPage is the cache keys' Page.
type keysPage struct {
	adminBase
	Nodes []string
	Node  string
	Rows  []keyRow
	Total int
	Page  int // 1-based
	Pages int
	Pager pager
}

// decodeCacheKey reads service.CacheKey back: "i:<owner>:<base64url key>",
// or "i:<owner>:#<sha256>" for a long key.
func decodeCacheKey(ck string) (owner int64, key string, hashed, ok bool) {
	rest, ok := strings.CutPrefix(ck, "i:")
	if !ok {
		return 0, "", false, false
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", false, false
	}
	owner, err := strconv.ParseInt(id, 10, 64)
	if err != nil || owner <= 0 {
		return 0, "", false, false
	}
	if strings.HasPrefix(enc, "#") {
		return owner, "", true, true
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return 0, "", false, false
	}
	return owner, string(b), false, true
}

// handlePortalCacheKeys lists a node's keys, least recently used first.
func (s *Server) handlePortalCacheKeys(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := s.adminData(r, "Cache keys")
	p := &keysPage{adminBase: s.portalBase(d, "cache-keys")}
	d.Page = p
	if s.Pool == nil {
		s.render(w, r, http.StatusOK, "admin_keys.html", d)
		return
	}
	for _, n := range s.Pool.State().Nodes {
		p.Nodes = append(p.Nodes, n.ID)
	}
	q := r.URL.Query()
	p.Node = q.Get("node")
	if p.Node == "" && len(p.Nodes) > 0 {
		p.Node = p.Nodes[0]
	}
	if p.Node == "" {
		s.render(w, r, http.StatusOK, "admin_keys.html", d)
		return
	}
	keys, err := s.Pool.Keys(ctx, p.Node)
	if err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "admin_keys.html", d)
		return
	}
	p.Total = len(keys)
	p.Pages = max(1, (p.Total+cacheKeysPerPage-1)/cacheKeysPerPage)
	p.Page, _ = strconv.Atoi(q.Get("page"))
	p.Page = min(max(p.Page, 1), p.Pages)
	from := (p.Page - 1) * cacheKeysPerPage
	shown := keys[from:min(from+cacheKeysPerPage, len(keys))]
	names := &ownerNames{s: s}
	for i, k := range shown {
		row := keyRow{Pos: from + i + 1, CacheKey: k.Key, Size: k.Size, LastAccess: k.LastAccess,
			Seen: k.LastAccess.UTC().Format("2 Jan 2006, 15:04:05 UTC")}
		if owner, key, hashed, ok := decodeCacheKey(k.Key); ok {
			row.Owner, row.Key, row.Hashed = names.name(ctx, owner), key, hashed
		}
		p.Rows = append(p.Rows, row)
	}
	p.Pager = listPager(from, len(shown), p.Total, cacheKeysPerPage, func(off int) string {
		page := ""
		if off > 0 {
			page = strconv.Itoa(off/cacheKeysPerPage + 1)
		}
		return pageURL("/admin/cache-keys", url.Values{"node": {p.Node}, "page": {page}})
	})
	s.render(w, r, http.StatusOK, "admin_keys.html", d)
}

// Deleting everything.

// deletePage is the delete-all confirmation's Page.
type deletePage struct {
	adminBase
	Images  int
	Confirm string // what to type
}

// renderDeletePage renders the delete-all confirmation with the number of
// images it would delete.
func (s *Server) renderDeletePage(w http.ResponseWriter, r *http.Request, status int, d *data) {
	n, err := s.Store.CountImages(r.Context(), pixpool.ImageFilter{})
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d.Page = &deletePage{adminBase: s.portalBase(d, "delete-all"), Images: n, Confirm: deleteConfirmation}
	s.render(w, r, status, "admin_delete.html", d)
}

func (s *Server) handlePortalDeleteForm(w http.ResponseWriter, r *http.Request) {
	s.renderDeletePage(w, r, http.StatusOK, s.adminData(r, "Delete all images"))
}

// handlePortalDeleteAll deletes every image's bytes and metadata and clears
// the cache, once DELETE has been typed; accounts stay.
func (s *Server) handlePortalDeleteAll(w http.ResponseWriter, r *http.Request) {
	d := s.adminData(r, "Delete all images")
	if strings.TrimSpace(r.PostFormValue("confirm")) != deleteConfirmation {
		d.Error = "Type " + deleteConfirmation + " in capitals to confirm. Nothing was deleted."
		s.renderDeletePage(w, r, http.StatusBadRequest, d)
		return
	}
	n, err := s.Images.DeleteAll(r.Context())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.logger().Info("admin deleted all images", "admin", authFrom(r.Context()).user.Username, "images", n)
	redirect(w, r, "/admin/delete-all?msg=deleted-all")
}

// Users.

// usersPage is the user list's Page.
type usersPage struct {
	adminBase
	Users  []*pixpool.User
	SelfID int64
	Offset int
	Pager  pager
}

// renderUsersPage renders a page of users from offset.
func (s *Server) renderUsersPage(w http.ResponseWriter, r *http.Request, status int, d *data, offset int) {
	users, err := s.Store.Users(r.Context(), offset, adminPageSize+1)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	p := &usersPage{adminBase: s.portalBase(d, "users"), SelfID: d.User.ID, Offset: offset}
	more := len(users) > adminPageSize
	if more {
		users = users[:adminPageSize]
	}
	p.Users = users
	p.Pager = listPager(offset, len(users), -1, adminPageSize, func(off int) string {
		return pageURL("/admin/users", url.Values{"offset": {offsetValue(off)}})
	})
	if !more {
		p.Pager.Next = ""
	}
	d.Page = p
	s.render(w, r, status, "admin_users.html", d)
}

func (s *Server) handlePortalUsers(w http.ResponseWriter, r *http.Request) {
	s.renderUsersPage(w, r, http.StatusOK, s.adminData(r, "Users"), offsetParam(r))
}

// userAction reads a user action's id, flag and list offset.
func userAction(r *http.Request, flag string) (id int64, on bool, offset int, err error) {
	offset, _ = strconv.Atoi(r.PostFormValue("offset"))
	offset = max(offset, 0)
	id, err = strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		return 0, false, offset, pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	}
	on, err = strconv.ParseBool(r.PostFormValue(flag))
	if err != nil {
		return 0, false, offset, pixpool.Errorf(pixpool.EINVALID, "%s must be true or false.", flag)
	}
	return id, on, offset, nil
}

// handlePortalUserAdmin promotes a user to admin or demotes one.
func (s *Server) handlePortalUserAdmin(w http.ResponseWriter, r *http.Request) {
	s.userAction(w, r, "make", s.SetUserAdmin, "promoted", "demoted")
}

// handlePortalUserDisable disables or enables a user.
func (s *Server) handlePortalUserDisable(w http.ResponseWriter, r *http.Request) {
	s.userAction(w, r, "disable", s.SetUserDisabled, "disabled", "enabled")
}

func (s *Server) userAction(w http.ResponseWriter, r *http.Request, flag string,
	act func(ctx context.Context, actor *pixpool.User, id int64, on bool) (*pixpool.User, error), onMsg, offMsg string) {
	d := s.adminData(r, "Users")
	id, on, offset, err := userAction(r, flag)
	if err == nil {
		_, err = act(r.Context(), d.User, id, on)
	}
	if err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.renderUsersPage(w, r, ErrorStatus(err), d, offset)
		return
	}
	msg := offMsg
	if on {
		msg = onMsg
	}
	redirect(w, r, pageURL("/admin/users", url.Values{"offset": {offsetValue(offset)}, "msg": {msg}}))
}

// SetUserAdmin grants (admin true) or removes user id's admin rights on
// behalf of actor; the portal and /api/v1/admin share it. Admins cannot
// demote themselves, and the last admin stays one. A missing user is
// ENOTFOUND; a refusal EINVALID.
func (s *Server) SetUserAdmin(ctx context.Context, actor *pixpool.User, id int64, admin bool) (*pixpool.User, error) {
	u, err := s.Store.User(ctx, id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	} else if err != nil {
		return nil, err
	}
	if u.Admin == admin {
		return u, nil
	}
	if !admin {
		if u.ID == actor.ID {
			return nil, pixpool.Errorf(pixpool.EINVALID, "You cannot remove your own admin rights; another admin can.")
		}
		// Not atomic with the update; but as nobody can demote themselves,
		// the actor stays an admin but in a race of two admins demoting
		// each other at the same moment.
		n, err := s.Store.CountAdmins(ctx)
		if err != nil {
			return nil, err
		}
		if n <= 1 {
			return nil, pixpool.Errorf(pixpool.EINVALID, "%s is the last admin; make another user an admin first.", u.Username)
		}
	}
	u.Admin = admin
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	s.logger().Info("user admin rights changed", "user", u.Username, "admin", admin, "by", actor.Username)
	return u, nil
}

// SetUserDisabled disables or enables user id on behalf of actor; the
// portal and /api/v1/admin share it. A disabled user's sessions are
// deleted, and their API keys stop working because authentication checks
// the flag. Admins cannot disable themselves. A missing user is ENOTFOUND.
func (s *Server) SetUserDisabled(ctx context.Context, actor *pixpool.User, id int64, disabled bool) (*pixpool.User, error) {
	if disabled && id == actor.ID {
		return nil, pixpool.Errorf(pixpool.EINVALID, "You cannot disable your own account.")
	}
	u, err := s.Store.User(ctx, id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	} else if err != nil {
		return nil, err
	}
	if u.Disabled != disabled {
		u.Disabled = disabled
		if err := s.Store.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
	}
	if disabled {
		if err := s.Store.DeleteUserSessions(ctx, u.ID, ""); err != nil {
			return nil, err
		}
	}
	s.logger().Info("user disabled state changed", "user", u.Username, "disabled", disabled, "by", actor.Username)
	return u, nil
}
