// Package http is pixpool's web tier: the server-rendered web UI, the JSON
// API /api/v1 and the course's compatibility API /api. It keeps no state
// of its own (sessions live in the store), so any number of replicas can
// serve one user.
package http

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/backup"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server serves every HTTP route. Set the fields, then use Handler.
type Server struct {
	Accounts *service.Accounts
	Images   *service.Images
	// Store is pinged by /readyz; the admin pages list images and users
	// and read the stats history from it.
	Store pixpool.Store
	// Manager runs the cache pool (its nodes, size, mode and stats); nil
	// when serve runs without a cache.
	Manager *manager.Manager
	// Analyzer holds the recognition results; nil when it is off.
	Analyzer *service.Analyzer
	// Shares makes and opens share links; if nil, one over Store and
	// Images.
	Shares *service.Shares
	// Backups takes, lists and restores backups for the admin portal and
	// API; nil answers their backup routes 503.
	Backups *backup.Service
	// Activity, if set, notes every request, so that background work
	// (analysis) gives way to serving.
	Activity *service.Activity
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
	// CompatUser, if set, names the account that credential-less /api
	// calls act as, with its rights but not its admin powers: they may
	// upload, list, read and delete its own images, and the pool endpoints
	// refuse them. Off by default: /api then needs an API key or session.
	CompatUser string
	// CompatAdmin gives credential-less /api calls CompatUser's admin
	// powers too: the pool endpoints (getNumNodes, getRate,
	// configure_cache) and a delete_all of every user's images. It means
	// nothing without CompatUser, and CompatUser must be an admin for it
	// to open anything. Off by default.
	CompatAdmin bool
	// SecureCookies marks cookies Secure even for plain-HTTP requests, as
	// behind a proxy that terminates TLS. Under TLS they always are.
	SecureCookies bool
	// TrustedProxies are the proxies in front of the server. From a
	// connection that comes from one of them, the client address (for
	// login and sign-up pacing) is the right-most X-Forwarded-For entry
	// that is not a trusted proxy: entries to its left are whatever the
	// client sent. Empty: the connection's address, X-Forwarded-For
	// ignored. LocalProxies are the usual ranges.
	TrustedProxies []netip.Prefix
	// BodyIdleTimeout closes the connection of a request whose body sends
	// nothing for this long (a stalled upload); a slow upload that keeps
	// sending may take as long as it needs. If zero, 30 s
	// (DefaultBodyIdleTimeout).
	BodyIdleTimeout time.Duration
	// ImageURL, if set, gives a short-lived URL that serves an image's
	// bytes (a presigned S3 URL) with the Content-Disposition given, if
	// any; images of more than ImageURLAbove bytes are redirected there
	// rather than sent (large.go): Lambda's answers hold at most 6 MB.
	ImageURL      func(ctx context.Context, img *pixpool.Image, disposition string) (string, error)
	ImageURLAbove int64
	// Hosts are the names the server answers to, as browsers reach it
	// (e.g. photos.example.com; a port is ignored). If set, a request
	// for any other name is refused with 403, wherever it goes: the
	// defence against DNS rebinding, which makes another site's page
	// same-origin with the server. Localhost, names under .localhost and
	// IP addresses are always answered. If empty, every name is, except
	// that credential-less compatibility calls (CompatUser) need one of
	// those local names.
	Hosts []string

	once      sync.Once
	handler   http.Handler
	pages     map[string]*template.Template
	apiRoutes []string // patterns of /api/v1, for the OpenAPI test
	cop       *http.CrossOriginProtection
	hostHint  sync.Once // logs once that Hosts would refuse unknown names
	metrics   metrics   // Prometheus registry and instruments (metrics.go)
}

func (s *Server) logger() *slog.Logger { return cmp.Or(s.Logger, slog.Default()) }

