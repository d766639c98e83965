package http

import (
	"net/http"
	"time"
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

func (s *Server) handleAPIMe(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	writeJSON(w, http.StatusOK, userJSON{u.Username, u.FirstName, u.LastName, u.Email,
		u.Birthday.Format(time.DateOnly), u.Phone, u.Admin})
}
