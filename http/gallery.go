package http

import (
	"net/http"

	"github.com/pixpool/pixpool"
)

// galleryPageSize is how many thumbnails one gallery page shows.
const galleryPageSize = 48

// thumb is one gallery tile; Width and Height give the thumbnail's shape
// before it loads, so the grid does not jump.
type thumb struct {
	Key           string
	Width, Height int
	SrcSet        string // variants for sharper tiles on dense screens
}

// thumbs sizes gallery tiles like the thumbnails: the image scaled down to
// fit a square of the thumbnail side.
func (s *Server) thumbs(imgs []*pixpool.Image) []thumb {
	side := s.Images.EffectiveThumbSide()
	out := make([]thumb, 0, len(imgs))
	for _, img := range imgs {
		w, h := max(img.Width, 1), max(img.Height, 1)
		if w > side || h > side {
			if w >= h {
				w, h = side, max(1, h*side/w)
			} else {
				w, h = max(1, w*side/h), side
			}
		}
		out = append(out, thumb{Key: img.Key, Width: w, Height: h, SrcSet: s.srcset(img, tileWidths, true, "")})
	}
	return out
}

// galleryPage is gallery.html's data.
type galleryPage struct {
	layout
	Thumbs   []thumb
	Prefix   string // the filter
	After    string // the cursor of this page
	NextPage string // the cursor of the next page; "" on the last
}

// handleGallery shows a page of the user's thumbnails, in key order from
// the ?after= cursor, optionally only keys starting with ?prefix=.
func (s *Server) handleGallery(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	d := &galleryPage{layout: s.page(r, "My images", "images")}
	q := r.URL.Query()
	d.Prefix, d.After = q.Get("prefix"), q.Get("after")
	imgs, err := s.Images.List(r.Context(), u.ID, d.Prefix, d.After, galleryPageSize+1)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if len(imgs) > galleryPageSize {
		imgs = imgs[:galleryPageSize]
		d.NextPage = imgs[galleryPageSize-1].Key
	}
	d.Thumbs = s.thumbs(imgs)
	s.render(w, r, http.StatusOK, "gallery.html", d)
}