// Handler returns the server's root handler, built on first use.
func (s *Server) Handler() http.Handler {
	s.once.Do(func() {
		s.pages = parsePages()
		// Cross-origin protection refuses state-changing requests that a
		// browser marks as coming from another site (Sec-Fetch-Site,
		// Origin); the forms carry a per-session token as well.
		s.cop = http.NewCrossOriginProtection()
		s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, r, errCrossSite)
		}))
		mux := http.NewServeMux()
		s.routes(mux)
		s.handler = s.limitIdleBodies(s.track(s.instrument(s.recoverer(s.logRequests(s.checkHosts(s.cop.Handler(s.authenticate(keyPaths(matched(mux))))))))))
	})
	return s.handler
}

func (s *Server) routes(mux *http.ServeMux) {
	// Health.
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /metrics", s.handleMetrics) // admins only; see metrics.go
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheOneHour(http.FileServerFS(static))))

	// Web UI: pages take keys in the query string, so that any key, even
	// one with slashes or dots, has a stable URL.
	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("GET /signup", s.handleSignupForm)
	mux.HandleFunc("POST /signup", s.handleSignup)
	mux.HandleFunc("GET /login", s.handleLoginForm)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.handleLogout)
	mux.HandleFunc("GET /setup", s.handleSetupForm)
	mux.HandleFunc("POST /setup", s.handleSetup)
	mux.HandleFunc("GET /upload", s.requireUser(s.handleUploadForm))
	mux.HandleFunc("POST /upload", s.requireUser(s.handleUpload))
	mux.HandleFunc("GET /get", s.requireUser(s.handleGetForm))
	mux.HandleFunc("GET /images", s.requireUser(s.handleGallery))
	mux.HandleFunc("GET /image", s.requireUser(s.handleImagePage))
	mux.HandleFunc("GET /search", s.requireUser(s.handleSearch))
	mux.HandleFunc("GET /raw", s.requireUser(s.handleRaw))
	mux.HandleFunc("GET /thumb", s.requireUser(s.handleThumb))
	mux.HandleFunc("GET /original", s.requireUser(s.handleOriginal))
	mux.HandleFunc("POST /image/delete", s.requireUser(s.handleImageDelete))
	mux.HandleFunc("POST /image/analyze", s.requireUser(s.handleReanalyze))
	mux.HandleFunc("GET /profile", s.requireUser(s.handleProfile))
	mux.HandleFunc("POST /profile", s.requireUser(s.handleProfileSave))
	mux.HandleFunc("POST /profile/password", s.requireUser(s.handlePasswordChange))
	mux.HandleFunc("POST /profile/apikeys", s.requireUser(s.handleAPIKeyCreate))
	mux.HandleFunc("POST /profile/apikeys/delete", s.requireUser(s.handleAPIKeyDelete))
	s.adminRoutes(mux)
	s.shareRoutes(mux) // public /s/<token> and the owner's /shares

	// JSON API; every route here must be in openapi.json (a test checks).
	api := func(pattern string, h http.HandlerFunc) {
		s.apiRoutes = append(s.apiRoutes, pattern)
		mux.HandleFunc(pattern, s.requireAPIUser(h))
	}
	mux.HandleFunc("GET /api/v1/openapi.json", s.handleOpenAPI)
	api("GET /api/v1/me", s.handleAPIMe)
	api("GET /api/v1/images", s.handleAPIList)
	api("POST /api/v1/images", s.handleAPIUploadForm)
	api("PUT /api/v1/images/{key...}", s.handleAPIPut)
	api("GET /api/v1/images/{key...}", s.handleAPIGet)
	api("DELETE /api/v1/images/{key...}", s.handleAPIDelete)
	api("GET /api/v1/info/{key...}", s.handleAPIInfo)
	api("GET /api/v1/originals/{key...}", s.handleAPIOriginal)
	api("GET /api/v1/variants/sign/{key...}", s.handleAPIVariantSign)
	api("GET /api/v1/analysis/{key...}", s.handleAPIAnalysis)
	api("POST /api/v1/analysis/{key...}", s.handleAPIReanalyze)
	api("GET /api/v1/search", s.handleAPISearch)
	api("GET /api/v1/apikeys", s.handleAPIKeysList)
	api("POST /api/v1/apikeys", s.handleAPIKeysCreate)
	api("DELETE /api/v1/apikeys/{id}", s.handleAPIKeysDelete)
	s.adminAPIRoutes(api)
	s.shareAPIRoutes(api)
	mux.HandleFunc("/api/v1/", s.handleAPINotFound)

	// The course's compatibility API: GET or POST, exact shapes; the
	// routes that change state are behind compatChanges (compat_auth.go).
	mux.HandleFunc("/api/list_keys", s.compat(s.handleCompatListKeys))
	mux.HandleFunc("/api/key/{key...}", s.compat(s.handleCompatKey))
	mux.HandleFunc("/api/upload", s.compatChanges(s.compat(s.handleCompatUpload)))
	mux.HandleFunc("/api/delete_all", s.compatChanges(s.compat(s.handleCompatDeleteAll)))
	mux.HandleFunc("/api/getNumNodes", s.compatPool(s.handleCompatNumNodes))
	mux.HandleFunc("/api/getRate", s.compatPool(s.handleCompatRate))
	mux.HandleFunc("/api/getRate/{$}", s.compatPool(s.handleCompatRate))
	mux.HandleFunc("/api/configure_cache", s.compatChanges(s.compatPool(s.handleCompatConfigure)))
}

