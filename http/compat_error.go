package http

import (
	"net/http"

	"github.com/pixpool/pixpool"
)

// The compatibility API of shared/COMPAT_API.md: the shapes the course's
// automated tester expects, with "success" as the string "true"/"false".

// compatError writes {"success":"false","error":{"code":N,"message":"..."}}
// with HTTP status N. The contract knows 400 for bad input, 401/403 for
// auth, 404 for an unknown key and 500 otherwise, so other client errors
// (413 too large, 415 not an image, 409, 429) are 400 here and server
// errors (503) are 500, except 507 (storage full), which tells the operator
// what to do.
func (s *Server) compatError(w http.ResponseWriter, r *http.Request, err error) {
	err = interrupted(r, err)
	s.logError(r, err)
	status := compatStatus(ErrorStatus(err))
	writeJSON(w, status, map[string]any{
		"success": "false",
		"error":   map[string]any{"code": status, "message": pixpool.ErrorMessage(err)},
	})
}

func compatStatus(status int) int {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound,
		status == http.StatusServiceUnavailable, status == http.StatusInsufficientStorage:
		return status
	case status >= 500:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}
