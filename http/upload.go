package http

import (
	"net/http"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// uploadPage is upload.html's data.
type uploadPage struct {
	layout
	Key      string
	MaxBytes int64
	MaxSize  string // MaxBytes for people
}

func (s *Server) newUploadPage(r *http.Request, key string) *uploadPage {
	d := &uploadPage{layout: s.page(r, "Upload", "upload")}
	d.Key, d.MaxBytes = key, s.Images.MaxBytesLimit()
	d.MaxSize = service.FormatBytes(d.MaxBytes)
	return d
}

func (s *Server) handleUploadForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "upload.html", s.newUploadPage(r, r.URL.Query().Get("key")))
}

// handleUpload stores a multipart upload and shows the image; it answers
// JSON to the page's script, which shows upload progress.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	f, err := readUploadForm(w, r, s.Images.MaxBytesLimit())
	if err == nil {
		_, err = s.Images.Put(r.Context(), u.ID, f.Key, f.Data)
	}
	switch {
	case err != nil && wantsJSON(r):
		s.Error(w, r, err)
	case err != nil:
		s.logError(r, err)
		d := s.newUploadPage(r, "")
		if f != nil {
			d.Key = f.Key
		}
		d.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "upload.html", d)
	case wantsJSON(r):
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": imageURL(f.Key)})
	default:
		redirect(w, r, imageURL(f.Key))
	}
}
