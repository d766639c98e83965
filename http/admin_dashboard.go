package http

import (
	"context"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/http/chart"
	"github.com/pixpool/pixpool/manager"
)

// The dashboard.

// adminDashboardPage is admin_dashboard.html's data.
type adminDashboardPage struct {
	adminLayout
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
	if s.Manager != nil {
		return s.Manager.Samples(ctx, since, now)
	}
	return s.Store.PoolSamples(ctx, since)
}

// handlePortalDashboard shows the pool now and charts of its last half
// hour, reloading itself.
func (s *Server) handlePortalDashboard(w http.ResponseWriter, r *http.Request) {
	p := &adminDashboardPage{adminLayout: s.adminPage(r, "Admin", "dashboard"), Refresh: dashboardRefresh}
	if s.Manager == nil {
		s.render(w, r, http.StatusOK, "admin_dashboard.html", p)
		return
	}
	ctx := r.Context()
	now := time.Now().UTC()
	buckets, samples, err := s.chartHistory(ctx, now)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	st := s.Manager.State()
	p.Nodes, p.Mode, p.CapacityMB, p.Policy, p.Updated = len(st.Nodes), st.Mode, st.CapacityMB, st.Policy, now
	if n := len(samples); n > 0 { // the last one is the pool now
		p.Up, p.Items, p.Bytes = samples[n-1].Up, samples[n-1].Items, samples[n-1].Bytes
	}
	win := manager.Sum(samples, now.Add(-time.Minute), now)
	p.HitRate, p.Lookups = hitRateText(win.Lookups-win.Misses, win.Misses), win.Lookups
	for _, m := range chart.Metrics {
		p.Charts = append(p.Charts, dashboardChart{Name: m.Name, SVG: template.HTML(chart.OfMetric(m, buckets).SVG(false))})
	}
	s.render(w, r, http.StatusOK, "admin_dashboard.html", p)
}

// handlePortalChart serves one dashboard chart as an SVG file.
func (s *Server) handlePortalChart(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	m, known := chart.MetricByName(name)
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
	_, _ = w.Write(chart.OfMetric(m, buckets).SVG(true))
}
