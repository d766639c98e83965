package http

import (
	"net/http"

	"github.com/pixpool/pixpool"
)

// errorView is error.html's data.
type errorView struct {
	layout
	Status int
	Login  bool   // offer the login link
	Next   string // where the login link goes on to
}

// errorPage answers a failed page request: an HTML page with the status
// of err and its safe message, or the JSON error to a script.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	err = interrupted(r, err)
	if wantsJSON(r) {
		s.Error(w, r, err)
		return
	}
	s.logError(r, err)
	status := pageErrorStatus(err)
	d := &errorView{layout: s.page(r, http.StatusText(status), "")}
	d.Status, d.Error = status, pixpool.ErrorMessage(err)
	if pixpool.ErrorCode(err) == pixpool.EUNAUTHORIZED {
		d.Login = true
		if r.Method == http.MethodGet {
			d.Next = r.URL.RequestURI()
		}
	}
	s.render(w, r, status, "error.html", d)
}
