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
	u := authFrom(r.Context()).user
	img, data, err := s.Images.Original(r.Context(), u.ID, pathKey(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	serveOriginal(w, r, img, data)
}

// handleOriginal is handleAPIOriginal for the web UI: /original?key=.
func (s *Server) handleOriginal(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.URL.Query().Get("key")
	img, data, err := s.Images.Original(r.Context(), u.ID, key)
	if err != nil {
		// Not found may mean no such image, or no original kept: the
		// image's own lookup tells which message to show.
		if _, ierr := s.Images.Info(r.Context(), u.ID, key); ierr != nil {
			err = keyNotFound(ierr, key)
		}
		s.errorPage(w, r, err)
		return
	}
	serveOriginal(w, r, img, data)
}

// serveOriginal sends an original as a download named after its key, with
// its own ETag (the upload's checksum).
func serveOriginal(w http.ResponseWriter, r *http.Request, img *pixpool.Image, data []byte) {
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment",
		map[string]string{"filename": downloadName(img.Key, img.ContentType)}))
	orig := *img
	orig.Checksum = img.SourceChecksum
	if orig.Checksum == "" {
		orig.Checksum = img.Checksum + "-original"
	}
	serveImage(w, r, &orig, data, img.ContentType)
}
