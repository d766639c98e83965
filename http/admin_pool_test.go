package http

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
)

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
	doc := parseHTML(t, body)
	from, to := elements(doc, "td", "data-label=From"), elements(doc, "td", "data-label=To")
	if len(from) != len(to) {
		t.Fatalf("history has %d From cells and %d To cells", len(from), len(to))
	}
	for i := range from {
		sizes = append(sizes, textOf(from[i])+"→"+textOf(to[i]))
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

// TestAdmin_PoolResizeChecks: the portal's resize goes through
// manager.ApplyChange, as the admin API's and configure_cache do, and so
// gives their answers: a fixed pool's size is refused before the manager
// is asked to resize, and without a pool the one no-pool error shows.
func TestAdmin_PoolResizeChecks(t *testing.T) {
	t.Run("FixedPool", func(t *testing.T) {
		p := newPortal(t, staticPool)
		resp, body := p.admin.send("/admin/pool/size", url.Values{"n": {"3"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "The pool&#39;s size is fixed: the pool&#39;s nodes are given by --cache-nodes")
		if got := p.m.Size(); got != 2 {
			t.Fatalf("Size()=%d after a refused resize of a fixed pool", got)
		}
	})
	t.Run("NoPool", func(t *testing.T) {
		p := newPortal(t, noPool)
		resp, body := p.admin.send("/admin/pool/size", url.Values{"n": {"3"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, pixpool.ErrorMessage(manager.ErrNoPool))
	})
}
