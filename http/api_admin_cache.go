package http

import (
	"net/http"

	"github.com/pixpool/pixpool"
)

// handleAPIAdminCache sets every node's capacity (MB) and policy; either may
// be left out, and both are checked before either changes.
func (s *Server) handleAPIAdminCache(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
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
	st := s.Manager.State()
	writeJSON(w, http.StatusOK, struct {
		CapacityMB int    `json:"capacity_mb"`
		Policy     string `json:"policy"`
	}{st.CapacityMB, st.Policy})
}

// handleAPIAdminCacheClear empties every node.
func (s *Server) handleAPIAdminCacheClear(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
		s.Error(w, r, errPoolUnavailable)
		return
	}
	if err := s.Manager.Clear(r.Context()); err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Info("cache cleared", "by", authFrom(r.Context()).user.Username)
	w.WriteHeader(http.StatusNoContent)
}
