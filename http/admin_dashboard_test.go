package http

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/http/chart"
	"github.com/pixpool/pixpool/http/chart/charttest"
)

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
	for _, m := range chart.Metrics {
		wantContains(t, body, `aria-label="`+m.Title+`"`, `href="/admin/charts/`+m.Name+`.svg"`)
	}
	if n := strings.Count(body, "<svg xmlns="); n != len(chart.Metrics) {
		t.Fatalf("%d inline charts, want %d", n, len(chart.Metrics))
	}

	resp, body = p.admin.get("/admin/charts/hit-rate.svg")
	wantStatus(t, resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "image/svg+xml" {
		t.Fatalf("Content-Type %q", ct)
	}
	root := charttest.ParseSVG(t, []byte(body))
	runs := 0
	for _, path := range root.All("path", "chart-line") {
		runs += len(charttest.PathRuns(t, path.Attr("d")))
	}
	if runs != 2 {
		t.Fatalf("hit rate chart has %d runs, want 2 around the 3-minute gap:\n%s", runs, body)
	}
	if got := root.All("text", "chart-latest"); len(got) != 1 || got[0].Text != "80%" {
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
