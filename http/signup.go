package http

import (
	"net/http"
	"strings"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// signupPage is signup.html's data.
type signupPage struct {
	layout
	Form   userForm // the profile fields as typed
	Mode   string   // pixpool.SignupOpen, SignupInvite or SignupClosed
	Invite string   // the invite code as given
}

// newSignupPage starts the sign-up page, with the mode in force.
func (s *Server) newSignupPage(r *http.Request, invite string) (*signupPage, error) {
	d := &signupPage{layout: s.page(r, "Sign up", "signup")}
	mode, err := s.Accounts.SignupMode(r.Context())
	d.Mode, d.Invite = mode, invite
	return d, err
}

// handleSignupForm shows the sign-up form; an invite link fills in the
// code (?invite=).
func (s *Server) handleSignupForm(w http.ResponseWriter, r *http.Request) {
	d, err := s.newSignupPage(r, r.URL.Query().Get("invite"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "signup.html", d)
}

// handleSignup creates an account, as the sign-up mode allows, and logs
// it in with the session SignUp starts: the password is hashed once.
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.errorPage(w, r, err)
		return
	}
	invite := strings.TrimSpace(r.PostFormValue("invite"))
	d, err := s.newSignupPage(r, invite)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	u := &pixpool.User{}
	f, err := readUserForm(r, u)
	d.Form = f
	pw := r.PostFormValue("password")
	if err == nil && pw != r.PostFormValue("password_confirm") {
		err = pixpool.Errorf(pixpool.EINVALID, "The two passwords do not match.")
	}
	var sess *pixpool.Session
	var token string
	if err == nil {
		sess, token, err = s.Accounts.SignUp(r.Context(), service.Signup{User: u, Password: pw, Invite: invite, ClientIP: s.clientIP(r)})
	}
	if err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "signup.html", d)
		return
	}
	s.setSessionCookie(w, r, token, sess.ExpiresAt)
	redirect(w, r, "/")
}
