package http

import (
	"net/http"

	"github.com/pixpool/pixpool"
)

// getPage is get.html's data.
type getPage struct {
	layout
	Key   string
	Image *pixpool.Image // the image found, if any
}

// handleGetForm looks an image up by key and shows it.
func (s *Server) handleGetForm(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	d := &getPage{layout: s.page(r, "Get by key", "get")}
	d.Key = r.URL.Query().Get("key")
	if d.Key == "" {
		s.render(w, r, http.StatusOK, "get.html", d)
		return
	}
	img, err := s.Images.Info(r.Context(), u.ID, d.Key)
	if err != nil {
		err = keyNotFound(err, d.Key)
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "get.html", d)
		return
	}
	d.Image = img
	s.render(w, r, http.StatusOK, "get.html", d)
}
