package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// Sign-up: the mode (open, invite-only, closed) and invite codes, in the
// portal and in /api/v1/admin.

// adminSignupPage is admin_signup.html's data.
type adminSignupPage struct {
	adminLayout
	Mode    string
	Invites []*pixpool.Invite
	Code    string          // a new invite's code, shown once
	New     *pixpool.Invite // the invite Code belongs to
	Now     time.Time
}

// newAdminSignupPage starts the portal's sign-up page.
func (s *Server) newAdminSignupPage(r *http.Request) *adminSignupPage {
	return &adminSignupPage{adminLayout: s.adminPage(r, "Sign-up", "signup")}
}

// renderSignupPage shows the mode and the invites; p.Error, if set, is
// shown above the form named by p.ErrorFor.
func (s *Server) renderSignupPage(w http.ResponseWriter, r *http.Request, status int, p *adminSignupPage) {
	var err error
	if p.Mode, err = s.Accounts.SignupMode(r.Context()); err == nil {
		p.Invites, err = s.Store.Invites(r.Context())
	}
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	p.Now = time.Now().UTC()
	s.render(w, r, status, "admin_signup.html", p)
}

func (s *Server) handlePortalSignup(w http.ResponseWriter, r *http.Request) {
	s.renderSignupPage(w, r, http.StatusOK, s.newAdminSignupPage(r))
}

// handlePortalSignupMode sets who may sign up.
func (s *Server) handlePortalSignupMode(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminSignupPage(r)
	if err := s.Accounts.SetSignupMode(r.Context(), r.PostFormValue("mode"), d.User.Username); err != nil {
		s.logError(r, err)
		d.Error, d.ErrorFor = pixpool.ErrorMessage(err), "mode"
		s.renderSignupPage(w, r, ErrorStatus(err), d)
		return
	}
	redirect(w, r, "/admin/signup?msg=signup-mode")
}

// inviteDays reads an invite's lifetime in days ("" is the default).
func inviteDays(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, pixpool.Errorf(pixpool.EINVALID, "Days must be a whole number from 1 to %d.", int(service.MaxInviteTTL.Hours()/24))
	}
	return time.Duration(n) * 24 * time.Hour, nil
}

// handlePortalInviteCreate makes an invite and shows its code, this once:
// it is rendered into this response and kept nowhere.
func (s *Server) handlePortalInviteCreate(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminSignupPage(r)
	ttl, err := inviteDays(r.PostFormValue("days"))
	if err == nil {
		d.New, d.Code, err = s.Accounts.CreateInvite(r.Context(), d.User, ttl)
	}
	if err != nil {
		s.logError(r, err)
		d.Error, d.ErrorFor = pixpool.ErrorMessage(err), "invite"
		s.renderSignupPage(w, r, ErrorStatus(err), d)
		return
	}
	s.renderSignupPage(w, r, http.StatusOK, d)
}

func (s *Server) handlePortalInviteDelete(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		err = pixpool.Errorf(pixpool.ENOTFOUND, "No such invite.")
	} else {
		err = s.deleteInvite(r, id)
	}
	if err != nil {
		d := s.newAdminSignupPage(r)
		s.logError(r, err)
		d.Error, d.ErrorFor = pixpool.ErrorMessage(err), "invites"
		s.renderSignupPage(w, r, ErrorStatus(err), d)
		return
	}
	redirect(w, r, "/admin/signup?msg=invite-deleted")
}

func (s *Server) deleteInvite(r *http.Request, id int64) error {
	err := s.Store.DeleteInvite(r.Context(), id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return pixpool.Errorf(pixpool.ENOTFOUND, "No such invite.")
	}
	if err == nil {
		s.logger().Info("invite deleted", "invite_id", id, "by", authFrom(r.Context()).user.Username)
	}
	return err
}
