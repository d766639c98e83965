package http

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestAdmin_CacheSettings: each subtest has a portal of its own, its
// nodes at 8 MB, LRU.
func TestAdmin_CacheSettings(t *testing.T) {
	ctx := context.Background()

	t.Run("Form", func(t *testing.T) {
		p := newPortal(t, staticPool)
		_, body := p.admin.get("/admin/cache")
		wantContains(t, body, `name="capacity_mb" type="number" min="1" max="1048576" step="1" inputmode="numeric" value="8"`,
			`value="lru" checked`, "Applied to all 2 nodes")
	})

	t.Run("Apply", func(t *testing.T) {
		p := newPortal(t, staticPool)
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
		p := newPortal(t, staticPool)
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
			if ns.Capacity != 8<<20 || ns.Policy != "lru" {
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
