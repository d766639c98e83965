package http

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
)

// The pool.

// modeForm is the auto-scaler's form as typed; rates are in percent.
type modeForm struct {
	Mode                     string
	MaxMiss, MinMiss         string
	Expand, Shrink, Cooldown string
	MinNodes, MaxNodes       string
}

func formFromParams(mode string, p autoscale.Params) modeForm {
	pc := func(rate float64) string { return strconv.FormatFloat(math.Round(rate*1e6)/1e4, 'f', -1, 64) }
	fl := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return modeForm{
		Mode: mode, MaxMiss: pc(p.MaxMiss), MinMiss: pc(p.MinMiss), Expand: fl(p.Expand), Shrink: fl(p.Shrink),
		Cooldown: strconv.FormatInt(int64(p.Cooldown/time.Second), 10),
		MinNodes: strconv.Itoa(p.MinNodes), MaxNodes: strconv.Itoa(p.MaxNodes),
	}
}

// params reads the form. The rates are checked here, where the messages
// can speak in percent as the form does; Params.Validate checks the rest.
func (f modeForm) params() (autoscale.Params, error) {
	var p autoscale.Params
	num := func(s, msg string) (float64, error) {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, pixpool.Errorf(pixpool.EINVALID, "%s", msg)
		}
		return v, nil
	}
	whole := func(s, msg string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, pixpool.Errorf(pixpool.EINVALID, "%s", msg)
		}
		return v, nil
	}
	maxMiss, err := num(f.MaxMiss, "The max miss rate must be a number of percent, such as 50.")
	if err != nil {
		return p, err
	}
	minMiss, err := num(f.MinMiss, "The min miss rate must be a number of percent, such as 10.")
	if err != nil {
		return p, err
	}
	switch {
	case maxMiss <= 0 || maxMiss > 100:
		return p, pixpool.Errorf(pixpool.EINVALID, "The max miss rate must be above 0%% and at most 100%%.")
	case minMiss < 0 || minMiss >= 100:
		return p, pixpool.Errorf(pixpool.EINVALID, "The min miss rate must be at least 0%% and below 100%%.")
	case minMiss >= maxMiss:
		return p, pixpool.Errorf(pixpool.EINVALID, "The min miss rate must be below the max miss rate.")
	}
	p.MaxMiss, p.MinMiss = maxMiss/100, minMiss/100
	if p.Expand, err = num(f.Expand, "The expand ratio must be a number, such as 2."); err != nil {
		return p, err
	}
	if p.Shrink, err = num(f.Shrink, "The shrink ratio must be a number, such as 0.5."); err != nil {
		return p, err
	}
	cooldown, err := whole(f.Cooldown, "The cooldown must be a whole number of seconds, such as 120.")
	if err != nil {
		return p, err
	}
	if cooldown < 0 || cooldown > 24*3600 {
		return p, pixpool.Errorf(pixpool.EINVALID, "The cooldown must be between 0 and 86400 seconds (24 hours).")
	}
	p.Cooldown = time.Duration(cooldown) * time.Second
	if p.MinNodes, err = whole(f.MinNodes, "The minimum pool size must be a whole number of nodes."); err != nil {
		return p, err
	}
	if p.MaxNodes, err = whole(f.MaxNodes, "The maximum pool size must be a whole number of nodes."); err != nil {
		return p, err
	}
	return p, nil
}

// nodeRow is one line of the node list.
type nodeRow struct {
	ID, Addr               string
	Up                     bool
	Items, Bytes, Capacity int64
	HitRate                string
}

// resizeRow is one line of the resize history.
type resizeRow struct {
	manager.Resize
	Took string
}

// adminPoolPage is admin_pool.html's data.
type adminPoolPage struct {
	adminLayout
	Size, MaxSize int
	Mode          string
	Fixed         bool // a static list of nodes: no resizing, no automatic mode
	Form          modeForm
	Nodes         []nodeRow
	History       []resizeRow // newest first
}

