package http

import (
	"context"
	"net/http"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pool"
)

// autoParamsJSON is autoscale.Params in the admin API, with the cooldown
// in seconds rather than nanoseconds.
type autoParamsJSON struct {
	MaxMiss         float64 `json:"max_miss"`
	MinMiss         float64 `json:"min_miss"`
	Expand          float64 `json:"expand"`
	Shrink          float64 `json:"shrink"`
	MinNodes        int     `json:"min_nodes"`
	MaxNodes        int     `json:"max_nodes"`
	CooldownSeconds float64 `json:"cooldown_seconds"`
}

func toAutoParamsJSON(p autoscale.Params) autoParamsJSON {
	return autoParamsJSON{p.MaxMiss, p.MinMiss, p.Expand, p.Shrink, p.MinNodes, p.MaxNodes, p.Cooldown.Seconds()}
}

// adminNodeJSON is one node with its live stats (pool.NodeStats' fields)
// and its hit rate since it started.
type adminNodeJSON struct {
	pool.NodeStats
	HitRate float64 `json:"hit_rate"`
}

// resizeJSON is one entry of the resize history.
type resizeJSON struct {
	At     time.Time `json:"at"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason"`
	Moved  int       `json:"moved"`
	TookMS float64   `json:"took_ms"`
}

// adminPoolJSON is the pool's state as GET /api/v1/admin/pool shows it.
type adminPoolJSON struct {
	Mode       string          `json:"mode"`
	Auto       autoParamsJSON  `json:"auto"`
	CapacityMB int             `json:"capacity_mb"`
	Policy     string          `json:"policy"`
	Size       int             `json:"size"`
	MaxSize    int             `json:"max_size"`
	Resizable  bool            `json:"resizable"` // false for a fixed --cache-nodes pool
	Epoch      int64           `json:"epoch"`
	Nodes      []adminNodeJSON `json:"nodes"`
	Resizes    []resizeJSON    `json:"resizes"` // newest first
}

// poolState reads the pool's state and every node's live stats.
func (s *Server) poolState(ctx context.Context) adminPoolJSON {
	m := s.Manager
	st := m.State()
	live := map[string]pool.NodeStats{}
	for _, ns := range m.Stats(ctx) {
		live[ns.ID] = ns
	}
	out := adminPoolJSON{
		Mode: st.Mode, Auto: toAutoParamsJSON(st.Auto), CapacityMB: st.CapacityMB, Policy: st.Policy,
		Size: len(st.Nodes), MaxSize: m.MaxSize(), Resizable: m.Provider != nil, Epoch: st.Epoch,
		Nodes: []adminNodeJSON{}, Resizes: []resizeJSON{},
	}
	for _, n := range st.Nodes {
		ns, ok := live[n.ID]
		if !ok {
			ns = pool.NodeStats{NodeInfo: n}
		}
		j := adminNodeJSON{NodeStats: ns}
		if lookups := ns.Hits + ns.Misses; lookups > 0 {
			j.HitRate = float64(ns.Hits) / float64(lookups)
		}
		out.Nodes = append(out.Nodes, j)
	}
	for i := len(st.Resizes) - 1; i >= 0; i-- {
		rz := st.Resizes[i]
		out.Resizes = append(out.Resizes, resizeJSON{rz.At, rz.From, rz.To, rz.Reason, rz.Moved, durationMS(rz.Took)})
	}
	return out
}

func durationMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s *Server) handleAPIAdminPool(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
		s.Error(w, r, manager.ErrNoPool)
		return
	}
	writeJSON(w, http.StatusOK, s.poolState(r.Context()))
}

// handleAPIAdminPoolSize resizes the pool to {"nodes":N} and answers when
// the new layout is in effect, with the resize's report.
func (s *Server) handleAPIAdminPoolSize(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
		s.Error(w, r, manager.ErrNoPool)
		return
	}
	var body struct {
		Nodes int `json:"nodes"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.Manager.CheckSize(body.Nodes); err != nil { // 0 would mean "unchanged" to ApplyChange
		s.Error(w, r, err)
		return
	}
	rep, err := s.Manager.ApplyChange(r.Context(), manager.Change{Nodes: body.Nodes, Reason: manager.ModeManual})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		From    int     `json:"from"`
		To      int     `json:"to"`
		Moved   int     `json:"moved"`
		Dropped int     `json:"dropped"`
		TookMS  float64 `json:"took_ms"`
		Size    int     `json:"size"`
	}{rep.From, rep.To, rep.Moved, rep.Dropped, durationMS(rep.Took), s.Manager.Size()})
}

// handleAPIAdminPoolMode sets the mode and, merged over the current ones,
// any auto-scaler settings given; it answers with the pool's state.
func (s *Server) handleAPIAdminPoolMode(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
		s.Error(w, r, manager.ErrNoPool)
		return
	}
	var body struct {
		Mode            string   `json:"mode"`
		MaxMiss         *float64 `json:"max_miss"`
		MinMiss         *float64 `json:"min_miss"`
		Expand          *float64 `json:"expand"`
		Shrink          *float64 `json:"shrink"`
		MinNodes        *int     `json:"min_nodes"`
		MaxNodes        *int     `json:"max_nodes"`
		CooldownSeconds *float64 `json:"cooldown_seconds"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	if body.Mode == "" {
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "The mode must be manual or auto."))
		return
	}
	_, p := s.Manager.Auto()
	setIf(&p.MaxMiss, body.MaxMiss)
	setIf(&p.MinMiss, body.MinMiss)
	setIf(&p.Expand, body.Expand)
	setIf(&p.Shrink, body.Shrink)
	setIf(&p.MinNodes, body.MinNodes)
	setIf(&p.MaxNodes, body.MaxNodes)
	if c := body.CooldownSeconds; c != nil {
		if *c < 0 || *c > (24*time.Hour).Seconds() {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "The cooldown must be between 0 and 24 hours."))
			return
		}
		p.Cooldown = time.Duration(*c * float64(time.Second))
	}
	if _, err := s.Manager.ApplyChange(r.Context(), manager.Change{Mode: body.Mode, Auto: &p}); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.poolState(r.Context()))
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
