package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pool"
)

// adminAPIRoutes registers /api/v1/admin; api registers a route of
// /api/v1 (authenticated, recorded for the OpenAPI test). Every route is
// for admins only: others get 404, as if it did not exist. Pool and cache
// routes answer 503 when serve runs without a cache, backup routes
// (backupapi.go) without a Backups service.
func (s *Server) adminAPIRoutes(api func(pattern string, h http.HandlerFunc)) {
	api("GET /api/v1/admin/pool", s.requireAPIAdmin(s.handleAPIAdminPool))
	api("PUT /api/v1/admin/pool/size", s.requireAPIAdmin(s.handleAPIAdminPoolSize))
	api("PUT /api/v1/admin/pool/mode", s.requireAPIAdmin(s.handleAPIAdminPoolMode))
	api("PUT /api/v1/admin/cache", s.requireAPIAdmin(s.handleAPIAdminCache))
	api("POST /api/v1/admin/cache/clear", s.requireAPIAdmin(s.handleAPIAdminCacheClear))
	api("GET /api/v1/admin/stats", s.requireAPIAdmin(s.handleAPIAdminStats))
	api("GET /api/v1/admin/nodes/{id}/keys", s.requireAPIAdmin(s.handleAPIAdminNodeKeys))
	api("GET /api/v1/admin/images", s.requireAPIAdmin(s.handleAPIAdminImages))
	api("DELETE /api/v1/admin/images", s.requireAPIAdmin(s.handleAPIAdminDeleteAll))
	api("GET /api/v1/admin/users", s.requireAPIAdmin(s.handleAPIAdminUsers))
	api("PATCH /api/v1/admin/users/{id}", s.requireAPIAdmin(s.handleAPIAdminUserPatch))
	api("GET /api/v1/admin/signup", s.requireAPIAdmin(s.handleAPIAdminSignup))
	api("PUT /api/v1/admin/signup", s.requireAPIAdmin(s.handleAPIAdminSignupPut))
	api("GET /api/v1/admin/invites", s.requireAPIAdmin(s.handleAPIAdminInvites))
	api("POST /api/v1/admin/invites", s.requireAPIAdmin(s.handleAPIAdminInviteCreate))
	api("DELETE /api/v1/admin/invites/{id}", s.requireAPIAdmin(s.handleAPIAdminInviteDelete))
	api("GET /api/v1/admin/backups", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackups)))
	api("POST /api/v1/admin/backups", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupCreate)))
	api("PUT /api/v1/admin/backups/config", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupConfig)))
	api("POST /api/v1/admin/backups/restore", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupRestoreUpload)))
	api("GET /api/v1/admin/backups/{name}", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackup)))
	api("GET /api/v1/admin/backups/{name}/archive", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupArchive)))
	api("POST /api/v1/admin/backups/{name}/restore", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupRestore)))
}

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
	m := s.Pool
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
	if s.Pool == nil {
		s.Error(w, r, errPoolUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, s.poolState(r.Context()))
}

