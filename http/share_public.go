package http

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// Share links (docs/sharing.md): public pages under /s/<token>, which need
// no account. The token is the link's credential: it is kept out of logs
// (redactSharePath) and out of Referer headers, and nothing under /s/ is
// kept by caches, so that a revoked link stops showing at once.

// shareRoutes adds the share links' routes: the public ones and the
// owner's pages.
func (s *Server) shareRoutes(mux *http.ServeMux) {
	if s.Shares == nil {
		s.Shares = &service.Shares{Store: s.Store, Images: s.Images, Logger: s.Logger}
	}
	mux.HandleFunc("GET /s/{token}", shareHeaders(s.handleSharePage))
	mux.HandleFunc("GET /s/{token}/i", shareHeaders(s.handleShareItem))
	mux.HandleFunc("GET /s/{token}/raw", shareHeaders(s.handleShareRaw))
	mux.HandleFunc("GET /s/{token}/thumb", shareHeaders(s.handleShareThumb))
	mux.HandleFunc("GET /shares", s.requireUser(s.handleSharesPage))
	mux.HandleFunc("POST /shares", s.requireUser(s.handleShareCreate))
	mux.HandleFunc("POST /shares/revoke", s.requireUser(s.handleShareRevoke))
}

// shareHeaders marks every answer under /s/ as not to be stored by any
// cache (a revoked link must stop working), not to send the page's URL,
// token included, as a Referer anywhere, and not to be indexed.
func shareHeaders(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(&shareWriter{ResponseWriter: w}, r)
	}
}

// shareWriter sets shareHeaders' headers over whatever the handler set,
// just before the status goes out.
type shareWriter struct {
	http.ResponseWriter
	done bool
}

