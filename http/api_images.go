package http

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
)

// imageJSON is an image's metadata in /api/v1.
type imageJSON struct {
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
}

func toImageJSON(img *pixpool.Image) imageJSON {
	return imageJSON{img.Key, img.Size, img.ContentType, img.Width, img.Height, img.Checksum, img.CreatedAt}
}

func (s *Server) handleAPIPut(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	data, err := readBody(w, r, s.Images.MaxBytesLimit())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.apiStore(w, r, u, pathKey(r), data)
}

func (s *Server) handleAPIUploadForm(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	f, err := readUploadForm(w, r, s.Images.MaxBytesLimit())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.apiStore(w, r, u, f.Key, f.Data)
}

func (s *Server) apiStore(w http.ResponseWriter, r *http.Request, u *pixpool.User, key string, data []byte) {
	img, err := s.Images.Put(r.Context(), u.ID, key, data)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(img))
	writeJSON(w, http.StatusCreated, toImageJSON(img))
}

func etag(img *pixpool.Image) string { return `"` + img.Checksum + `"` }

func (s *Server) handleAPIGet(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	if spec, sig, ok, err := variantQuery(r.URL.Query()); ok {
		fail := func(err error) { s.Error(w, r, err) }
		if err != nil {
			fail(err)
			return
		}
		s.serveVariant(w, r, u.ID, pathKey(r), spec, sig, fail)
		return
	}
	img, data, err := s.getImage(r.Context(), u.ID, pathKey(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if s.redirectLarge(w, r, img) {
		return
	}
	serveImage(w, r, img, data, img.ContentType)
}

// serveImage writes image bytes with validators, so conditional and range
// requests work (http.ServeContent answers If-None-Match,
// If-Modified-Since and Range).
func serveImage(w http.ResponseWriter, r *http.Request, img *pixpool.Image, data []byte, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("ETag", etag(img))
	h.Set("Cache-Control", "private, no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	if plainGet(r) {
		// What ServeContent answers a request without conditions or
		// ranges, written at once: the headers and the bytes go out in one
		// or two writes rather than a copy loop of 32 KiB writes.
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.Itoa(len(data)))
		if !img.CreatedAt.IsZero() && !img.CreatedAt.Equal(time.Unix(0, 0)) {
			h.Set("Last-Modified", img.CreatedAt.UTC().Format(http.TimeFormat))
		}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(data)
		}
		return
	}
	http.ServeContent(w, r, "", img.CreatedAt, bytesReader(data))
}

// plainGet reports whether r is a GET or HEAD without the headers that
// make ServeContent answer other than 200 with the whole body.
func plainGet(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, name := range []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		if _, ok := r.Header[name]; ok {
			return false
		}
	}
	return true
}

func (s *Server) handleAPIInfo(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	img, err := s.Images.Info(r.Context(), u.ID, pathKey(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.toInfoJSON(r.Context(), img))
}

func (s *Server) handleAPIDelete(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	if err := s.Images.Delete(r.Context(), u.ID, pathKey(r)); err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleAPIList pages through the caller's images in key order:
// ?prefix=&after=&limit= (limit 1..1000, default 100); "next" is the after
// value for the next page, absent on the last.
func (s *Server) handleAPIList(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "limit must be a number from 1 to 1000."))
			return
		}
		limit = n
	}
	imgs, err := s.Images.List(r.Context(), u.ID, q.Get("prefix"), q.Get("after"), limit+1)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	resp := struct {
		Images []imageJSON `json:"images"`
		Next   string      `json:"next,omitempty"`
	}{Images: []imageJSON{}}
	if len(imgs) > limit {
		imgs = imgs[:limit]
		resp.Next = imgs[limit-1].Key
	}
	for _, img := range imgs {
		resp.Images = append(resp.Images, toImageJSON(img))
	}
	writeJSON(w, http.StatusOK, resp)
}

func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }
