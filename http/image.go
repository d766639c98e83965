package http

import (
	"cmp"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/pixpool/pixpool"
)

// keyNotFound rewords a missing image as one message, the same whether
// the key is free or another user's.
func keyNotFound(err error, key string) error {
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return pixpool.Errorf(pixpool.ENOTFOUND, "No image with key “%s”.", key)
	}
	return err
}

func (s *Server) handleImagePage(w http.ResponseWriter, r *http.Request) {
	s.renderImagePage(w, r, r.URL.Query().Get("key"), http.StatusOK, "")
}

// imagePage is image.html's data.
type imagePage struct {
	layout
	Key   string
	Image *pixpool.Image
	// Recognition is the recognition panel; nil when recognition is off.
	Recognition *analysisView
	// Metadata is what the upload's metadata said, for the owner (the
	// only one who sees this page); nil if none. Original is the kept
	// original; nil if none.
	Metadata *pixpool.ImageMetadata
	Original *originalJSON
	// SrcSet offers the browser variants of the image, "" if none is
	// smaller.
	SrcSet string
}

// renderImagePage renders one image's page, with an error from its delete
// form.
func (s *Server) renderImagePage(w http.ResponseWriter, r *http.Request, key string, status int, msg string) {
	u := authFrom(r.Context()).user
	img, err := s.Images.Info(r.Context(), u.ID, key)
	if err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	d := &imagePage{layout: s.page(r, key, "")}
	d.Key, d.Image, d.Error = key, img, msg
	info := s.toInfoJSON(r.Context(), img)
	d.Metadata, d.Original = info.Metadata, info.Original
	d.SrcSet = s.srcset(img, imageWidths, false, "/raw?key="+url.QueryEscape(key))
	if s.Analyzer != nil {
		view := &analysisView{Missing: s.Analyzer.Installed(), Key: key, CSRF: d.CSRF}
		if _, an, err := s.Analyzer.Result(r.Context(), u.ID, key); err == nil {
			view.Analysis = an
		}
		d.Recognition = view
	}
	s.render(w, r, status, "image.html", d)
}

// analysisView is the recognition panel of an image page.
type analysisView struct {
	Analysis *pixpool.Analysis // nil: never queued
	Missing  string            // what recognition lacks on this server
	Key      string
	CSRF     string // for the re-analyse form
}

// handleReanalyze queues an image for analysis again.
func (s *Server) handleReanalyze(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.PostFormValue("key")
	if s.Analyzer == nil {
		s.errorPage(w, r, errNoAnalyzer)
		return
	}
	if err := s.Analyzer.Reanalyze(r.Context(), u.ID, key); err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	http.Redirect(w, r, "/image?"+url.Values{"key": {key}}.Encode(), http.StatusSeeOther)
}

// handleRaw sends an image's bytes; with ?download=1 as an attachment;
// with ?w=, h=, fit= or format= a variant (srcset in the web UI).
func (s *Server) handleRaw(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.URL.Query().Get("key")
	if spec, sig, ok, err := variantQuery(r.URL.Query()); ok {
		fail := func(err error) { s.errorPage(w, r, keyNotFound(err, key)) }
		if err != nil {
			fail(err)
			return
		}
		s.serveVariant(w, r, u.ID, key, spec, sig, fail)
		return
	}
	img, data, err := s.getImage(r.Context(), u.ID, key)
	if err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment",
			map[string]string{"filename": downloadName(key, img.ContentType)}))
	}
	if s.redirectLarge(w, r, img) {
		return
	}
	serveImage(w, r, img, data, img.ContentType)
}

// downloadName makes a file name out of a key: its last path segment,
// with only letters, digits and a few safe marks, ending in the
// extension of the image's type.
func downloadName(key, contentType string) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._- ", r) {
			return r
		}
		return '_'
	}, name)
	if runes := []rune(name); len(runes) > 100 {
		name = string(runes[:100])
	}
	name = cmp.Or(strings.Trim(name, ". "), "image")
	ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}[contentType]
	lower := strings.ToLower(name)
	if ext != "" && !strings.HasSuffix(lower, ext) && !(ext == ".jpg" && strings.HasSuffix(lower, ".jpeg")) {
		name += ext
	}
	return name
}

// handleThumb sends an image's gallery thumbnail.
func (s *Server) handleThumb(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.URL.Query().Get("key")
	img, data, err := s.Images.Thumbnail(r.Context(), u.ID, key)
	if err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	thumb := *img
	thumb.Checksum += "-thumb" // its own ETag
	serveImage(w, r, &thumb, data, "image/jpeg")
}

// handleImageDelete deletes an image once the box saying so is ticked.
func (s *Server) handleImageDelete(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.PostFormValue("key")
	if r.PostFormValue("confirm") != "yes" {
		s.renderImagePage(w, r, key, http.StatusBadRequest, "Tick the box to confirm that the image should be deleted.")
		return
	}
	if err := s.Images.Delete(r.Context(), u.ID, key); err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	redirect(w, r, "/images?msg=deleted")
}
