package http

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/backup"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/service"
)

// The pool kinds (noPool, staticPool, localPool) and startCacheNode are
// shared with adminapi_test.go.

const adminPassword = "correct horse battery"

// portal is a Server with a real cache pool and an admin logged in.
type portal struct {
	env   *pixpooltest.Env
	srv   *Server
	ts    *httptest.Server
	m     *manager.Manager // nil with noPool
	admin *browser         // logged in as boss, an admin
	boss  *pixpool.User
}

func newPortal(t *testing.T, kind poolKind) *portal {
	t.Helper()
	ctx := context.Background()
	env := pixpooltest.New(t)
	p := &portal{env: env}
	p.srv = &Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger,
		Backups: &backup.Service{Store: env.Store, Blobs: env.Blobs, TempDir: t.TempDir(), Logger: env.Logger}}
	if kind != noPool {
		quiet := slog.New(slog.DiscardHandler)
		m := &manager.Manager{
			Store: env.Store, Pool: &pool.Client{Logger: quiet, ProbeEvery: 20 * time.Millisecond},
			Logger: quiet, Nodes: 2, CapacityMB: 8,
		}
		if kind == staticPool {
			m.Static = []string{startCacheNode(t), startCacheNode(t)}
		} else {
			m.Provider = &manager.LocalProvider{Logger: quiet}
		}
		if err := m.Open(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(); m.Pool.Close() })
		p.m, p.srv.Pool, env.Images.Cache = m, m, m.Pool
	}
	p.ts = httptest.NewServer(p.srv.Handler())
	t.Cleanup(p.ts.Close)

	p.boss = &pixpool.User{Username: "boss", FirstName: "Grace", LastName: "Hopper", Email: "boss@example.org",
		Birthday: time.Date(1980, 12, 9, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0001", Admin: true}
	if err := env.Accounts.CreateUser(ctx, p.boss, adminPassword); err != nil {
		t.Fatal(err)
	}
	p.admin = newBrowser(t, p.ts)
	if resp := p.admin.login("boss", adminPassword, "/admin"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login: status %d", resp.StatusCode)
	}
	return p
}

// user signs up a normal user in a browser of their own.
func (p *portal) user(t *testing.T, name string) (*browser, *pixpool.User) {
	t.Helper()
	b := newBrowser(t, p.ts)
	b.signUp(name)
	u, err := p.env.Store.UserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return b, u
}

// send posts a form with the browser's CSRF token.
func (b *browser) send(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf())
	return b.post(path, form)
}

func wantRedirect(t *testing.T, resp *http.Response, body, to string) {
	t.Helper()
	wantStatus(t, resp, body, http.StatusSeeOther)
	if got := resp.Header.Get("Location"); got != to {
		t.Fatalf("redirect to %q, want %q", got, to)
	}
}

func wantLacks(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Fatalf("page has %q:\n%s", s, body)
		}
	}
}

// adminPages are the portal's GET pages, each with a text it shows.
var adminPages = []struct{ path, text string }{
	{"/admin", "Dashboard"},
	{"/admin/cache", "Capacity per node (MB)"},
	{"/admin/pool", "Resize history"},
	{"/admin/images", "Stored images"},
	{"/admin/cache-keys", "Show keys"},
	{"/admin/delete-all", "Type <strong>DELETE</strong> to confirm"},
	{"/admin/users", "Make admin"},
	{"/admin/signup", "Create invite"},
	{"/admin/backups", "Back up now"},
	{"/admin/charts/miss-rate.svg", "Miss rate (%)"},
}

