package http

import (
	"context"
	"net/http"
	"strconv"

	"github.com/pixpool/pixpool"
)

// redirectLarge sends the client of an image larger than ImageURLAbove
// to ImageURL's URL for it, and reports whether it did (or failed
// trying, which it reported). A Content-Disposition already set goes
// with the URL.
func (s *Server) redirectLarge(w http.ResponseWriter, r *http.Request, img *pixpool.Image) bool {
	if s.ImageURL == nil || img.Size <= s.ImageURLAbove {
		return false
	}
	if r.Method == http.MethodHead {
		// A presigned URL is for GET only (S3 refuses a HEAD of it): the
		// row has what a HEAD answers.
		h := w.Header()
		h.Set("Content-Type", img.ContentType)
		h.Set("ETag", etag(img))
		h.Set("Cache-Control", "private, no-cache")
		h.Set("Content-Length", strconv.FormatInt(img.Size, 10))
		w.WriteHeader(http.StatusOK)
		return true
	}
	disposition := w.Header().Get("Content-Disposition")
	w.Header().Del("Content-Disposition")
	u, err := s.ImageURL(r.Context(), img, disposition)
	if err != nil {
		s.Error(w, r, err)
		return true
	}
	// The URL expires: neither the browser nor a proxy may keep it.
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusTemporaryRedirect)
	return true
}

// getImage reads an image to send: with ImageURL, the bytes of one that
// redirectLarge sends elsewhere are not read (nil).
func (s *Server) getImage(ctx context.Context, ownerID int64, key string) (*pixpool.Image, []byte, error) {
	if s.ImageURL != nil {
		return s.Images.GetUpTo(ctx, ownerID, key, s.ImageURLAbove)
	}
	return s.Images.Get(ctx, ownerID, key)
}
