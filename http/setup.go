package http

import (
	"net/http"

	"github.com/pixpool/pixpool"
)

// setupUsed is the answer to a setup link that cannot be used.
var setupUsed = pixpool.Errorf(pixpool.ENOTFOUND, "This setup link has been used or has expired.")

// setupPage is setup.html's data.
type setupPage struct {
	layout
	Token string // the one-time setup token
}

func (s *Server) handleSetupForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	pending, err := s.Accounts.SetupPending(r.Context())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if token == "" || !pending {
		s.errorPage(w, r, setupUsed)
		return
	}
	d := &setupPage{layout: s.page(r, "Set up pixpool", "")}
	d.Token = token
	s.render(w, r, http.StatusOK, "setup.html", d)
}

// handleSetup creates the admin account with the one-time setup token.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.errorPage(w, r, err)
		return
	}
	token, pw := r.PostFormValue("token"), r.PostFormValue("password")
	if pw != r.PostFormValue("password_confirm") {
		d := &setupPage{layout: s.page(r, "Set up pixpool", "")}
		d.Token, d.Error = token, "The two passwords do not match."
		s.render(w, r, http.StatusBadRequest, "setup.html", d)
		return
	}
	_, sess, tok, err := s.Accounts.SetupAdmin(r.Context(), token, pw, s.clientIP(r))
	if c := pixpool.ErrorCode(err); c == pixpool.EINVALID || c == pixpool.ECONFLICT || c == pixpool.ETOOMANY {
		s.logError(r, err)
		d := &setupPage{layout: s.page(r, "Set up pixpool", "")}
		d.Token, d.Error = token, pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "setup.html", d)
		return
	} else if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.setSessionCookie(w, r, tok, sess.ExpiresAt)
	redirect(w, r, "/")
}
