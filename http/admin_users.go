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
	Users  []adminUserRow
	SelfID int64
	Offset int
	Pager  pager
}

// adminUserRow is a user on the users page, with their storage and the
// quota form's values (their own quotas; "" for the default).
type adminUserRow struct {
	*pixpool.User
	Storage                 storageView
	QuotaBytes, QuotaImages string
}

func (s *Server) adminUserRow(ctx context.Context, u *pixpool.User) (adminUserRow, error) {
	row := adminUserRow{User: u}
	var err error
	if row.Storage, err = s.storage(ctx, u.ID); err != nil {
		return row, err
	}
	if u.QuotaBytes != nil {
		row.QuotaBytes = formatSizeExact(*u.QuotaBytes)
	}
	if u.QuotaImages != nil {
		row.QuotaImages = strconv.FormatInt(*u.QuotaImages, 10)
	}
	return row, nil
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
	p.Users = make([]adminUserRow, len(users))
	for i, u := range users {
		if p.Users[i], err = s.adminUserRow(r.Context(), u); err != nil {
			s.errorPage(w, r, err)
			return
		}
	}
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
	s.userAction(w, r, "make", s.Accounts.SetUserAdmin, "promoted", "demoted")
}

// handlePortalUserDisable disables or enables a user.
func (s *Server) handlePortalUserDisable(w http.ResponseWriter, r *http.Request) {
	s.userAction(w, r, "disable", s.Accounts.SetUserDisabled, "disabled", "enabled")
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
