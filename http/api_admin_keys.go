package http

import (
	"net/http"

	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pool"
)

// handleAPIAdminNodeKeys pages through a node's keys in LRU order, least
// recently used first. The keys are the cache's own (owner id and image
// key, encoded).
func (s *Server) handleAPIAdminNodeKeys(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
		s.Error(w, r, manager.ErrNoPool)
		return
	}
	offset, limit, err := pageParams(r.URL.Query(), 100)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	id := r.PathValue("id")
	keys, err := s.Manager.Keys(r.Context(), id)
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
