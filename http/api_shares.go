package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
)

// shareAPIRoutes adds the share links' API (openapi.json: /shares).
func (s *Server) shareAPIRoutes(api func(pattern string, h http.HandlerFunc)) {
	api("GET /api/v1/shares", s.handleAPISharesList)
	api("POST /api/v1/shares", s.handleAPISharesCreate)
	api("GET /api/v1/shares/{id}", s.handleAPISharesGet)
	api("DELETE /api/v1/shares/{id}", s.handleAPISharesRevoke)
}

// shareJSON is a share as the API gives it.
type shareJSON struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	Key       string     `json:"key"` // the image's key, or the album's prefix
	Title     string     `json:"title"`
	URL       string     `json:"url"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxViews  *int64     `json:"max_views"`
	Views     int64      `json:"views"`
	RevokedAt *time.Time `json:"revoked_at"`
}

func toShareJSON(v shareView) shareJSON {
	j := shareJSON{ID: v.ID, Kind: v.Kind, Key: v.Key, Title: v.Title, URL: v.URL, Status: v.Status,
		CreatedAt: v.CreatedAt, Views: v.Views}
	if !v.ExpiresAt.IsZero() {
		t := v.ExpiresAt
		j.ExpiresAt = &t
	}
	if v.MaxViews > 0 {
		n := v.MaxViews
		j.MaxViews = &n
	}
	if !v.RevokedAt.IsZero() {
		t := v.RevokedAt
		j.RevokedAt = &t
	}
	return j
}

// writeShares answers shares as JSON: one object, or {"shares": [...]}.
func (s *Server) writeShares(w http.ResponseWriter, r *http.Request, status int, one bool, shares ...*pixpool.Share) {
	views, err := s.shareViews(r, shares)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	out := make([]shareJSON, len(views))
	for i, v := range views {
		out[i] = toShareJSON(v)
	}
	if one {
		writeJSON(w, status, out[0])
		return
	}
	writeJSON(w, status, map[string]any{"shares": out})
}

func (s *Server) handleAPISharesList(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	shares, err := s.Shares.List(r.Context(), u.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.writeShares(w, r, http.StatusOK, false, shares...)
}

func (s *Server) handleAPISharesCreate(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	var body struct {
		Kind      string     `json:"kind"`
		Key       string     `json:"key"`
		Prefix    string     `json:"prefix"`
		Title     string     `json:"title"`
		ExpiresIn int64      `json:"expires_in"`
		ExpiresAt *time.Time `json:"expires_at"`
		MaxViews  int64      `json:"max_views"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	if body.Kind == "" {
		body.Kind = pixpool.ShareImage
		if body.Prefix != "" {
			body.Kind = pixpool.ShareAlbum
		}
	}
	key := body.Key
	switch {
	case body.Kind == pixpool.ShareAlbum && body.Key != "" && body.Prefix != "" && body.Key != body.Prefix:
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "Give an album's prefix as prefix (or key), not two different ones."))
		return
	case body.Kind == pixpool.ShareAlbum && key == "":
		key = body.Prefix
	case body.Kind == pixpool.ShareImage && body.Prefix != "":
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "An image share takes the image's key, not a prefix; for an album, send kind \"album\"."))
		return
	}
	if body.ExpiresIn < 0 || body.MaxViews < 0 {
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "expires_in and max_views must be positive, or 0 (or left out) for none."))
		return
	}
	if body.ExpiresIn > 0 && body.ExpiresAt != nil {
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "Send expires_in or expires_at, not both."))
		return
	}
	views := ""
	if body.MaxViews > 0 {
		views = strconv.FormatInt(body.MaxViews, 10)
	}
	sh, err := shareForm(body.Kind, key, body.Title, strconv.FormatInt(body.ExpiresIn, 10), views, time.Now())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if body.ExpiresAt != nil {
		sh.ExpiresAt = *body.ExpiresAt
	}
	sh, err = s.Shares.Create(r.Context(), u.ID, sh)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.writeShares(w, r, http.StatusCreated, true, sh)
}

// shareID reads the {id} of a share route; anything but a number is a
// share that does not exist.
func shareID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, pixpool.Errorf(pixpool.ENOTFOUND, "No share link %q.", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) handleAPISharesGet(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := shareID(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	sh, err := s.Shares.Get(r.Context(), u.ID, id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.writeShares(w, r, http.StatusOK, true, sh)
}

// handleAPISharesRevoke revokes a share; the row stays, with status
// "revoked".
func (s *Server) handleAPISharesRevoke(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := shareID(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	sh, err := s.Shares.Revoke(r.Context(), u.ID, id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.writeShares(w, r, http.StatusOK, true, sh)
}