// handleAPIAdminPoolSize resizes the pool to {"nodes":N} and answers when
// the new layout is in effect, with the resize's report.
func (s *Server) handleAPIAdminPoolSize(w http.ResponseWriter, r *http.Request) {
	if s.Pool == nil {
		s.Error(w, r, errPoolUnavailable)
		return
	}
	var body struct {
		Nodes int `json:"nodes"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	if body.Nodes < 1 { // 0 would mean "unchanged" to applyPoolChange
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "The pool size must be 1 to %d nodes.", s.Pool.MaxSize()))
		return
	}
	rep, err := s.applyPoolChange(r.Context(), poolChange{nodes: body.Nodes, reason: manager.ModeManual})
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
	}{rep.From, rep.To, rep.Moved, rep.Dropped, durationMS(rep.Took), s.Pool.Size()})
}

// handleAPIAdminPoolMode sets the mode and, merged over the current ones,
// any auto-scaler settings given; it answers with the pool's state.
func (s *Server) handleAPIAdminPoolMode(w http.ResponseWriter, r *http.Request) {
	if s.Pool == nil {
		s.Error(w, r, errPoolUnavailable)
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
	_, p := s.Pool.Auto()
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
	if _, err := s.applyPoolChange(r.Context(), poolChange{mode: body.Mode, params: &p}); err != nil {
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

// handleAPIAdminCache sets every node's capacity (MB) and policy; either may
// be left out, and both are checked before either changes.
func (s *Server) handleAPIAdminCache(w http.ResponseWriter, r *http.Request) {
	if s.Pool == nil {
		s.Error(w, r, errPoolUnavailable)
		return
	}
	var body struct {
		CapacityMB *int    `json:"capacity_mb"`
		Policy     *string `json:"policy"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	if body.CapacityMB == nil && body.Policy == nil {
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "Give capacity_mb, policy or both."))
		return
	}
	// Zero values mean "unchanged" to applyPoolChange: refuse them here.
	var c poolChange
	if body.CapacityMB != nil {
		if c.capacityMB = *body.CapacityMB; c.capacityMB < 1 {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "The capacity must be 1 to %d MB.", maxCapacityMB))
			return
		}
	}
	if body.Policy != nil {
		if c.policy = *body.Policy; c.policy == "" {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "The policy must be LRU or RR."))
			return
		}
	}
	if _, err := s.applyPoolChange(r.Context(), c); err != nil {
		s.Error(w, r, err)
		return
	}
	st := s.Pool.State()
	writeJSON(w, http.StatusOK, struct {
		CapacityMB int    `json:"capacity_mb"`
		Policy     string `json:"policy"`
	}{st.CapacityMB, st.Policy})
}

// handleAPIAdminCacheClear empties every node.
func (s *Server) handleAPIAdminCacheClear(w http.ResponseWriter, r *http.Request) {
	if s.Pool == nil {
		s.Error(w, r, errPoolUnavailable)
		return
	}
	if err := s.Pool.Clear(r.Context()); err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Info("cache cleared", "by", authFrom(r.Context()).user.Username)
	w.WriteHeader(http.StatusNoContent)
}

// handleAPIAdminStats answers the pool's history in one-minute buckets,
// oldest first, ending with the current minute up to this moment (the
// interval in progress read from the nodes): ?minutes=1..1440 (30).
func (s *Server) handleAPIAdminStats(w http.ResponseWriter, r *http.Request) {
	minutes := 30
	if v := r.URL.Query().Get("minutes"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1440 {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "minutes must be a whole number from 1 to 1440."))
			return
		}
		minutes = n
	}
	now := time.Now().UTC()
	start := now.Truncate(time.Minute).Add(time.Minute - time.Duration(minutes)*time.Minute)
	samples, err := s.poolSamples(r.Context(), start.Add(-time.Millisecond), now)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Minutes int              `json:"minutes"`
		Buckets []manager.Bucket `json:"buckets"`
	}{minutes, manager.Buckets(samples, now, minutes)})
}

// pageParams reads ?offset=&limit= strictly: offset ≥ 0, limit 1..1000
// (default def).
func pageParams(q url.Values, def int) (offset, limit int, err error) {
	offset, limit = 0, def
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, pixpool.Errorf(pixpool.EINVALID, "offset must be a whole number, 0 or more.")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return 0, 0, pixpool.Errorf(pixpool.EINVALID, "limit must be a whole number from 1 to 1000.")
		}
	}
	return offset, limit, nil
}

