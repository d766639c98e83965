package http

import (
	"net/http"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/manager"
)

// handleAPIAdminCache sets every node's capacity (MB) and policy; either may
// be left out, and both are checked before either changes.
func (s *Server) handleAPIAdminCache(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
		s.Error(w, r, manager.ErrNoPool)
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
	// Zero values mean "unchanged" to ApplyChange: refuse them here.
	var c manager.Change
	if body.CapacityMB != nil {
		if c.CapacityMB = *body.CapacityMB; c.CapacityMB < 1 {
			s.Error(w, r, manager.CheckCapacity(c.CapacityMB))
			return
		}
	}
	if body.Policy != nil {
		if c.Policy = *body.Policy; c.Policy == "" {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "The policy must be LRU or RR."))
			return
		}
	}
	if _, err := s.Manager.ApplyChange(r.Context(), c); err != nil {
		s.Error(w, r, err)
		return
	}
	st := s.Manager.State()
	writeJSON(w, http.StatusOK, struct {
		CapacityMB int    `json:"capacity_mb"`
		Policy     string `json:"policy"`
	}{st.CapacityMB, st.Policy})
}

// handleAPIAdminCacheClear empties every node.
func (s *Server) handleAPIAdminCacheClear(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
		s.Error(w, r, manager.ErrNoPool)
		return
	}
	if err := s.Manager.Clear(r.Context()); err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Info("cache cleared", "by", authFrom(r.Context()).user.Username)
	w.WriteHeader(http.StatusNoContent)
}
