package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

// userForm holds the profile fields as typed, to re-fill a form.
type userForm struct {
	Username, FirstName, LastName, Email, Birthday, Phone string
}

func formFromUser(u *pixpool.User) userForm {
	f := userForm{Username: u.Username, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email, Phone: u.Phone}
	if !u.Birthday.IsZero() {
		f.Birthday = u.Birthday.Format(time.DateOnly)
	}
	return f
}

// readUserForm reads the profile fields of a posted form into f and u.
func readUserForm(r *http.Request, u *pixpool.User) (userForm, error) {
	f := userForm{
		Username:  strings.TrimSpace(r.PostFormValue("username")),
		FirstName: strings.TrimSpace(r.PostFormValue("first_name")),
		LastName:  strings.TrimSpace(r.PostFormValue("last_name")),
		Email:     strings.TrimSpace(r.PostFormValue("email")),
		Birthday:  strings.TrimSpace(r.PostFormValue("birthday")),
		Phone:     strings.TrimSpace(r.PostFormValue("phone")),
	}
	u.Username, u.FirstName, u.LastName, u.Email, u.Phone = f.Username, f.FirstName, f.LastName, f.Email, f.Phone
	var err error
	u.Birthday, err = pixpool.ParseBirthday(f.Birthday)
	return f, err
}

// profilePage is profile.html's data.
type profilePage struct {
	layout
	Form    userForm // the profile fields
	APIKeys []*pixpool.APIKey
	Secret  string          // a new API key's secret, shown once
	NewKey  *pixpool.APIKey // the key Secret belongs to
	Storage storageView     // usage against quota
}

// newProfilePage starts the profile page.
func (s *Server) newProfilePage(r *http.Request) *profilePage {
	return &profilePage{layout: s.page(r, "Profile", "profile")}
}

// renderProfilePage renders the profile page; d.Form defaults to the
// user's saved fields.
func (s *Server) renderProfilePage(w http.ResponseWriter, r *http.Request, status int, d *profilePage) {
	keys, err := s.Store.APIKeys(r.Context(), d.User.ID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d.APIKeys = keys
	if d.Storage, err = s.storage(r.Context(), d.User.ID); err != nil {
		s.errorPage(w, r, err)
		return
	}
	if d.Form == (userForm{}) {
		d.Form = formFromUser(d.User)
	}
	s.render(w, r, status, "profile.html", d)
}

// profileError re-renders the profile page with err above the form named.
func (s *Server) profileError(w http.ResponseWriter, r *http.Request, d *profilePage, form string, err error) {
	s.logError(r, err)
	d.Error, d.ErrorFor = pixpool.ErrorMessage(err), form
	s.renderProfilePage(w, r, ErrorStatus(err), d)
}

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) {
	s.renderProfilePage(w, r, http.StatusOK, s.newProfilePage(r))
}

// handleProfileSave saves the profile fields, username included.
func (s *Server) handleProfileSave(w http.ResponseWriter, r *http.Request) {
	d := s.newProfilePage(r)
	u := *d.User
	f, err := readUserForm(r, &u)
	d.Form = f
	if err == nil {
		err = s.Accounts.UpdateProfile(r.Context(), &u)
	}
	if err != nil {
		s.profileError(w, r, d, "profile", err)
		return
	}
	redirect(w, r, "/profile?msg=saved")
}

// handlePasswordChange sets a new password and ends the user's other
// sessions.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) {
	a := authFrom(r.Context())
	d := s.newProfilePage(r)
	next := r.PostFormValue("new_password")
	var err error
	if next != r.PostFormValue("new_password_confirm") {
		err = pixpool.Errorf(pixpool.EINVALID, "The two new passwords do not match.")
	} else {
		err = s.Accounts.ChangePassword(r.Context(), a.user.ID, r.PostFormValue("current_password"), next, a.session.TokenHash)
	}
	if err != nil {
		s.profileError(w, r, d, "password", err)
		return
	}
	redirect(w, r, "/profile?msg=password")
}

// handleAPIKeyCreate makes an API key and shows its secret, this once: it
// is rendered into this response and kept nowhere.
func (s *Server) handleAPIKeyCreate(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	d := s.newProfilePage(r)
	k, secret, err := s.Accounts.CreateAPIKey(r.Context(), u.ID, r.PostFormValue("name"))
	if err != nil {
		s.profileError(w, r, d, "apikey", err)
		return
	}
	d.NewKey, d.Secret = k, secret
	s.renderProfilePage(w, r, http.StatusOK, d)
}

func (s *Server) handleAPIKeyDelete(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		err = pixpool.Errorf(pixpool.ENOTFOUND, "API key not found.")
	} else {
		err = s.Store.DeleteAPIKey(r.Context(), u.ID, id)
	}
	if err != nil {
		s.profileError(w, r, s.newProfilePage(r), "apikey", err)
		return
	}
	redirect(w, r, "/profile?msg=keyrevoked")
}
