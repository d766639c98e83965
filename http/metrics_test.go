package http

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// scrape reads /metrics with key ("" for none) and returns the series
// lines by name and labels, e.g. `pixpool_pool_nodes` or
// `pixpool_cache_node_items{node="127.0.0.1:4000"}`.
func (f *poolFixture) scrape(key string) map[string]float64 {
	f.t.Helper()
	status, b := f.do("GET", "/metrics", key, "")
	if status != http.StatusOK {
		f.t.Fatalf("GET /metrics: %d %s", status, b)
	}
	return parseMetrics(f.t, string(b))
}

// parseMetrics reads the Prometheus text format (labels come sorted by
// name, as client_golang writes them).
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetrics(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: localPool})
	me := `pixpool_http_requests_total{code="200",method="GET",route="GET /api/v1/me"}`
	meCount := `pixpool_http_request_duration_seconds_count{method="GET",route="GET /api/v1/me"}`

	before := f.scrape(f.adminKey)
	for range 3 {
		if status, _ := f.do("GET", "/api/v1/me", f.aliceKey, ""); status != 200 {
			t.Fatalf("GET /api/v1/me: %d", status)
		}
	}
	f.do("GET", "/api/v1/me", "", "")            // 401, same route
	f.do("GET", "/no/such/page", f.aliceKey, "") // no route
	after := f.scrape(f.adminKey)
	if got := after[me] - before[me]; got != 3 {
		t.Fatalf("%s went up by %v, want 3", me, got)
	}
	if got := after[meCount] - before[meCount]; got != 4 {
		t.Fatalf("%s went up by %v, want 4", meCount, got)
	}
	if got := after[`pixpool_http_requests_total{code="401",method="GET",route="GET /api/v1/me"}`]; got != 1 {
		t.Fatalf("401s on /api/v1/me: %v", got)
	}
	if got := after[`pixpool_http_requests_total{code="404",method="GET",route="none"}`]; got < 1 {
		t.Fatalf("unrouted 404s: %v", got)
	}
	for name := range after {
		if strings.Contains(name, "/no/such/page") {
			t.Fatalf("a raw path became a label: %s", name)
		}
	}

	// The pool, node by node, and its resizes.
	if got := after["pixpool_pool_nodes"]; got != 1 {
		t.Fatalf("pixpool_pool_nodes %v", got)
	}
	f.call("PUT", "/api/v1/admin/pool/size", `{"nodes":2}`, 200, nil)
	if status, b := f.do("POST", "/api/configure_cache?numNodes=3", f.adminKey, ""); status != 200 {
		t.Fatalf("configure_cache: %d %s", status, b)
	}
	got := f.scrape(f.adminKey)
	if got["pixpool_pool_nodes"] != 3 {
		t.Fatalf("pixpool_pool_nodes %v after resizes", got["pixpool_pool_nodes"])
	}
	for _, n := range f.mgr.State().Nodes {
		for _, series := range []string{"pixpool_cache_node_up", "pixpool_cache_node_hits_total", "pixpool_cache_node_misses_total",
			"pixpool_cache_node_items", "pixpool_cache_node_bytes"} {
			if _, ok := got[series+`{node="`+n.ID+`"}`]; !ok {
				t.Fatalf("no %s for node %s", series, n.ID)
			}
		}
		if got[`pixpool_cache_node_up{node="`+n.ID+`"}`] != 1 {
			t.Fatalf("node %s not up", n.ID)
		}
	}
	if r := got[`pixpool_pool_resizes_total{reason="manual"}`]; r != 2 {
		t.Fatalf("manual resizes %v, want 2", r)
	}
	// Counted once, however often scraped.
	if r := f.scrape(f.adminKey)[`pixpool_pool_resizes_total{reason="manual"}`]; r != 2 {
		t.Fatalf("manual resizes %v on a second scrape, want 2", r)
	}
	for _, series := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := got[series]; !ok {
			t.Fatalf("no %s", series)
		}
	}

	t.Run("AdminsOnly", func(t *testing.T) {
		for _, key := range []string{"", f.aliceKey} {
			status, b := f.do("GET", "/metrics", key, "")
			if status != http.StatusNotFound || strings.Contains(string(b), "pixpool_") {
				t.Fatalf("key %q: status %d", key, status)
			}
		}
	})

	t.Run("Listener", func(t *testing.T) {
		// The handler for --metrics-addr serves anyone.
		ts := httptest.NewServer(f.srv.MetricsHandler())
		defer ts.Close()
		resp, err := http.Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := parseMetrics(t, string(b))
		if resp.StatusCode != 200 || m["pixpool_pool_nodes"] != 3 || m[me] < 3 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	})
}

func TestMetrics_NoPool(t *testing.T) {
	// Two servers in one process keep their own registries.
	f := newPoolFixture(t, fixtureConfig{pool: noPool})
	g := newPoolFixture(t, fixtureConfig{pool: noPool})
	f.do("GET", "/api/v1/me", f.aliceKey, "")
	m, n := f.scrape(f.adminKey), g.scrape(g.adminKey)
	me := `pixpool_http_requests_total{code="200",method="GET",route="GET /api/v1/me"}`
	if m[me] != 1 || n[me] != 0 {
		t.Fatalf("%s: %v and %v, want 1 and 0", me, m[me], n[me])
	}
	for name := range m {
		if strings.HasPrefix(name, "pixpool_pool_") || strings.HasPrefix(name, "pixpool_cache_") {
			t.Fatalf("pool series without a pool: %s", name)
		}
	}
}

func TestResizeReason(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"manual", "manual"},
		{"manual: /api/configure_cache", "manual"},
		{"auto: miss rate 0.62 over the last minute (100 lookups) > max 0.50", "auto"},
		{"Auto", "auto"},
		{"", "other"},
		{"resize for {reasons}", "other"},
		{strings.Repeat("x", 40), "other"},
	} {
		if got := resizeReason(c.in); got != c.want {
			t.Errorf("resizeReason(%q)=%q, want %q", c.in, got, c.want)
		}
	}
}

func TestMetricMethod(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "PATCH": "PATCH", "BREW": "OTHER", "get": "OTHER"} {
		if got := metricMethod(in); got != want {
			t.Errorf("metricMethod(%q)=%q, want %q", in, got, want)
		}
	}
}
