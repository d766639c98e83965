package http

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pixpool/pixpool/service"
)

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
