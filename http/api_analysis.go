package http

import (
	"net/http"
	"time"

	"github.com/pixpool/pixpool"
)

// analysisJSON is an image's recognition result in /api/v1.
type analysisJSON struct {
	Key       string             `json:"key"`
	Status    string             `json:"status"` // pending, done, failed or not_queued
	Labels    []pixpool.Label    `json:"labels"`
	Text      []pixpool.TextLine `json:"text"`
	Error     string             `json:"error,omitempty"`
	Attempts  int                `json:"attempts"`
	UpdatedAt *time.Time         `json:"updated_at,omitempty"`
	// Missing says what recognition lacks on this server, if anything.
	Missing string `json:"missing,omitempty"`
}

var errNoAnalyzer = pixpool.Errorf(pixpool.EUNAVAILABLE, "Recognition is off on this server.")

func (s *Server) handleAPIAnalysis(w http.ResponseWriter, r *http.Request) {
	if s.Analyzer == nil {
		s.Error(w, r, errNoAnalyzer)
		return
	}
	u := authFrom(r.Context()).user
	img, an, err := s.Analyzer.Result(r.Context(), u.ID, pathKey(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	out := analysisJSON{Key: img.Key, Status: "not_queued", Labels: []pixpool.Label{}, Text: []pixpool.TextLine{}, Missing: s.Analyzer.Installed()}
	if an != nil {
		out.Status, out.Error, out.Attempts = an.Status, an.Error, an.Attempts
		if an.Labels != nil {
			out.Labels = an.Labels
		}
		if an.Lines != nil {
			out.Text = an.Lines
		}
		if !an.UpdatedAt.IsZero() {
			t := an.UpdatedAt
			out.UpdatedAt = &t
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAPIReanalyze(w http.ResponseWriter, r *http.Request) {
	if s.Analyzer == nil {
		s.Error(w, r, errNoAnalyzer)
		return
	}
	u := authFrom(r.Context()).user
	if err := s.Analyzer.Reanalyze(r.Context(), u.ID, pathKey(r)); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"key": pathKey(r), "status": pixpool.AnalysisPending})
}
