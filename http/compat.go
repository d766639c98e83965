package http

import (
	"encoding/base64"
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

func (s *Server) handleCompatUpload(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	f, err := readUploadForm(w, r, s.Images.MaxBytesLimit())
	if err != nil {
		s.compatError(w, r, err)
		return
	}
	if _, err := s.Images.Put(r.Context(), u.ID, f.Key, f.Data); err != nil {
		s.compatError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"success": "true", "key": f.Key})
}

func (s *Server) handleCompatListKeys(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	keys := []string{}
	after := ""
	for {
		page, err := s.Images.List(r.Context(), u.ID, "", after, 1000)
		if err != nil {
			s.compatError(w, r, err)
			return
		}
		for _, img := range page {
			keys = append(keys, img.Key)
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Key
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": "true", "keys": keys})
}

func (s *Server) handleCompatKey(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := pathKey(r)
	_, data, err := s.Images.Get(r.Context(), u.ID, key)
	if err != nil {
		s.compatError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"success": "true",
		"key":     key,
		"content": base64.StdEncoding.EncodeToString(data),
	})
}

// handleCompatDeleteAll removes every image of every user when called by
// an admin (as the course's tester expects of its single-user system), and
// only the caller's own images otherwise. A credential-less call acts as
// an admin only under CompatAdmin (compatUser).
func (s *Server) handleCompatDeleteAll(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	var err error
	if u.Admin {
		_, err = s.Images.DeleteAll(r.Context())
	} else {
		_, err = s.Images.DeleteOwned(r.Context(), u.ID)
	}
	if err != nil {
		s.compatError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"success": "true"})
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