func TestAdmin_Access(t *testing.T) {
	p := newPortal(t, staticPool)
	ada, _ := p.user(t, "ada")
	ctx := context.Background()
	if err := p.m.Pool.Set(ctx, "some-key", []byte("v")); err != nil {
		t.Fatal(err)
	}
	anon := newBrowser(t, p.ts)

	for _, pg := range adminPages {
		t.Run(pg.path, func(t *testing.T) {
			resp, body := p.admin.get(pg.path)
			wantStatus(t, resp, body, http.StatusOK)
			wantContains(t, body, pg.text)
			if !strings.HasSuffix(pg.path, ".svg") {
				// The sub-nav lists every section and marks this one.
				wantContains(t, body, `aria-label="Admin sections"`, `href="/admin/pool"`, `href="/admin/users"`,
					`href="/admin/backups"`, `href="/admin/delete-all"`, `aria-current="page">`)
			}

			resp, body = ada.get(pg.path)
			wantStatus(t, resp, body, http.StatusNotFound)
			wantLacks(t, body, pg.text)

			resp, body = anon.get(pg.path)
			wantRedirect(t, resp, body, "/login?next="+url.QueryEscape(pg.path))
		})
	}

	t.Run("Actions", func(t *testing.T) {
		for _, path := range []string{"/admin/cache", "/admin/clear", "/admin/pool/mode", "/admin/pool/size",
			"/admin/delete-all", "/admin/users/admin", "/admin/users/disable",
			"/admin/backups/create", "/admin/backups/config", "/admin/backups/restore", "/admin/backups/upload"} {
			resp, body := ada.send(path, url.Values{"n": {"1"}, "confirm": {"DELETE"}})
			wantStatus(t, resp, body, http.StatusNotFound)
			resp, body = anon.post(path, url.Values{"n": {"1"}})
			wantStatus(t, resp, body, http.StatusUnauthorized)
		}
		if got := p.m.Stats(ctx); got[0].Items+got[1].Items != 1 {
			t.Fatal("a refused clear emptied the cache")
		}
	})

	t.Run("NavLink", func(t *testing.T) {
		_, body := p.admin.get("/")
		wantContains(t, body, `href="/admin"`)
		_, body = ada.get("/")
		wantLacks(t, body, `href="/admin"`)
	})

	t.Run("UnknownChart", func(t *testing.T) {
		for _, path := range []string{"/admin/charts/nope.svg", "/admin/charts/nodes.png"} {
			resp, body := p.admin.get(path)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
	})
}

func TestAdmin_CSRF(t *testing.T) {
	p := newPortal(t, staticPool)
	resp, body := p.admin.post("/admin/cache", url.Values{"capacity_mb": {"4"}, "policy": {"rr"}})
	wantStatus(t, resp, body, http.StatusForbidden)
	resp, body = p.admin.post("/admin/cache", url.Values{"capacity_mb": {"4"}, "policy": {"rr"}, "csrf": {"forged"}})
	wantStatus(t, resp, body, http.StatusForbidden)
	resp, body = p.admin.post("/admin/delete-all", url.Values{"confirm": {"DELETE"}})
	wantStatus(t, resp, body, http.StatusForbidden)
	if st := p.m.State(); st.CapacityMB != 8 || st.Policy != "lru" {
		t.Fatalf("state changed without a token: %+v", st)
	}
}

func TestAdmin_PoolOff(t *testing.T) {
	p := newPortal(t, noPool)
	for _, pg := range adminPages {
		resp, body := p.admin.get(pg.path)
		wantStatus(t, resp, body, http.StatusOK)
		switch pg.path {
		case "/admin", "/admin/cache", "/admin/pool", "/admin/cache-keys":
			wantContains(t, body, "The cache pool is off", "--cache-size 0")
		}
	}
	for _, path := range []string{"/admin/cache", "/admin/pool/mode", "/admin/pool/size", "/admin/clear"} {
		resp, body := p.admin.send(path, url.Values{"capacity_mb": {"4"}, "policy": {"rr"}, "n": {"3"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "cache pool is off")
	}
}

func TestAdmin_CacheSettings(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()

	_, body := p.admin.get("/admin/cache")
	wantContains(t, body, `name="capacity_mb" type="number" min="1" max="1048576" step="1" inputmode="numeric" value="8"`,
		`value="lru" checked`, "Applied to all 2 nodes")

	t.Run("Apply", func(t *testing.T) {
		resp, body := p.admin.send("/admin/cache", url.Values{"capacity_mb": {"4"}, "policy": {"RR"}})
		wantRedirect(t, resp, body, "/admin/cache?msg=cache")
		for _, ns := range p.m.Stats(ctx) {
			if !ns.Up || ns.Capacity != 4<<20 || ns.Policy != "rr" {
				t.Fatalf("node %s: up %v, capacity %d, policy %q", ns.ID, ns.Up, ns.Capacity, ns.Policy)
			}
		}
		if st := p.m.State(); st.CapacityMB != 4 || st.Policy != "rr" {
			t.Fatalf("state %d MB, %s", st.CapacityMB, st.Policy)
		}
		_, body = p.admin.get("/admin/cache?msg=cache")
		wantContains(t, body, "Cache settings applied to every node.", `value="4"`, `value="rr" checked`)
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct{ capacity, policy, msg string }{
			{"lots", "lru", "The capacity must be a whole number of MB"},
			{"0", "lru", "The capacity must be a whole number of MB"},
			{"2000000", "lru", "The capacity must be a whole number of MB"},
			{"16", "fifo", "The policy must be LRU or RR"},
		} {
			resp, body := p.admin.send("/admin/cache", url.Values{"capacity_mb": {tt.capacity}, "policy": {tt.policy}})
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantContains(t, body, tt.msg, `value="`+tt.capacity+`"`, `class="alert error"`)
		}
		// Nothing was applied, not even the valid capacity beside a bad policy.
		for _, ns := range p.m.Stats(ctx) {
			if ns.Capacity != 4<<20 || ns.Policy != "rr" {
				t.Fatalf("node %s changed: %d, %q", ns.ID, ns.Capacity, ns.Policy)
			}
		}
	})
}

func TestAdmin_Clear(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()
	for i := range 20 {
		if err := p.m.Pool.Set(ctx, fmt.Sprintf("k%d", i), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	items := func() (n int64) {
		for _, ns := range p.m.Stats(ctx) {
			n += ns.Items
		}
		return n
	}
	if got := items(); got != 20 {
		t.Fatalf("%d items before clearing, want 20", got)
	}
	resp, body := p.admin.send("/admin/clear", nil)
	wantRedirect(t, resp, body, "/admin/cache?msg=cleared")
	if got := items(); got != 0 {
		t.Fatalf("%d items after clearing, want 0", got)
	}
	_, body = p.admin.get("/admin/cache?msg=cleared")
	wantContains(t, body, "The cache was cleared on every node.")

	resp, body = p.admin.send("/admin/clear", url.Values{"from": {"cache-keys"}})
	wantRedirect(t, resp, body, "/admin/cache-keys?msg=cleared")
}

func TestAdmin_PoolResize(t *testing.T) {
	p := newPortal(t, localPool)
	ctx := context.Background()

	resp, body := p.admin.send("/admin/pool/size", url.Values{"n": {"3"}})
	wantRedirect(t, resp, body, "/admin/pool?msg=resized")
	if got := p.m.Size(); got != 3 {
		t.Fatalf("Size()=%d after resizing to 3", got)
	}
	if got := len(p.m.Stats(ctx)); got != 3 {
		t.Fatalf("%d nodes answer, want 3", got)
	}

	resp, body = p.admin.send("/admin/pool/size", url.Values{"delta": {"-1"}})
	wantRedirect(t, resp, body, "/admin/pool?msg=resized")
	if got := p.m.Size(); got != 2 {
		t.Fatalf("Size()=%d after shrinking by one, want 2", got)
	}
	h := p.m.State().Resizes
	if len(h) != 2 || h[0].From != 2 || h[0].To != 3 || h[1].From != 3 || h[1].To != 2 || h[1].Reason != "manual: by boss in the admin portal" {
		t.Fatalf("history %+v", h)
	}

	resp, body = p.admin.get("/admin/pool?msg=resized")
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, "The pool was resized.", "manual: by boss in the admin portal", `value="2" required`, "node-1", "node-2")
	// Newest first: the shrink (3 → 2) comes before the growth (2 → 3).
	var sizes []string
	for _, m := range historyRE.FindAllStringSubmatch(body, -1) {
		sizes = append(sizes, m[1]+"→"+m[2])
	}
	if got := strings.Join(sizes, " "); got != "3→2 2→3" {
		t.Fatalf("history rows %q, want newest first: 3→2 2→3", got)
	}
	for i, ns := range p.m.Stats(ctx) {
		wantContains(t, body, ns.Addr)
		if !ns.Up {
			t.Fatalf("node %d down", i)
		}
	}

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			form url.Values
			msg  string
		}{
			{url.Values{"n": {"many"}}, "The pool size must be a whole number of nodes."},
			{url.Values{"n": {"0"}}, "The pool size must be 1 to 8 nodes."},
			{url.Values{"n": {"9"}}, "The pool size must be 1 to 8 nodes."},
			{url.Values{"delta": {"-2"}}, "The pool size must be 1 to 8 nodes."},
		} {
			resp, body := p.admin.send("/admin/pool/size", tt.form)
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantContains(t, body, tt.msg)
		}
		if got := p.m.Size(); got != 2 {
			t.Fatalf("Size()=%d after refused resizes", got)
		}
	})

	t.Run("InAutoMode", func(t *testing.T) {
		if err := p.m.SetMode(ctx, manager.ModeAuto, autoscale.DefaultParams); err != nil {
			t.Fatal(err)
		}
		_, body := p.admin.get("/admin/pool")
		wantContains(t, body, "the auto-scaler may change the size again")
		resp, body := p.admin.send("/admin/pool/size", url.Values{"delta": {"1"}})
		wantRedirect(t, resp, body, "/admin/pool?msg=resized-auto")
		if got := p.m.Size(); got != 3 {
			t.Fatalf("Size()=%d after growing by one in auto mode", got)
		}
	})
}

var historyRE = regexp.MustCompile(`data-label="From">(\d+)</td>\s*<td class="num" data-label="To">(\d+)</td>`)

func modeValues(mode string, overrides ...string) url.Values {
	f := url.Values{"mode": {mode}, "max_miss": {"60"}, "min_miss": {"15"}, "expand": {"1.5"}, "shrink": {"0.5"},
		"cooldown": {"90"}, "min_nodes": {"2"}, "max_nodes": {"6"}}
	for i := 0; i+1 < len(overrides); i += 2 {
		f.Set(overrides[i], overrides[i+1])
	}
	return f
}

func TestAdmin_PoolMode(t *testing.T) {
	p := newPortal(t, localPool)
	before := p.m.State()

	_, body := p.admin.get("/admin/pool")
	wantContains(t, body, `value="manual" checked`, `id="max_miss" name="max_miss"`, `value="50"`, `value="10"`, `value="120"`,
		"Miss rates are in percent")

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			form url.Values
			msg  string
		}{
			{modeValues("auto", "min_miss", "60"), "The min miss rate must be below the max miss rate."},
			{modeValues("auto", "max_miss", "0"), "The max miss rate must be above 0% and at most 100%."},
			{modeValues("auto", "max_miss", "150"), "The max miss rate must be above 0% and at most 100%."},
			{modeValues("auto", "max_miss", "half"), "The max miss rate must be a number of percent"},
			{modeValues("auto", "expand", "1"), "The expand ratio must be above 1"},
			{modeValues("auto", "shrink", "1"), "The shrink ratio must be between 0 and 1."},
			{modeValues("auto", "shrink", "0"), "The shrink ratio must be between 0 and 1."},
			{modeValues("auto", "min_nodes", "0"), "The minimum pool size must be at least 1."},
			{modeValues("auto", "max_nodes", "9"), "The maximum pool size must be at most 8."},
			{modeValues("auto", "min_nodes", "5", "max_nodes", "3"), "The minimum pool size must not be above the maximum."},
			{modeValues("auto", "cooldown", "-5"), "The cooldown must be between 0 and 86400 seconds"},
			{modeValues("auto", "cooldown", "1.5"), "The cooldown must be a whole number of seconds"},
			{modeValues("sideways"), "The mode must be manual or auto"},
		} {
			resp, body := p.admin.send("/admin/pool/mode", tt.form)
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantContains(t, body, tt.msg)
			// The form keeps what was typed.
			wantContains(t, body, `value="`+tt.form.Get("max_miss")+`"`, `value="`+tt.form.Get("cooldown")+`"`)
			if st := p.m.State(); st.Mode != before.Mode || st.Auto != before.Auto {
				t.Fatalf("state changed by a refused form: %+v", st)
			}
		}
	})

	t.Run("Auto", func(t *testing.T) {
		resp, body := p.admin.send("/admin/pool/mode", modeValues("auto"))
		wantRedirect(t, resp, body, "/admin/pool?msg=mode-auto")
		st := p.m.State()
		want := autoscale.Params{MaxMiss: 0.6, MinMiss: 0.15, Expand: 1.5, Shrink: 0.5, MinNodes: 2, MaxNodes: 6, Cooldown: 90 * time.Second}
		if st.Mode != manager.ModeAuto || st.Auto != want {
			t.Fatalf("mode %q, params %+v; want auto, %+v", st.Mode, st.Auto, want)
		}
		_, body = p.admin.get("/admin/pool?msg=mode-auto")
		wantContains(t, body, "Automatic mode is on", `value="auto" checked`, `value="60"`, `value="15"`, `value="1.5"`, `value="90"`)
	})

	t.Run("Manual", func(t *testing.T) {
		resp, body := p.admin.send("/admin/pool/mode", modeValues("manual"))
		wantRedirect(t, resp, body, "/admin/pool?msg=mode-manual")
		if st := p.m.State(); st.Mode != manager.ModeManual {
			t.Fatalf("mode %q", st.Mode)
		}
	})
}

