package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/pixpool/pixpool"
)

// Users.

// adminUsersPage is admin_users.html's data.
type adminUsersPage struct {
	adminLayout
	Users  []*pixpool.User
	SelfID int64
	Offset int
	Pager  pager
}

// newAdminUsersPage starts the user list.
func (s *Server) newAdminUsersPage(r *http.Request) *adminUsersPage {
	return &adminUsersPage{adminLayout: s.adminPage(r, "Users", "users")}
}

// renderUsersPage renders a page of users from offset.
func (s *Server) renderUsersPage(w http.ResponseWriter, r *http.Request, status int, p *adminUsersPage, offset int) {
	users, err := s.Store.Users(r.Context(), offset, adminPageSize+1)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	p.SelfID, p.Offset = p.User.ID, offset
	more := len(users) > adminPageSize
	if more {
		users = users[:adminPageSize]
	}
	p.Users = users
	p.Pager = listPager(offset, len(users), -1, adminPageSize, func(off int) string {
		return pageURL("/admin/users", url.Values{"offset": {offsetValue(off)}})
	})
	if !more {
		p.Pager.Next = ""
	}
	s.render(w, r, status, "admin_users.html", p)
}

func (s *Server) handlePortalUsers(w http.ResponseWriter, r *http.Request) {
	s.renderUsersPage(w, r, http.StatusOK, s.newAdminUsersPage(r), offsetParam(r))
}

// userAction reads a user action's id, flag and list offset.
func userAction(r *http.Request, flag string) (id int64, on bool, offset int, err error) {
	offset, _ = strconv.Atoi(r.PostFormValue("offset"))
	offset = max(offset, 0)
	id, err = strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		return 0, false, offset, pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	}
	on, err = strconv.ParseBool(r.PostFormValue(flag))
	if err != nil {
		return 0, false, offset, pixpool.Errorf(pixpool.EINVALID, "%s must be true or false.", flag)
	}
	return id, on, offset, nil
}

// handlePortalUserAdmin promotes a user to admin or demotes one.
func (s *Server) handlePortalUserAdmin(w http.ResponseWriter, r *http.Request) {
	s.userAction(w, r, "make", s.SetUserAdmin, "promoted", "demoted")
}

// handlePortalUserDisable disables or enables a user.
func (s *Server) handlePortalUserDisable(w http.ResponseWriter, r *http.Request) {
	s.userAction(w, r, "disable", s.SetUserDisabled, "disabled", "enabled")
}

func (s *Server) userAction(w http.ResponseWriter, r *http.Request, flag string,
	act func(ctx context.Context, actor *pixpool.User, id int64, on bool) (*pixpool.User, error), onMsg, offMsg string) {
	d := s.newAdminUsersPage(r)
	id, on, offset, err := userAction(r, flag)
	if err == nil {
		_, err = act(r.Context(), d.User, id, on)
	}
	if err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.renderUsersPage(w, r, ErrorStatus(err), d, offset)
		return
	}
	msg := offMsg
	if on {
		msg = onMsg
	}
	redirect(w, r, pageURL("/admin/users", url.Values{"offset": {offsetValue(offset)}, "msg": {msg}}))
}

// SetUserAdmin grants (admin true) or removes user id's admin rights on
// behalf of actor; the portal and /api/v1/admin share it. Admins cannot
// demote themselves, and the last admin stays one. A missing user is
// ENOTFOUND; a refusal EINVALID.
func (s *Server) SetUserAdmin(ctx context.Context, actor *pixpool.User, id int64, admin bool) (*pixpool.User, error) {
	u, err := s.Store.User(ctx, id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	} else if err != nil {
		return nil, err
	}
	if u.Admin == admin {
		return u, nil
	}
	if !admin {
		if u.ID == actor.ID {
			return nil, pixpool.Errorf(pixpool.EINVALID, "You cannot remove your own admin rights; another admin can.")
		}
		// Not atomic with the update; but as nobody can demote themselves,
		// the actor stays an admin but in a race of two admins demoting
		// each other at the same moment.
		n, err := s.Store.CountAdmins(ctx)
		if err != nil {
			return nil, err
		}
		if n <= 1 {
			return nil, pixpool.Errorf(pixpool.EINVALID, "%s is the last admin; make another user an admin first.", u.Username)
		}
	}
	u.Admin = admin
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	s.logger().Info("user admin rights changed", "user", u.Username, "admin", admin, "by", actor.Username)
	return u, nil
}

// SetUserDisabled disables or enables user id on behalf of actor; the
// portal and /api/v1/admin share it. A disabled user's sessions are
// deleted, and their API keys stop working because authentication checks
// the flag. Admins cannot disable themselves. A missing user is ENOTFOUND.
func (s *Server) SetUserDisabled(ctx context.Context, actor *pixpool.User, id int64, disabled bool) (*pixpool.User, error) {
	if disabled && id == actor.ID {
		return nil, pixpool.Errorf(pixpool.EINVALID, "You cannot disable your own account.")
	}
	u, err := s.Store.User(ctx, id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	} else if err != nil {
		return nil, err
	}
	if u.Disabled != disabled {
		u.Disabled = disabled
		if err := s.Store.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
	}
	if disabled {
		if err := s.Store.DeleteUserSessions(ctx, u.ID, ""); err != nil {
			return nil, err
		}
	}
	s.logger().Info("user disabled state changed", "user", u.Username, "disabled", disabled, "by", actor.Username)
	return u, nil
}
