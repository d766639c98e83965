package http

import (
	"net/http"
	"time"

	"github.com/pixpool/pixpool"
)

type userJSON struct {
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Birthday  string `json:"birthday"`
	Phone     string `json:"phone"`
	Admin     bool   `json:"admin"`
}

// meJSON is the caller's account, with what their images take and may
// take.
type meJSON struct {
	userJSON
	Usage pixpool.Usage `json:"usage"`
	Quota pixpool.Quota `json:"quota"`
}

func (s *Server) handleAPIMe(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	usage, quota, err := s.Images.Quota(r.Context(), u.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, meJSON{userJSON{u.Username, u.FirstName, u.LastName, u.Email,
		u.Birthday.Format(time.DateOnly), u.Phone, u.Admin}, usage, quota})
}
