package http

import (
	"net/http"
	"strings"

	"github.com/pixpool/pixpool"
)

// searchLimit is how many matches the search page shows, best first; a
// longer list would be better narrowed down with another word.
const searchLimit = 100

// searchPage is search.html's data.
type searchPage struct {
	layout
	Search *searchView
	Thumbs []thumb // the matches, best first
	Count  int
}

// searchView is the search form and what it found.
type searchView struct {
	Query    string // without surrounding spaces, to re-fill the form
	Searched bool   // a query with something in it was run
	Capped   bool   // more than Limit images match; Thumbs holds the best
	Limit    int
	Off      bool   // analysis is turned off, so nothing can be found
	Missing  string // what recognition lacks on this server, if anything
}

// handleSearch finds the user's images by recognised label or words of
// their text (?q=) and shows them as a gallery, best matches first.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	d := &searchPage{layout: s.page(r, "Search", "search")}
	query := strings.TrimSpace(r.URL.Query().Get("q"))
	view := &searchView{Query: query, Limit: searchLimit}
	d.Search = view
	if s.Analyzer == nil {
		view.Off = true
		s.render(w, r, http.StatusOK, "search.html", d)
		return
	}
	view.Missing = s.Analyzer.Installed()
	if query == "" {
		s.render(w, r, http.StatusOK, "search.html", d)
		return
	}
	if err := pixpool.ValidateSearchQuery(query); err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "search.html", d)
		return
	}
	imgs, err := s.Analyzer.Search(r.Context(), u.ID, query, searchLimit+1)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if len(imgs) > searchLimit {
		imgs, view.Capped = imgs[:searchLimit], true
	}
	d.Title = "Search “" + query + "”"
	view.Searched = true
	d.Thumbs, d.Count = s.thumbs(imgs), len(imgs)
	s.render(w, r, http.StatusOK, "search.html", d)
}
