package http

import (
	"net/http"
)

// recentCount is how many of the newest images the dashboard shows.
const recentCount = 8

// homePage is home.html's data: the user's dashboard, or for visitors
// the layout alone.
type homePage struct {
	layout
	Count  int     // the user's images
	Thumbs []thumb // the newest of them
	// Storage is the user's usage against their quota.
	Storage storageView
}

// handleHome shows what pixpool is, or a logged-in user's dashboard.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	d := &homePage{layout: s.page(r, "pixpool", "home")}
	if d.User == nil {
		s.render(w, r, http.StatusOK, "home.html", d)
		return
	}
	var err error
	if d.Count, err = s.Images.Count(r.Context(), d.User.ID); err != nil {
		s.errorPage(w, r, err)
		return
	}
	imgs, err := s.Images.Newest(r.Context(), d.User.ID, recentCount)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d.Thumbs = s.thumbs(imgs)
	if d.Storage, err = s.storage(r.Context(), d.User.ID); err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "home.html", d)
}
