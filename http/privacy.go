package http

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"

	"github.com/pixpool/pixpool"
)

// infoJSON is /api/v1/info's answer: the image and, for its owner (the
// only one who can ask), what its metadata said and whether its original
// can be downloaded. No other route shows metadata.
type infoJSON struct {
	imageJSON
	Metadata *pixpool.ImageMetadata `json:"metadata"`
	Original *originalJSON          `json:"original"`
}

// originalJSON describes a kept original.
type originalJSON struct {
	Size int64 `json:"size"`
	// Allowed is false when the admins turned original downloads off
	// after it was kept.
	Allowed bool `json:"allowed"`
}

func (s *Server) toInfoJSON(ctx context.Context, img *pixpool.Image) infoJSON {
	v := infoJSON{imageJSON: toImageJSON(img), Metadata: imageMetadata(img)}
	if img.OriginalKey != "" {
		v.Original = &originalJSON{Size: img.OriginalSize, Allowed: s.Images.OriginalsAllowed(ctx)}
	}
	return v
}

// imageMetadata reads an image's stored metadata; nil if it has none (it
// had none, or was uploaded before metadata was kept).
func imageMetadata(img *pixpool.Image) *pixpool.ImageMetadata {
	if img.Metadata == "" {
		return nil
	}
	var m pixpool.ImageMetadata
	if err := json.Unmarshal([]byte(img.Metadata), &m); err != nil {
		return nil
	}
	return &m
}

// handleAPIOriginal sends the caller's kept original of an image, as an
// attachment.
func (s *Server) handleAPIOriginal(w http.ResponseWriter, r *http.Request) {
	s.sendOriginal(w, r, pathKey(r), func(err error) { s.Error(w, r, err) })
}

// handleOriginal is handleAPIOriginal for the web UI: /original?key=.
func (s *Server) handleOriginal(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	s.sendOriginal(w, r, key, func(err error) {
		// Not found may mean no such image, or no original kept: the
		// image's own lookup tells which message to show.
		if _, ierr := s.Images.Info(r.Context(), authFrom(r.Context()).user.ID, key); ierr != nil {
			err = keyNotFound(ierr, key)
		}
		s.errorPage(w, r, err)
	})
}

// sendOriginal sends the caller's original of key as a download named
// after the key, with its own ETag (the upload's checksum); one too large
// for this server to send (Lambda) is redirected to like an image.
func (s *Server) sendOriginal(w http.ResponseWriter, r *http.Request, key string, fail func(error)) {
	u := authFrom(r.Context()).user
	img, err := s.Images.OriginalInfo(r.Context(), u.ID, key)
	if err != nil {
		fail(err)
		return
	}
	orig := *img
	orig.BlobKey, orig.Size, orig.Checksum = img.OriginalKey, img.OriginalSize, img.SourceChecksum
	if orig.Checksum == "" {
		orig.Checksum = img.Checksum + "-original"
	}
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment",
		map[string]string{"filename": downloadName(img.Key, img.ContentType)}))
	if s.redirectLarge(w, r, &orig) {
		return
	}
	_, data, err := s.Images.Original(r.Context(), u.ID, key)
	if err != nil {
		w.Header().Del("Content-Disposition")
		fail(err)
		return
	}
	serveImage(w, r, &orig, data, img.ContentType)
}
