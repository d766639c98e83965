package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pixpool/pixpool/pixpooltest"
)

// TestServe_RateRightAfterTraffic is what a course tester runs against a
// fresh server: upload, read, then getRate at once. Every lookup counts
// the moment it is made, on nodes that joined in a resize too (whose
// copying of keys is no user's lookup), and the dashboard's current
// minute agrees.
func TestServe_RateRightAfterTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cache node processes")
	}
	start := func(t *testing.T) (*server, *client, *client) {
		data := t.TempDir()
		cli(t, data, "password123\n", "user", "create", "--admin", "tester")
		s := startServer(t, Config{Data: data, CompatUser: "tester", CompatAdmin: true, CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"})
		return s, &client{t, s.url, ""}, &client{t, s.url, newUser(t, s, "boss", true)}
	}
	upload := func(t *testing.T, anon *client, key string, i int) {
		t.Helper()
		body, ct := multipartBody(t, map[string]string{"key": key}, pixpooltest.PNG(t, 8, 8, uint8(i)))
		expect(t, anon.do("POST", "/api/upload", body, "Content-Type", ct), http.StatusOK)
	}
	rate := func(t *testing.T, anon *client, which string) string {
		t.Helper()
		var m map[string]any
		b := expect(t, anon.do("GET", "/api/getRate?rate="+which, nil), http.StatusOK)
		if err := json.Unmarshal(b, &m); err != nil || len(m) != 3 || m["success"] != "true" || m["rate"] != which {
			t.Fatalf("getRate?rate=%s: %s", which, b)
		}
		return fmt.Sprint(m["value"])
	}
	// wantCurrentMinute checks the hit rate of the admin API's current
	// minute, if every lookup since from fell in it.
	wantCurrentMinute := func(t *testing.T, admin *client, from time.Time, want float64) {
		t.Helper()
		var res struct {
			Buckets []struct {
				Start   time.Time
				HitRate float64 `json:"hit_rate"`
			}
		}
		if err := json.Unmarshal(expect(t, admin.do("GET", "/api/v1/admin/stats?minutes=1", nil), http.StatusOK), &res); err != nil || len(res.Buckets) != 1 {
			t.Fatalf("admin stats: %+v, %v", res, err)
		}
		if b := res.Buckets[0]; !b.Start.Equal(from.UTC().Truncate(time.Minute)) {
			t.Logf("the lookups span two minutes; not checking the current one")
		} else if b.HitRate != want {
			t.Fatalf("the dashboard's current minute: hit rate %v, want %v", b.HitRate, want)
		}
	}

	t.Run("Hits", func(t *testing.T) {
		s, anon, admin := start(t)
		from := time.Now()
		upload(t, anon, "k1", 1)
		for range 15 {
			expect(t, anon.do("GET", "/api/key/k1", nil), http.StatusOK)
		}
		if hit, miss := rate(t, anon, "hit"), rate(t, anon, "miss"); hit != "1" || miss != "0" {
			t.Fatalf("getRate after 15 cache hits: hit %s, miss %s; want 1 and 0", hit, miss)
		}
		wantCurrentMinute(t, admin, from, 1)
		// And after the collector's first sample (taken when it starts).
		if err := s.Stats.Collect(t.Context()); err != nil {
			t.Fatal(err)
		}
		expect(t, anon.do("GET", "/api/key/missing", nil), http.StatusNotFound)
		if hit, miss := rate(t, anon, "hit"), rate(t, anon, "miss"); hit != "0.9375" || miss != "0.0625" {
			t.Fatalf("getRate after 15 hits and 1 miss: hit %s, miss %s; want 0.9375 and 0.0625", hit, miss)
		}
	})

	t.Run("AfterResize", func(t *testing.T) {
		s, anon, admin := start(t)
		from := time.Now()
		// Grow the pool, which copies keys to the new nodes (lookups of its
		// own, not counted), then use them.
		for i := range 6 {
			upload(t, anon, fmt.Sprintf("key-%d", i), i)
		}
		expect(t, anon.do("GET", "/api/configure_cache?mode=manual&numNodes=3", nil), http.StatusOK)
		if h := s.Manager.State().Resizes; len(h) != 1 || h[0].Moved == 0 {
			t.Fatalf("resize history %+v: want one resize that copied keys", h)
		}
		for i := range 6 {
			for range 2 {
				expect(t, anon.do("GET", fmt.Sprintf("/api/key/key-%d", i), nil), http.StatusOK)
			}
		}
		for i := range 4 {
			expect(t, anon.do("GET", fmt.Sprintf("/api/key/none-%d", i), nil), http.StatusNotFound)
		}
		var onNew int64
		for _, ns := range s.Pool.Stats(t.Context()) {
			if ns.ID != "node-1" {
				onNew += ns.Gets
			}
		}
		if onNew == 0 {
			t.Fatal("no lookup reached the new nodes; the test proves nothing")
		}
		if hit, miss := rate(t, anon, "hit"), rate(t, anon, "miss"); hit != "0.75" || miss != "0.25" {
			t.Fatalf("getRate after 12 hits and 4 misses: hit %s, miss %s; want 0.75 and 0.25", hit, miss)
		}
		wantCurrentMinute(t, admin, from, 0.75)
	})
}
