package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
)

// adminUserJSON is an account as admins see it.
type adminUserJSON struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Email     string    `json:"email"`
	Admin     bool      `json:"admin"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	// QuotaBytes and QuotaImages are the user's own quotas, null for the
	// storage policy's default (PUT .../quota sets them).
	QuotaBytes  *int64 `json:"quota_bytes"`
	QuotaImages *int64 `json:"quota_images"`
}

func toAdminUserJSON(u *pixpool.User) adminUserJSON {
	return adminUserJSON{u.ID, u.Username, u.FirstName, u.LastName, u.Email, u.Admin, u.Disabled, u.CreatedAt, u.QuotaBytes, u.QuotaImages}
}

// handleAPIAdminUsers pages through the users by username:
// ?offset=&limit=; "next_offset" is there when more follow.
func (s *Server) handleAPIAdminUsers(w http.ResponseWriter, r *http.Request) {
	offset, limit, err := pageParams(r.URL.Query(), 100)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	users, err := s.Store.Users(r.Context(), offset, limit+1)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	resp := struct {
		Users      []adminUserJSON `json:"users"`
		NextOffset *int            `json:"next_offset,omitempty"`
	}{Users: []adminUserJSON{}}
	if len(users) > limit {
		users = users[:limit]
		next := offset + limit
		resp.NextOffset = &next
	}
	for _, u := range users {
		resp.Users = append(resp.Users, toAdminUserJSON(u))
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleAPIAdminUserPatch promotes, demotes, disables or enables a user:
// {"admin":bool,"disabled":bool}, either optional.
func (s *Server) handleAPIAdminUserPatch(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.Error(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "No such user."))
		return
	}
	var body struct {
		Admin    *bool `json:"admin"`
		Disabled *bool `json:"disabled"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	// The rules are service.Accounts', shared with the portal: nobody can
	// demote or disable themselves, the last admin stays one, and
	// disabling ends the user's sessions.
	u, err := s.Accounts.SetUserFlags(r.Context(), authFrom(r.Context()).user, id, body.Admin, body.Disabled)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAdminUserJSON(u))
}
