package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/manager"
)

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
