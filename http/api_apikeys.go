package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
)

type apiKeyJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	Secret     string     `json:"secret,omitempty"` // only when created
}

func toAPIKeyJSON(k *pixpool.APIKey) apiKeyJSON {
	j := apiKeyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt
		j.LastUsedAt = &t
	}
	return j
}

func (s *Server) handleAPIKeysList(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	keys, err := s.Store.APIKeys(r.Context(), u.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	out := []apiKeyJSON{}
	for _, k := range keys {
		out = append(out, toAPIKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": out})
}

func (s *Server) handleAPIKeysCreate(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	k, secret, err := s.Accounts.CreateAPIKey(r.Context(), u.ID, body.Name)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	j := toAPIKeyJSON(k)
	j.Secret = secret
	writeJSON(w, http.StatusCreated, j)
}

func (s *Server) handleAPIKeysDelete(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.Error(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "API key not found."))
		return
	}
	if err := s.Store.DeleteAPIKey(r.Context(), u.ID, id); err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