func TestAdmin_StaticPool(t *testing.T) {
	p := newPortal(t, staticPool)
	_, body := p.admin.get("/admin/pool")
	wantContains(t, body, "a fixed list of existing nodes", "Resize history", p.m.Static[0], p.m.Static[1])
	wantLacks(t, body, `action="/admin/pool/size"`)
	resp, body := p.admin.send("/admin/pool/mode", modeValues("auto"))
	wantStatus(t, resp, body, http.StatusBadRequest)
	wantContains(t, body, "--cache-nodes")
	resp, body = p.admin.send("/admin/pool/size", url.Values{"n": {"3"}})
	wantStatus(t, resp, body, http.StatusBadRequest)
	if st := p.m.State(); st.Mode != manager.ModeManual || len(st.Nodes) != 2 {
		t.Fatalf("static pool changed: %+v", st)
	}
}

func TestAdmin_Images(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()
	_, ada := p.user(t, "ada")
	_, bob := p.user(t, "bob")
	put := func(owner int64, key string) {
		t.Helper()
		img := &pixpool.Image{OwnerID: owner, Key: key, BlobKey: "b/" + key, Size: 2048, ContentType: "image/png",
			Width: 1, Height: 1, Checksum: "00"}
		if _, err := p.env.Store.PutImage(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 55 {
		put(ada.ID, fmt.Sprintf("cats/%02d", i))
	}
	put(bob.ID, "cats/00")
	put(bob.ID, "dogs/rex <b>")

	t.Run("All", func(t *testing.T) {
		_, body := p.admin.get("/admin/images")
		wantContains(t, body, "cats/00", "cats/49", "1–50 of 57", "image/png", "2.0 KiB", `rel="next" href="/admin/images?offset=50"`)
		wantLacks(t, body, "cats/50", "dogs/rex")
		_, body = p.admin.get("/admin/images?offset=50")
		wantContains(t, body, "cats/50", "cats/54", "dogs/rex &lt;b&gt;", "51–57 of 57", `rel="prev" href="/admin/images"`)
		wantLacks(t, body, "cats/49", `rel="next"`, "<b>")
		if n := strings.Count(body, `<td data-label="Owner">bob</td>`); n != 2 {
			t.Fatalf("bob owns %d rows on page 2, want 2", n)
		}
	})
	t.Run("Owner", func(t *testing.T) {
		_, body := p.admin.get("/admin/images?owner=bob")
		wantContains(t, body, "cats/00", "dogs/rex", `value="bob"`)
		wantLacks(t, body, `<td data-label="Owner">ada</td>`, `rel="next"`)
	})
	t.Run("Prefix", func(t *testing.T) {
		_, body := p.admin.get("/admin/images?owner=ada&prefix=cats/1")
		wantContains(t, body, "cats/10", "cats/19", "1–10 of 10")
		wantLacks(t, body, "cats/20", "cats/09")
		_, body = p.admin.get("/admin/images?prefix=dogs")
		wantContains(t, body, "dogs/rex")
		wantLacks(t, body, "cats/")
	})
	t.Run("UnknownOwner", func(t *testing.T) {
		resp, body := p.admin.get("/admin/images?owner=nobody")
		wantStatus(t, resp, body, http.StatusOK)
		wantContains(t, body, "No user is called “nobody”.")
		wantLacks(t, body, "cats/")
	})
	t.Run("NoMatch", func(t *testing.T) {
		_, body := p.admin.get("/admin/images?prefix=zebra")
		wantContains(t, body, "No images match.")
	})
}

func TestAdmin_CacheKeys(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()
	_, ada := p.user(t, "ada")

	// 130 of ada's images on one node, set in order, then "k000" read
	// again: least recently used first, it comes last.
	node := p.m.Pool.Owner(service.CacheKey(ada.ID, "k000"))
	var keys []string
	for i := 0; len(keys) < 130; i++ {
		k := fmt.Sprintf("k%03d", i)
		if p.m.Pool.Owner(service.CacheKey(ada.ID, k)) == node {
			keys = append(keys, k)
		}
	}
	long := strings.Repeat("x", 240)
	others := []string{service.CacheKey(ada.ID, long), "plain:key"}
	for _, k := range keys {
		if err := p.m.Pool.Set(ctx, service.CacheKey(ada.ID, k), []byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range others {
		if p.m.Pool.Owner(k) == node {
			if err := p.m.Pool.Set(ctx, k, []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := p.m.Pool.Get(ctx, service.CacheKey(ada.ID, "k000")); err != nil {
		t.Fatal(err)
	}
	total := 130
	for _, k := range others {
		if p.m.Pool.Owner(k) == node {
			total++
		}
	}

	resp, body := p.admin.get("/admin/cache-keys?node=" + url.QueryEscape(node))
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, fmt.Sprintf("%d keys on %s", total, node), `<td data-label="Owner">ada</td>`, " bytes</td>",
		fmt.Sprintf(`<option value="%s" selected>`, node), fmt.Sprintf("1–100 of %d", total))
	if i, j := strings.Index(body, ">"+keys[1]+"<"), strings.Index(body, ">"+keys[2]+"<"); i < 0 || j < i {
		t.Fatalf("keys not in LRU order (%s at %d, %s at %d)", keys[1], i, keys[2], j)
	}
	wantLacks(t, body, ">k000<")

	_, body = p.admin.get("/admin/cache-keys?node=" + url.QueryEscape(node) + "&page=2")
	wantContains(t, body, ">k000<", fmt.Sprintf("101–%d of %d", total, total))
	for _, k := range others {
		if p.m.Pool.Owner(k) != node {
			continue
		}
		switch k {
		case "plain:key":
			wantContains(t, body, "<code>plain:key</code>")
		default:
			wantContains(t, body, "a long key, cached under its hash")
		}
	}

	// The default node is the first; an unknown one is 404.
	resp, body = p.admin.get("/admin/cache-keys")
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, fmt.Sprintf(`<option value="%s" selected>`, p.m.State().Nodes[0].ID))
	resp, body = p.admin.get("/admin/cache-keys?node=nope")
	wantStatus(t, resp, body, http.StatusNotFound)
	wantContains(t, body, "No cache node")
}

func TestDecodeCacheKey(t *testing.T) {
	tests := []struct {
		ck     string
		owner  int64
		key    string
		hashed bool
		ok     bool
	}{
		{service.CacheKey(7, "cats/tom.png"), 7, "cats/tom.png", false, true},
		{service.CacheKey(12, "ключ with spaces"), 12, "ключ with spaces", false, true},
		{service.CacheKey(3, strings.Repeat("y", 300)), 3, "", true, true},
		{"plain", 0, "", false, false},
		{"i:x:abc", 0, "", false, false},
		{"i:5:!!!", 0, "", false, false},
		{"i:5", 0, "", false, false},
	}
	for _, tt := range tests {
		owner, key, hashed, ok := decodeCacheKey(tt.ck)
		if owner != tt.owner || key != tt.key || hashed != tt.hashed || ok != tt.ok {
			t.Errorf("decodeCacheKey(%q)=%d, %q, %v, %v; want %d, %q, %v, %v", tt.ck, owner, key, hashed, ok, tt.owner, tt.key, tt.hashed, tt.ok)
		}
	}
}

func TestAdmin_DeleteAll(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()
	ada, u := p.user(t, "ada")
	for i := range 3 {
		resp, body := ada.upload(ada.csrf(), fmt.Sprintf("pic%d", i), testPNG(t, 8, 8, uint8(i)))
		wantStatus(t, resp, body, http.StatusSeeOther)
		if _, _, err := p.env.Images.Get(ctx, u.ID, fmt.Sprintf("pic%d", i)); err != nil { // fills the cache
			t.Fatal(err)
		}
	}
	p.env.Images.Wait()
	cached := func() (n int64) {
		for _, ns := range p.m.Stats(ctx) {
			n += ns.Items
		}
		return n
	}
	if cached() == 0 {
		t.Fatal("nothing cached before deleting")
	}
	count := func() int {
		n, err := p.env.Store.CountImages(ctx, pixpool.ImageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	_, body := p.admin.get("/admin/delete-all")
	wantContains(t, body, "every image of every user: 3 images", "User accounts, passwords, API keys")

	for _, confirm := range []string{"", "delete", "yes"} {
		resp, body := p.admin.send("/admin/delete-all", url.Values{"confirm": {confirm}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Type DELETE in capitals to confirm. Nothing was deleted.", "3 images")
		if got := count(); got != 3 {
			t.Fatalf("%d images left after a refused delete, want 3", got)
		}
	}

	resp, body := p.admin.send("/admin/delete-all", url.Values{"confirm": {"DELETE"}})
	wantRedirect(t, resp, body, "/admin/delete-all?msg=deleted-all")
	if got := count(); got != 0 {
		t.Fatalf("%d images left, want 0", got)
	}
	if got := cached(); got != 0 {
		t.Fatalf("%d items still cached", got)
	}
	if _, _, err := p.env.Images.Get(ctx, u.ID, "pic0"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Get after delete-all: %v", err)
	}
	_, body = p.admin.get("/admin/delete-all?msg=deleted-all")
	wantContains(t, body, "Every image was deleted", "0 images")
	// Accounts stay.
	resp, body = ada.get("/images")
	wantStatus(t, resp, body, http.StatusOK)
}

func TestAdmin_Users(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()
	ada, adaUser := p.user(t, "ada")
	_, bobUser := p.user(t, "bob")
	id := func(u *pixpool.User) string { return fmt.Sprint(u.ID) }
	reload := func(u *pixpool.User) *pixpool.User {
		t.Helper()
		got, err := p.env.Store.User(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	_, body := p.admin.get("/admin/users")
	wantContains(t, body, "<strong>ada</strong>", "<strong>bob</strong>", "<strong>boss</strong>", "This is you",
		`aria-label="Make ada an admin"`, `aria-label="Disable bob"`)

	t.Run("Promote", func(t *testing.T) {
		resp, body := p.admin.send("/admin/users/admin", url.Values{"id": {id(adaUser)}, "make": {"true"}})
		wantRedirect(t, resp, body, "/admin/users?msg=promoted")
		if !reload(adaUser).Admin {
			t.Fatal("ada is not an admin")
		}
		resp, body = ada.get("/admin")
		wantStatus(t, resp, body, http.StatusOK)
	})
	t.Run("Demote", func(t *testing.T) {
		resp, body := p.admin.send("/admin/users/admin", url.Values{"id": {id(adaUser)}, "make": {"false"}, "offset": {"0"}})
		wantRedirect(t, resp, body, "/admin/users?msg=demoted")
		if reload(adaUser).Admin {
			t.Fatal("ada is still an admin")
		}
		resp, body = ada.get("/admin")
		wantStatus(t, resp, body, http.StatusNotFound)
	})
	t.Run("Self", func(t *testing.T) {
		resp, body := p.admin.send("/admin/users/admin", url.Values{"id": {id(p.boss)}, "make": {"false"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "You cannot remove your own admin rights")
		resp, body = p.admin.send("/admin/users/disable", url.Values{"id": {id(p.boss)}, "disable": {"true"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "You cannot disable your own account.")
		if u := reload(p.boss); !u.Admin || u.Disabled {
			t.Fatalf("boss changed: %+v", u)
		}
		resp, body = p.admin.get("/admin")
		wantStatus(t, resp, body, http.StatusOK)
	})
	t.Run("LastAdmin", func(t *testing.T) {
		// Only another admin can demote one, so through the portal there is
		// always a second; the rule still holds for any caller.
		_, err := p.srv.SetUserAdmin(ctx, bobUser, p.boss.ID, false)
		if pixpool.ErrorCode(err) != pixpool.EINVALID || !strings.Contains(pixpool.ErrorMessage(err), "last admin") {
			t.Fatalf("demoting the last admin: %v", err)
		}
	})
	t.Run("Disable", func(t *testing.T) {
		_, secret, err := p.env.Accounts.CreateAPIKey(ctx, adaUser.ID, "script")
		if err != nil {
			t.Fatal(err)
		}
		apiMe := func() int {
			req, _ := http.NewRequest("GET", p.ts.URL+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, _ := newBrowser(t, p.ts).do(req)
			return resp.StatusCode
		}
		if got := apiMe(); got != http.StatusOK {
			t.Fatalf("API key before disabling: %d", got)
		}
		resp, body := ada.get("/images")
		wantStatus(t, resp, body, http.StatusOK)

		resp, body = p.admin.send("/admin/users/disable", url.Values{"id": {id(adaUser)}, "disable": {"true"}})
		wantRedirect(t, resp, body, "/admin/users?msg=disabled")
		if !reload(adaUser).Disabled {
			t.Fatal("ada is not disabled")
		}
		// Her session stops working at once, and so does her API key.
		resp, body = ada.get("/images")
		wantRedirect(t, resp, body, "/login?next=%2Fimages")
		if got := apiMe(); got != http.StatusUnauthorized {
			t.Fatalf("API key of a disabled user: %d", got)
		}
		if resp := ada.login("ada", "correct horse battery", "/"); resp.StatusCode == http.StatusSeeOther {
			t.Fatal("a disabled user logged in")
		}
		_, body = p.admin.get("/admin/users?msg=disabled")
		wantContains(t, body, "their sessions and API keys stopped working", `class="badge bad">disabled`, `aria-label="Enable ada"`)

		resp, body = p.admin.send("/admin/users/disable", url.Values{"id": {id(adaUser)}, "disable": {"false"}})
		wantRedirect(t, resp, body, "/admin/users?msg=enabled")
		if reload(adaUser).Disabled {
			t.Fatal("ada is still disabled")
		}
		if resp := ada.login("ada", "correct horse battery", "/"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("enabled user cannot log in: %d", resp.StatusCode)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		resp, body := p.admin.send("/admin/users/admin", url.Values{"id": {"99999"}, "make": {"true"}})
		wantStatus(t, resp, body, http.StatusNotFound)
		wantContains(t, body, "No such user.")
		resp, body = p.admin.send("/admin/users/admin", url.Values{"id": {"x"}, "make": {"true"}})
		wantStatus(t, resp, body, http.StatusNotFound)
		resp, body = p.admin.send("/admin/users/disable", url.Values{"id": {id(bobUser)}, "disable": {"maybe"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		if u := reload(bobUser); u.Disabled || u.Admin {
			t.Fatalf("bob changed: %+v", u)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		for i := range 55 {
			u := &pixpool.User{Username: fmt.Sprintf("user%02d", i), FirstName: "U", LastName: "Ser", Email: fmt.Sprintf("u%d@example.org", i),
				Birthday: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0002"}
			if err := p.env.Store.CreateUser(ctx, u, "x"); err != nil {
				t.Fatal(err)
			}
		}
		_, body := p.admin.get("/admin/users")
		wantContains(t, body, `rel="next" href="/admin/users?offset=50"`, "1–50")
		_, body = p.admin.get("/admin/users?offset=50")
		wantContains(t, body, "51–58", `rel="prev" href="/admin/users"`, "<strong>user54</strong>", `name="offset" value="50"`)
		wantLacks(t, body, `rel="next"`)
	})
}

func TestAdmin_Dashboard(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()
	now := time.Now().UTC()
	// The last 20 minutes, but not minutes 5 to 7 ago; 12 samples a
	// minute of 30 lookups, 6 of them misses (hit rate 80%).
	for m := 20; m >= 0; m-- {
		if m >= 5 && m <= 7 {
			continue
		}
		for k := range 12 {
			at := now.Add(-time.Duration(m)*time.Minute - time.Duration(k)*5*time.Second)
			if at.After(now) {
				continue
			}
			s := pixpool.PoolSample{At: at, Nodes: 2, Up: 2, Items: 500, Bytes: 3 << 20, Gets: 30, Hits: 24, Misses: 6, Sets: 2}
			if err := p.env.Store.AddStats(ctx, s, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	resp, body := p.admin.get("/admin")
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, `<meta http-equiv="refresh" content="30">`, "Manual", "8 MB", "LRU", "80%", "lookups")
	for _, m := range chartMetrics {
		wantContains(t, body, `aria-label="`+m.Title+`"`, `href="/admin/charts/`+m.Name+`.svg"`)
	}
	if n := strings.Count(body, "<svg xmlns="); n != len(chartMetrics) {
		t.Fatalf("%d inline charts, want %d", n, len(chartMetrics))
	}

	resp, body = p.admin.get("/admin/charts/hit-rate.svg")
	wantStatus(t, resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "image/svg+xml" {
		t.Fatalf("Content-Type %q", ct)
	}
	root := parseSVG(t, []byte(body))
	runs := 0
	for _, path := range root.all("path", "chart-line") {
		runs += len(pathRuns(t, path.attr("d")))
	}
	if runs != 2 {
		t.Fatalf("hit rate chart has %d runs, want 2 around the 3-minute gap:\n%s", runs, body)
	}
	if got := root.all("text", "chart-latest"); len(got) != 1 || got[0].Text != "80%" {
		t.Fatalf("latest hit rate %+v", got)
	}
}

// TestAdmin_DashboardNow: the dashboard's last minute holds lookups made
// a moment ago, before any stats sample.
func TestAdmin_DashboardNow(t *testing.T) {
	p := newPortal(t, localPool)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		p.m.Pool.Set(ctx, k, []byte(k))
		p.m.Pool.Get(ctx, k)
	}
	p.m.Pool.Get(ctx, "missing")
	resp, body := p.admin.get("/admin")
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, "75%", "4 lookups", "3 <span class=\"unit\">items")
}