// handleAPIAdminNodeKeys pages through a node's keys in LRU order, least
// recently used first. The keys are the cache's own (owner id and image
// key, encoded).
func (s *Server) handleAPIAdminNodeKeys(w http.ResponseWriter, r *http.Request) {
	if s.Pool == nil {
		s.Error(w, r, errPoolUnavailable)
		return
	}
	offset, limit, err := pageParams(r.URL.Query(), 100)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	id := r.PathValue("id")
	keys, err := s.Pool.Keys(r.Context(), id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	total := len(keys)
	keys = keys[min(offset, total):min(offset+limit, total)]
	if keys == nil {
		keys = []pool.KeyInfo{}
	}
	writeJSON(w, http.StatusOK, struct {
		Node   string         `json:"node"`
		Total  int            `json:"total"`
		Offset int            `json:"offset"`
		Limit  int            `json:"limit"`
		Keys   []pool.KeyInfo `json:"keys"`
	}{id, total, offset, limit, keys})
}

// adminImageJSON is an image of any user, with its owner's username.
type adminImageJSON struct {
	Owner string `json:"owner"`
	imageJSON
}

// handleAPIAdminImages pages through every user's images, ordered by owner
// then key: ?owner=<username>&prefix=&offset=&limit=.
func (s *Server) handleAPIAdminImages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, err := pageParams(q, 100)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f := pixpool.ImageFilter{Prefix: q.Get("prefix"), Offset: offset, Limit: limit}
	if name := q.Get("owner"); name != "" {
		u, err := s.Store.UserByUsername(r.Context(), name)
		if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
			err = pixpool.Errorf(pixpool.ENOTFOUND, "No user named %q.", name)
		}
		if err != nil {
			s.Error(w, r, err)
			return
		}
		f.OwnerID = u.ID
	}
	total, err := s.Store.CountImages(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	imgs, err := s.Store.Images(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	owners := map[int64]string{}
	out := []adminImageJSON{}
	for _, img := range imgs {
		name, ok := owners[img.OwnerID]
		if !ok {
			u, err := s.Store.User(r.Context(), img.OwnerID)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			name, owners[img.OwnerID] = u.Username, u.Username
		}
		out = append(out, adminImageJSON{name, toImageJSON(img)})
	}
	writeJSON(w, http.StatusOK, struct {
		Total  int              `json:"total"`
		Offset int              `json:"offset"`
		Limit  int              `json:"limit"`
		Images []adminImageJSON `json:"images"`
	}{total, offset, limit, out})
}

// handleAPIAdminDeleteAll deletes every image of every user, bytes and
// metadata, and clears the cache; accounts stay. It needs ?confirm=DELETE.
func (s *Server) handleAPIAdminDeleteAll(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("confirm") != "DELETE" {
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "This deletes every image of every user: add ?confirm=DELETE to go ahead."))
		return
	}
	n, err := s.Images.DeleteAll(context.WithoutCancel(r.Context()))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Warn("all data deleted", "by", authFrom(r.Context()).user.Username, "images", n)
	writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
}

// adminUserJSON is an account as admins see it.
type adminUserJSON struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Email     string    `json:"email"`
	Admin     bool      `json:"admin"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

func toAdminUserJSON(u *pixpool.User) adminUserJSON {
	return adminUserJSON{u.ID, u.Username, u.FirstName, u.LastName, u.Email, u.Admin, u.Disabled, u.CreatedAt}
}

// handleAPIAdminUsers pages through the users by username:
// ?offset=&limit=; "next_offset" is there when more follow.
func (s *Server) handleAPIAdminUsers(w http.ResponseWriter, r *http.Request) {
	offset, limit, err := pageParams(r.URL.Query(), 100)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	users, err := s.Store.Users(r.Context(), offset, limit+1)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	resp := struct {
		Users      []adminUserJSON `json:"users"`
		NextOffset *int            `json:"next_offset,omitempty"`
	}{Users: []adminUserJSON{}}
	if len(users) > limit {
		users = users[:limit]
		next := offset + limit
		resp.NextOffset = &next
	}
	for _, u := range users {
		resp.Users = append(resp.Users, toAdminUserJSON(u))
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleAPIAdminUserPatch promotes, demotes, disables or enables a user:
// {"admin":bool,"disabled":bool}, either optional.
func (s *Server) handleAPIAdminUserPatch(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.Error(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "No such user."))
		return
	}
	var body struct {
		Admin    *bool `json:"admin"`
		Disabled *bool `json:"disabled"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	// SetUserAdmin and SetUserDisabled (admin.go) are shared with the
	// portal: nobody can demote or disable themselves, the last admin
	// stays one, and disabling ends the user's sessions.
	actor := authFrom(r.Context()).user
	if body.Disabled != nil && *body.Disabled && id == actor.ID {
		// Refused before the admin flag could change.
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "You cannot disable your own account."))
		return
	}
	u, err := s.Store.User(r.Context(), id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		err = pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if body.Admin != nil {
		if u, err = s.SetUserAdmin(r.Context(), actor, id, *body.Admin); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	if body.Disabled != nil {
		if u, err = s.SetUserDisabled(r.Context(), actor, id, *body.Disabled); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, toAdminUserJSON(u))
}
