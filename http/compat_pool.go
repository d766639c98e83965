package http

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
)

// The pool endpoints of the compatibility API (shared/COMPAT_API.md):
// getNumNodes, getRate and configure_cache. They are admin endpoints
// (compatPool).

// compatParams are a compatibility call's parameters: the query string,
// and for a form-encoded POST the form too (the query wins).
func compatParams(w http.ResponseWriter, r *http.Request) url.Values {
	q := r.URL.Query()
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err == nil {
			for k, v := range r.PostForm {
				if _, ok := q[k]; !ok {
					q[k] = v
				}
			}
		}
	}
	return q
}

// handleCompatNumNodes answers {"success":"true","numNodes":N}; without a
// pool N is 0.
func (s *Server) handleCompatNumNodes(w http.ResponseWriter, r *http.Request) {
	n := 0
	if s.Manager != nil {
		n = s.Manager.Size()
	}
	writeJSON(w, http.StatusOK, struct {
		Success  string `json:"success"`
		NumNodes int    `json:"numNodes"`
	}{"true", n})
}

// handleCompatRate answers {"success":"true","rate":"miss","value":0.25}:
// the pool-wide miss (or hit) rate over the last 60 seconds up to this
// moment, weighted by requests; 0 without lookups (and without a pool).
func (s *Server) handleCompatRate(w http.ResponseWriter, r *http.Request) {
	rate := strings.ToLower(compatParams(w, r).Get("rate"))
	if rate != "miss" && rate != "hit" {
		s.compatError(w, r, pixpool.Errorf(pixpool.EINVALID, `The rate parameter must be "miss" or "hit".`))
		return
	}
	var win autoscale.Stats
	if s.Manager != nil {
		now := time.Now().UTC()
		var err error
		if win, err = s.Manager.Window(r.Context(), now.Add(-time.Minute), now); err != nil {
			s.compatError(w, r, err)
			return
		}
	}
	value := win.MissRate()
	if rate == "hit" && win.Lookups > 0 {
		value = float64(win.Lookups-win.Misses) / float64(win.Lookups)
	}
	writeJSON(w, http.StatusOK, struct {
		Success string  `json:"success"`
		Rate    string  `json:"rate"`
		Value   float64 `json:"value"`
	}{"true", rate, value})
}

// handleCompatConfigure changes the pool from
// ?mode=&numNodes=&cacheSize=&policy=&expRatio=&shrinkRatio=&maxMiss=&minMiss=
// (all optional; an empty value counts as absent). Everything is checked
// before anything changes, and a resize has finished when it answers.
func (s *Server) handleCompatConfigure(w http.ResponseWriter, r *http.Request) {
	m := s.Manager
	if m == nil {
		s.compatError(w, r, manager.ErrNoPool)
		return
	}
	q := compatParams(w, r)
	c := manager.Change{Mode: strings.ToLower(q.Get("mode")), Policy: q.Get("policy"), Reason: "manual: /api/configure_cache"}
	var err error
	if c.Nodes, err = intParam(q, "numNodes"); err != nil {
		s.compatError(w, r, err)
		return
	}
	if c.CapacityMB, err = intParam(q, "cacheSize"); err != nil {
		s.compatError(w, r, err)
		return
	}
	_, p := m.Auto()
	touched := false
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"maxMiss", &p.MaxMiss}, {"minMiss", &p.MinMiss}, {"expRatio", &p.Expand}, {"shrinkRatio", &p.Shrink}} {
		v, ok, err := floatParam(q, f.name)
		if err != nil {
			s.compatError(w, r, err)
			return
		}
		if ok {
			*f.dst, touched = v, true
		}
	}
	if touched {
		c.Auto = &p
	}
	if _, err := m.ApplyChange(r.Context(), c); err != nil {
		s.compatError(w, r, err)
		return
	}
	st := m.State()
	writeJSON(w, http.StatusOK, struct {
		Success   string `json:"success"`
		Mode      string `json:"mode"`
		NumNodes  int    `json:"numNodes"`
		CacheSize int    `json:"cacheSize"`
		Policy    string `json:"policy"`
	}{"true", st.Mode, len(st.Nodes), st.CapacityMB, strings.ToUpper(st.Policy)})
}

// intParam parses an optional whole-number parameter strictly; absent or
// empty is 0.
func intParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, pixpool.Errorf(pixpool.EINVALID, "%s must be a whole number, not %q.", name, v)
	}
	if n == 0 {
		// 0 would read as "unchanged" below; it is out of every range.
		return 0, pixpool.Errorf(pixpool.EINVALID, "%s must be at least 1.", name)
	}
	return n, nil
}

// floatParam parses an optional finite number strictly.
func floatParam(q url.Values, name string) (float64, bool, error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, pixpool.Errorf(pixpool.EINVALID, "%s must be a number, not %q.", name, v)
	}
	return f, true, nil
}
