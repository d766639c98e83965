package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
)

// inviteJSON is an invite in the admin API; Code only in the answer to
// its creation.
type inviteJSON struct {
	ID        int64      `json:"id"`
	Prefix    string     `json:"prefix"`
	Code      string     `json:"code,omitempty"`
	CreatedBy int64      `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at"`
	UsedBy    *int64     `json:"used_by"`
}

func toInviteJSON(inv *pixpool.Invite, code string) inviteJSON {
	j := inviteJSON{ID: inv.ID, Prefix: inv.Prefix, Code: code, CreatedBy: inv.CreatedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt}
	if !inv.UsedAt.IsZero() {
		j.UsedAt, j.UsedBy = &inv.UsedAt, &inv.UsedBy
	}
	return j
}

func (s *Server) handleAPIAdminSignup(w http.ResponseWriter, r *http.Request) {
	mode, err := s.Accounts.SignupMode(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"mode": mode})
}

func (s *Server) handleAPIAdminSignupPut(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Mode string `json:"mode"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.Accounts.SetSignupMode(r.Context(), body.Mode, authFrom(r.Context()).user.Username); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"mode": body.Mode})
}

func (s *Server) handleAPIAdminInvites(w http.ResponseWriter, r *http.Request) {
	invs, err := s.Store.Invites(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	out := make([]inviteJSON, 0, len(invs))
	for _, inv := range invs {
		out = append(out, toInviteJSON(inv, ""))
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": out})
}

// handleAPIAdminInviteCreate makes an invite; the answer holds its code,
// which is never shown again.
func (s *Server) handleAPIAdminInviteCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Days int `json:"days"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &body); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	if body.Days < 0 {
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "days must be positive."))
		return
	}
	inv, code, err := s.Accounts.CreateInvite(r.Context(), authFrom(r.Context()).user, time.Duration(body.Days)*24*time.Hour)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toInviteJSON(inv, code))
}

func (s *Server) handleAPIAdminInviteDelete(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		err = pixpool.Errorf(pixpool.ENOTFOUND, "No such invite.")
	} else {
		err = s.deleteInvite(r, id)
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