func (w *shareWriter) set() {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	h.Set("Cache-Control", "private, no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}

func (w *shareWriter) WriteHeader(code int) {
	w.set()
	w.ResponseWriter.WriteHeader(code)
}

func (w *shareWriter) Write(b []byte) (int, error) {
	w.set()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *shareWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// redactSharePath hides the signature of a share link's token in a path,
// for logs: /s/<id part>.***/raw. The id part names the share without
// letting anyone open it.
func redactSharePath(p string) string {
	rest, ok := strings.CutPrefix(p, "/s/")
	if !ok {
		return p
	}
	token, tail, _ := strings.Cut(rest, "/")
	if tail != "" || strings.HasSuffix(rest, "/") {
		tail = "/" + tail
	}
	id, _, _ := strings.Cut(token, ".")
	if len(id) > 22 {
		id = id[:22]
	}
	return "/s/" + id + ".***" + tail
}

// openShareKey is openShare, then the image key of r (?key=, none for an
// image share) within the share, answering a key outside it itself.
func (s *Server) openShareKey(w http.ResponseWriter, r *http.Request) (v *service.Visit, key string, ok bool) {
	if v, ok = s.openShare(w, r); !ok {
		return nil, "", false
	}
	key, err := v.Key(r.URL.Query().Get("key"))
	if err != nil {
		s.errorPage(w, r, err)
		return nil, "", false
	}
	return v, key, true
}

// openShare opens the link of r's token, counting a view unless r carries
// its visit's ticket (?v=) or is a HEAD. It answers the failures itself:
// 404 for a token that is not a link's, 410 with a page saying why for a
// link that no longer works.
func (s *Server) openShare(w http.ResponseWriter, r *http.Request) (*service.Visit, bool) {
	v, err := s.Shares.Open(r.Context(), r.PathValue("token"), r.URL.Query().Get("v"), r.Method != http.MethodHead)
	if err != nil {
		s.shareError(w, r, err)
		return nil, false
	}
	return v, true
}

// shareGonePage is share_gone.html's data.
type shareGonePage struct {
	layout
	Status string // pixpool.ShareRevoked, ShareExpired, ShareUsedUp or service.ShareDeleted
}

// Reason says in words why the link no longer works.
func (d *shareGonePage) Reason() string {
	switch d.Status {
	case pixpool.ShareRevoked:
		return "The person who shared it has turned this link off."
	case pixpool.ShareExpired:
		return "This link has expired."
	case pixpool.ShareUsedUp:
		return "This link could be opened a limited number of times, and that limit has been reached."
	case service.ShareDeleted:
		return "The image behind this link is no longer available."
	}
	return "This link is no longer available."
}

// shareError answers a failure of a public share route: a link that no
// longer works gets its kind page (410), anything else the usual error
// page.
func (s *Server) shareError(w http.ResponseWriter, r *http.Request, err error) {
	var gone *service.ShareGoneError
	if !errors.As(err, &gone) {
		s.errorPage(w, r, err)
		return
	}
	d := &shareGonePage{layout: s.page(r, "Link no longer available", ""), Status: gone.Status}
	if wantsJSON(r) {
		writeJSON(w, http.StatusGone, map[string]any{
			"error": map[string]string{"code": "gone", "status": gone.Status, "message": d.Reason()},
		})
		return
	}
	s.render(w, r, http.StatusGone, "share_gone.html", d)
}

// sharePage is share.html's data: one shared image.
type sharePage struct {
	layout
	Image *pixpool.Image
	Base  string // /s/<token>
	// Ticket is the visit's, for the image's and the album's URLs.
	Ticket string
	Album  bool // an image of an album: link back to it
}

// RawURL, DownloadURL and AlbumURL are the image's URLs within the visit.
func (d *sharePage) RawURL() string      { return d.itemURL("/raw", nil) }
func (d *sharePage) DownloadURL() string { return d.itemURL("/raw", url.Values{"download": {"1"}}) }
func (d *sharePage) AlbumURL() string {
	return d.Base + "?" + url.Values{"v": {d.Ticket}}.Encode()
}

func (d *sharePage) itemURL(path string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	q.Set("v", d.Ticket)
	if d.Album {
		q.Set("key", d.Image.Key)
	}
	return d.Base + path + "?" + q.Encode()
}

// handleSharePage shows a shared image, or a page of a shared album.
func (s *Server) handleSharePage(w http.ResponseWriter, r *http.Request) {
	v, ok := s.openShare(w, r)
	if !ok {
		return
	}
	if v.Share.Kind == pixpool.ShareAlbum {
		s.renderShareAlbum(w, r, v)
		return
	}
	s.renderShareImage(w, r, v, v.Share.Key)
}

// handleShareItem shows one image of a shared album (or the image of an
// image share).
func (s *Server) handleShareItem(w http.ResponseWriter, r *http.Request) {
	v, key, ok := s.openShareKey(w, r)
	if !ok {
		return
	}
	s.renderShareImage(w, r, v, key)
}

func (s *Server) renderShareImage(w http.ResponseWriter, r *http.Request, v *service.Visit, key string) {
	img, err := s.Images.Info(r.Context(), v.Share.OwnerID, key)
	if err != nil {
		s.shareImageError(w, r, v, err)
		return
	}
	d := &sharePage{layout: s.page(r, v.Share.Title, ""), Image: img, Base: "/s/" + r.PathValue("token"),
		Ticket: v.Ticket, Album: v.Share.Kind == pixpool.ShareAlbum}
	s.render(w, r, http.StatusOK, "share.html", d)
}

// shareImageError answers a shared image that cannot be found: gone for
// good for an image share, one missing image of an album otherwise.
func (s *Server) shareImageError(w http.ResponseWriter, r *http.Request, v *service.Visit, err error) {
	if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		s.errorPage(w, r, err)
		return
	}
	if v.Share.Kind == pixpool.ShareImage {
		s.shareError(w, r, &service.ShareGoneError{Status: service.ShareDeleted})
		return
	}
	s.errorPage(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "No such image in this album."))
}

// shareAlbumPage is share_album.html's data.
type shareAlbumPage struct {
	layout
	Thumbs   []thumb
	Base     string // /s/<token>
	Ticket   string
	After    string // this page's cursor
	NextPage string // the next page's cursor; "" on the last
}

// ItemURL, ThumbURL, PageURL and FirstURL are the album's URLs within the
// visit.
func (d *shareAlbumPage) ItemURL(key string) string {
	return d.Base + "/i?" + url.Values{"key": {key}, "v": {d.Ticket}}.Encode()
}
func (d *shareAlbumPage) ThumbURL(key string) string {
	return d.Base + "/thumb?" + url.Values{"key": {key}, "v": {d.Ticket}}.Encode()
}
func (d *shareAlbumPage) NextURL() string {
	return d.Base + "?" + url.Values{"after": {d.NextPage}, "v": {d.Ticket}}.Encode()
}
func (d *shareAlbumPage) FirstURL() string {
	return d.Base + "?" + url.Values{"v": {d.Ticket}}.Encode()
}

func (s *Server) renderShareAlbum(w http.ResponseWriter, r *http.Request, v *service.Visit) {
	d := &shareAlbumPage{layout: s.page(r, v.Share.Title, ""), Base: "/s/" + r.PathValue("token"), Ticket: v.Ticket,
		After: r.URL.Query().Get("after")}
	imgs, err := s.Shares.Album(r.Context(), v, d.After, galleryPageSize+1)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if len(imgs) > galleryPageSize {
		imgs = imgs[:galleryPageSize]
		d.NextPage = imgs[galleryPageSize-1].Key
	}
	d.Thumbs = s.thumbs(imgs)
	s.render(w, r, http.StatusOK, "share_album.html", d)
}

// handleShareRaw sends a shared image's bytes (through the cache pool, as
// the owner's own reads); with ?download=1 as an attachment.
func (s *Server) handleShareRaw(w http.ResponseWriter, r *http.Request) {
	v, key, ok := s.openShareKey(w, r)
	if !ok {
		return
	}
	img, data, err := s.getImage(r.Context(), v.Share.OwnerID, key)
	if err == nil && img.SourceChecksum == "" && data == nil {
		// Stored before stripping and large: its bytes are stripped
		// here rather than redirected to as they are.
		img, data, err = s.Images.Get(r.Context(), v.Share.OwnerID, key)
	}
	if err == nil {
		img, data, err = service.ForStrangers(img, data)
	}
	if err != nil {
		s.shareImageError(w, r, v, err)
		return
	}
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment",
			map[string]string{"filename": downloadName(key, img.ContentType)}))
	}
	if img.SourceChecksum == "" {
		// Stripped here: its blob, which a redirect would send, is not.
		if s.ImageURL != nil && img.Size > s.ImageURLAbove {
			w.Header().Del("Content-Disposition")
			s.errorPage(w, r, pixpool.Errorf(pixpool.ETOOLARGE, "This image is too large to be shown through a link here. Ask its owner to upload it again."))
			return
		}
	} else if s.redirectLarge(w, r, img) {
		return
	}
	serveImage(w, r, withoutTime(img), data, img.ContentType)
}

// withoutTime is img without its upload time, which serveImage would
// send as Last-Modified: a share shows strangers nothing of when its
// owner uploaded the image.
func withoutTime(img *pixpool.Image) *pixpool.Image {
	out := *img
	out.CreatedAt = time.Time{}
	return &out
}

// handleShareThumb sends the thumbnail of an image of a shared album.
func (s *Server) handleShareThumb(w http.ResponseWriter, r *http.Request) {
	v, key, ok := s.openShareKey(w, r)
	if !ok {
		return
	}
	img, data, err := s.Images.Thumbnail(r.Context(), v.Share.OwnerID, key)
	if err != nil {
		s.shareImageError(w, r, v, err)
		return
	}
	thumb := withoutTime(img)
	thumb.Checksum += "-thumb"
	serveImage(w, r, thumb, data, "image/jpeg")
}
