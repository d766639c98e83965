package http

import (
	"net/http"
	"strconv"

	"github.com/pixpool/pixpool"
)

// handleAPISearch finds the caller's images by label or words of their
// text: ?q= (at most pixpool.MaxSearchQueryBytes, as on the search page)
// &limit= (1..200, default 50).
func (s *Server) handleAPISearch(w http.ResponseWriter, r *http.Request) {
	if s.Analyzer == nil {
		s.Error(w, r, errNoAnalyzer)
		return
	}
	u := authFrom(r.Context()).user
	if err := pixpool.ValidateSearchQuery(r.URL.Query().Get("q")); err != nil {
		s.Error(w, r, err)
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "limit must be a number from 1 to 200."))
			return
		}
		limit = n
	}
	imgs, err := s.Analyzer.Search(r.Context(), u.ID, r.URL.Query().Get("q"), limit)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	out := struct {
		Images []imageJSON `json:"images"`
	}{Images: []imageJSON{}}
	for _, img := range imgs {
		out.Images = append(out.Images, toImageJSON(img))
	}
	writeJSON(w, http.StatusOK, out)
}