// cacheOneHour lets browsers and proxies keep the static files for an
// hour.
func cacheOneHour(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.Store.Ping(ctx); err != nil {
		s.logger().Warn("not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "metadata store unavailable")
		return
	}
	fmt.Fprintln(w, "ready")
}

// statusWriter records the status and size of a response for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// track notes each request in s.Activity, if set.
func (s *Server) track(next http.Handler) http.Handler {
	if s.Activity == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.Activity.Begin()()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		// Checked first: the arguments alone cost allocations on every
		// request, logged or not.
		if l := s.logger(); l.Enabled(r.Context(), slog.LevelDebug) {
			l.Debug("http", "method", r.Method, "path", redactSharePath(r.URL.Path), "status", sw.status,
				"bytes", sw.bytes, "dur", time.Since(start).Round(time.Microsecond))
		}
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger().Error("panic", "method", r.Method, "path", redactSharePath(r.URL.Path), "panic", v, "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// LocalProxies are the loopback and private ranges (RFC 1918, IPv6
// unique local), where a reverse proxy in front of pixpool usually is;
// serve's --trust-proxy trusts them.
var LocalProxies = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one address of X-Forwarded-For or RemoteAddr, with or
// without a port, IPv4-mapped IPv6 as IPv4.
func parseHop(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	a, err := netip.ParseAddr(h)
	if err != nil {
		ap, err := netip.ParseAddrPort(h)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// clientIP is the address login and sign-up pacing count against: the
// connection's, or behind trusted proxies the right-most X-Forwarded-For
// hop that is not one (every header line counts, in order). A hop that
// cannot be read stops the walk at the last one that could: the client
// cannot pick its key by writing nonsense, since nonsense only ever
// stands left of the hop a trusted proxy added.
func (s *Server) clientIP(r *http.Request) string {
	addr, ok := parseHop(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !s.trustedProxy(addr) {
		return addr.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		addr = a
		if !s.trustedProxy(a) {
			break
		}
	}
	return addr.String()
}

// errCrossSite answers a state-changing request that a browser marks as
// coming from another site.
var errCrossSite = pixpool.Errorf(pixpool.EFORBIDDEN, "Cross-site request refused.")

// fail answers an error in the form the route speaks: JSON under /api/v1,
// the compatibility shape under /api, an HTML page elsewhere.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/v1/"):
		s.Error(w, r, err)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		s.compatError(w, r, err)
	default:
		s.errorPage(w, r, err)
	}
}
