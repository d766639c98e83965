package http

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pixpool/pixpool"
)

// Prometheus metrics. Every Server has its own registry (never the global
// default one), so several servers can live in one process, as in tests.
// The main listener serves /metrics to admins only; MetricsHandler serves
// it without authentication for a separate, private listener
// (serve --metrics-addr).
//
// Series:
//
//	pixpool_http_requests_total{route,method,code}     requests answered
//	pixpool_http_request_duration_seconds{route,method} latency histogram
//	pixpool_pool_nodes                                  nodes in the pool
//	pixpool_cache_node_up{node}                         1 if the node answered the scrape
//	pixpool_cache_node_hits_total{node}                 since the node started
//	pixpool_cache_node_misses_total{node}               since the node started
//	pixpool_cache_node_items{node}
//	pixpool_cache_node_bytes{node}
//	pixpool_pool_resizes_total{reason}                  resizes by reason
//	go_*, process_*                                     the Go runtime and this process
//
// route is the ServeMux pattern that matched ("GET /api/v1/images/{key...}"),
// never the raw path, so the number of series stays bounded; requests that
// match no route, or are answered before routing (a refused cross-site
// request, a store failure while authenticating), count as route "none".

// metrics holds a Server's registry and the instruments its handlers feed.
type metrics struct {
	once     sync.Once
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// instruments returns the server's metrics, built on first use.
func (s *Server) instruments() *metrics {
	m := &s.metrics
	m.once.Do(func() {
		m.reg = prometheus.NewRegistry()
		m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixpool_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"})
		m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pixpool_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"})
		m.reg.MustRegister(
			m.requests, m.latency,
			&poolCollector{s: s},
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	})
	return m
}

// MetricsHandler serves the server's metrics in the Prometheus text
// format to anyone: mount it only on a private listener. The main
// handler serves the same at GET /metrics to admins.
func (s *Server) MetricsHandler() http.Handler {
	reg := s.instruments().reg
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// handleMetrics is GET /metrics on the main listener: admins only, a 404
// page for everyone else, as for the other admin pages. It takes an API
// key as well as a session, so a scraper can use a bearer key.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if u := authFrom(r.Context()).user; u == nil || !u.Admin {
		s.errorPage(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "Page not found."))
		return
	}
	s.MetricsHandler().ServeHTTP(w, r)
}

// promLogger passes promhttp's errors to the server's log.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) {
	l.s.logger().Warn("metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// routeKey carries a *string through the request's context: matched sets
// it to the pattern the mux chose, for instrument to read.
const routeKey ctxKey = 2

// instrument counts and times every request. It wraps the whole chain, so
// requests refused before routing count too; the route comes from
// matched, further in.
func (s *Server) instrument(next http.Handler) http.Handler {
	m := s.instruments()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := new(string)
		sw := &statusWriter{ResponseWriter: w}
		finished := false
		defer func() { // deferred, so an aborted (panicking) request counts too
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			if !finished {
				status = http.StatusInternalServerError
			}
			pattern := *route
			if pattern == "" {
				pattern = "none"
			}
			method := metricMethod(r.Method)
			m.requests.WithLabelValues(pattern, method, strconv.Itoa(status)).Inc()
			m.latency.WithLabelValues(pattern, method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), routeKey, route)))
		finished = true
	})
}

// matched wraps the mux: once it has routed a request, r.Pattern holds
// the pattern it chose (the mux sets it on the request it was given).
func matched(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p, ok := r.Context().Value(routeKey).(*string); ok {
				*p = r.Pattern
			}
		}()
		mux.ServeHTTP(w, r)
	})
}

// metricMethod bounds the method label: clients can send any token.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// poolCollector reads the cache pool at scrape time: its size, each
// node's live counters, and the resize history.
type poolCollector struct {
	s *Server

	mu      sync.Mutex // guards seen, resizes
	seen    time.Time  // At of the newest history entry counted
	resizes map[string]float64
}

var (
	poolNodesDesc = prometheus.NewDesc("pixpool_pool_nodes",
		"Cache nodes in the pool's layout.", nil, nil)
	nodeUpDesc = prometheus.NewDesc("pixpool_cache_node_up",
		"1 if the cache node answered this scrape, else 0.", []string{"node"}, nil)
	nodeHitsDesc = prometheus.NewDesc("pixpool_cache_node_hits_total",
		"Lookups the cache node answered with a value, since it started.", []string{"node"}, nil)
	nodeMissesDesc = prometheus.NewDesc("pixpool_cache_node_misses_total",
		"Lookups the cache node did not have, since it started.", []string{"node"}, nil)
	nodeItemsDesc = prometheus.NewDesc("pixpool_cache_node_items",
		"Items held by the cache node.", []string{"node"}, nil)
	nodeBytesDesc = prometheus.NewDesc("pixpool_cache_node_bytes",
		"Bytes of the items held by the cache node.", []string{"node"}, nil)
	resizesDesc = prometheus.NewDesc("pixpool_pool_resizes_total",
		"Pool resizes by reason (manual, auto, ...), counted from the pool's resize history: "+
			"the history retained when this server started (at most 100), then every resize after.",
		[]string{"reason"}, nil)
)

// Describe sends every series the collector may report.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolNodesDesc, nodeUpDesc, nodeHitsDesc, nodeMissesDesc, nodeItemsDesc, nodeBytesDesc, resizesDesc} {
		ch <- d
	}
}

// Collect reports the pool as it is now; without a pool, nothing.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.s.Manager
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch <- prometheus.MustNewConstMetric(poolNodesDesc, prometheus.GaugeValue, float64(m.Size()))
	for _, ns := range m.Stats(ctx) {
		up := 0.0
		if ns.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(nodeUpDesc, prometheus.GaugeValue, up, ns.ID)
		if !ns.Up {
			continue // its counters are unknown, not zero
		}
		ch <- prometheus.MustNewConstMetric(nodeHitsDesc, prometheus.CounterValue, float64(ns.Hits), ns.ID)
		ch <- prometheus.MustNewConstMetric(nodeMissesDesc, prometheus.CounterValue, float64(ns.Misses), ns.ID)
		ch <- prometheus.MustNewConstMetric(nodeItemsDesc, prometheus.GaugeValue, float64(ns.Items), ns.ID)
		ch <- prometheus.MustNewConstMetric(nodeBytesDesc, prometheus.GaugeValue, float64(ns.Bytes), ns.ID)
	}

	// The history is bounded, so its length could go down; counting the
	// entries newer than the last one seen keeps the counter monotonic.
	hist := m.State().Resizes
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resizes == nil {
		c.resizes = map[string]float64{}
	}
	for _, rz := range hist {
		if rz.At.After(c.seen) {
			c.resizes[resizeReason(rz.Reason)]++
		}
	}
	if n := len(hist); n > 0 && hist[n-1].At.After(c.seen) {
		c.seen = hist[n-1].At
	}
	for reason, n := range c.resizes {
		ch <- prometheus.MustNewConstMetric(resizesDesc, prometheus.CounterValue, n, reason)
	}
}

var reasonRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// resizeReason normalises a history reason to its kind, the part before
// ':' ("auto: miss rate 0.62 ..." is "auto"); anything odd is "other".
func resizeReason(reason string) string {
	kind, _, _ := strings.Cut(reason, ":")
	kind = strings.ToLower(strings.TrimSpace(kind))
	if !reasonRE.MatchString(kind) {
		return "other"
	}
	return kind
}