// renderPoolPage renders the pool page; form, if not nil, is the mode form as
// typed.
func (s *Server) renderPoolPage(w http.ResponseWriter, r *http.Request, status int, p *adminPoolPage, form *modeForm) {
	if s.Manager == nil {
		s.render(w, r, status, "admin_pool.html", p)
		return
	}
	st := s.Manager.State()
	p.Size, p.MaxSize, p.Mode, p.Fixed = len(st.Nodes), s.Manager.MaxSize(), st.Mode, s.Manager.Provider == nil
	p.Form = formFromParams(st.Mode, st.Auto)
	if form != nil {
		p.Form = *form
	}
	for _, ns := range s.Manager.Stats(r.Context()) {
		p.Nodes = append(p.Nodes, nodeRow{ID: ns.ID, Addr: ns.Addr, Up: ns.Up, Items: ns.Items, Bytes: ns.Bytes,
			Capacity: ns.Capacity, HitRate: hitRateText(ns.Hits, ns.Misses)})
	}
	for _, rs := range slices.Backward(st.Resizes) {
		p.History = append(p.History, resizeRow{Resize: rs, Took: rs.Took.Round(time.Millisecond).String()})
	}
	s.render(w, r, status, "admin_pool.html", p)
}

// newAdminPoolPage starts the pool page.
func (s *Server) newAdminPoolPage(r *http.Request) *adminPoolPage {
	return &adminPoolPage{adminLayout: s.adminPage(r, "Cache pool", "pool")}
}

func (s *Server) handlePortalPool(w http.ResponseWriter, r *http.Request) {
	s.renderPoolPage(w, r, http.StatusOK, s.newAdminPoolPage(r), nil)
}

// handlePortalPoolMode switches between manual and automatic sizing and
// saves the auto-scaler's settings.
func (s *Server) handlePortalPoolMode(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminPoolPage(r)
	f := modeForm{
		Mode: r.PostFormValue("mode"), MaxMiss: r.PostFormValue("max_miss"), MinMiss: r.PostFormValue("min_miss"),
		Expand: r.PostFormValue("expand"), Shrink: r.PostFormValue("shrink"), Cooldown: r.PostFormValue("cooldown"),
		MinNodes: r.PostFormValue("min_nodes"), MaxNodes: r.PostFormValue("max_nodes"),
	}
	var err error = manager.ErrNoPool
	if s.Manager != nil {
		var p autoscale.Params
		if p, err = f.params(); err == nil {
			err = s.Manager.SetMode(r.Context(), f.Mode, p)
		}
	}
	if err != nil {
		s.logError(r, err)
		d.Error, d.ErrorFor = pixpool.ErrorMessage(err), "mode"
		s.renderPoolPage(w, r, pageErrorStatus(err), d, &f)
		return
	}
	redirect(w, r, "/admin/pool?msg=mode-"+f.Mode)
}

// handlePortalPoolSize resizes the pool to n nodes, or by delta (+1, -1)
// from its size now. It answers once the new layout is in effect.
func (s *Server) handlePortalPoolSize(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminPoolPage(r)
	var err error = manager.ErrNoPool
	if s.Manager != nil {
		err = s.resize(r)
	}
	if err != nil {
		s.logError(r, err)
		d.Error, d.ErrorFor = pixpool.ErrorMessage(err), "size"
		s.renderPoolPage(w, r, pageErrorStatus(err), d, nil)
		return
	}
	msg := "resized"
	if st := s.Manager.State(); st.Mode == manager.ModeAuto {
		msg = "resized-auto"
	}
	redirect(w, r, "/admin/pool?msg="+msg)
}

func (s *Server) resize(r *http.Request) error {
	var n int
	if delta := r.PostFormValue("delta"); delta != "" {
		dn, err := strconv.Atoi(delta)
		if err != nil {
			return pixpool.Errorf(pixpool.EINVALID, "The change in size must be a whole number of nodes.")
		}
		n = s.Manager.Size() + dn
	} else {
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(r.PostFormValue("n"))); err != nil {
			return pixpool.Errorf(pixpool.EINVALID, "The pool size must be a whole number of nodes.")
		}
	}
	if err := s.Manager.CheckSize(n); err != nil { // 0 would mean "unchanged" to ApplyChange
		return err
	}
	admin := authFrom(r.Context()).user.Username
	rep, err := s.Manager.ApplyChange(r.Context(), manager.Change{Nodes: n, Reason: "manual: by " + admin + " in the admin portal"})
	if err == nil {
		s.logger().Info("pool resized", "admin", admin, "from", rep.From, "to", rep.To, "moved", rep.Moved, "took", rep.Took)
	}
	return err
}
