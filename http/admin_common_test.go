package http

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

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
