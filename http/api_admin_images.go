package http

import (
	"context"
	"net/http"

	"github.com/pixpool/pixpool"
)

// adminImageJSON is an image of any user, with its owner's username.
type adminImageJSON struct {
	Owner string `json:"owner"`
	imageJSON
}

// handleAPIAdminImages pages through every user's images, ordered by owner
// then key: ?owner=<username>&prefix=&offset=&limit=.
func (s *Server) handleAPIAdminImages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, err := pageParams(q, 100)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f := pixpool.ImageFilter{Prefix: q.Get("prefix"), Offset: offset, Limit: limit}
	if name := q.Get("owner"); name != "" {
		u, err := s.Store.UserByUsername(r.Context(), name)
		if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
			err = pixpool.Errorf(pixpool.ENOTFOUND, "No user named %q.", name)
		}
		if err != nil {
			s.Error(w, r, err)
			return
		}
		f.OwnerID = u.ID
	}
	total, err := s.Store.CountImages(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	imgs, err := s.Store.Images(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	owners := map[int64]string{}
	out := []adminImageJSON{}
	for _, img := range imgs {
		name, ok := owners[img.OwnerID]
		if !ok {
			u, err := s.Store.User(r.Context(), img.OwnerID)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			name, owners[img.OwnerID] = u.Username, u.Username
		}
		out = append(out, adminImageJSON{name, toImageJSON(img)})
	}
	writeJSON(w, http.StatusOK, struct {
		Total  int              `json:"total"`
		Offset int              `json:"offset"`
		Limit  int              `json:"limit"`
		Images []adminImageJSON `json:"images"`
	}{total, offset, limit, out})
}

// handleAPIAdminDeleteAll deletes every image of every user for good,
// bytes and metadata, the users' trash included, and clears the cache;
// accounts stay. It needs ?confirm=DELETE, and answers how many images
// and trash entries went.
func (s *Server) handleAPIAdminDeleteAll(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("confirm") != "DELETE" {
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "This deletes every image of every user for good, the trash included: add ?confirm=DELETE to go ahead."))
		return
	}
	n, trashed, err := s.Images.DeleteAll(context.WithoutCancel(r.Context()))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Warn("all data deleted", "by", authFrom(r.Context()).user.Username, "images", n, "trashed", trashed)
	writeJSON(w, http.StatusOK, struct {
		Deleted int    `json:"deleted"`
		Trashed int    `json:"trashed_deleted"`
		Note    string `json:"note"`
	}{n, trashed, "Every image of every user and every image in their trash was deleted for good, with its files; the cache was cleared. Accounts were kept."})
}
