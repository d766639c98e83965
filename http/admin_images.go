package http

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/pixpool/pixpool"
)

// Database keys.

// imageRow is one stored image with its owner's name.
type imageRow struct {
	Owner string
	*pixpool.Image
}

// adminImagesPage is admin_images.html's data.
type adminImagesPage struct {
	adminLayout
	Owner, Prefix string // the filter as typed
	NoOwner       bool   // Owner names no user
	Rows          []imageRow
	Pager         pager
}

// handlePortalImages lists every stored image, by owner then key, filtered
// by owner and key prefix.
func (s *Server) handlePortalImages(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	p := &adminImagesPage{adminLayout: s.adminPage(r, "Stored images", "images"), Owner: strings.TrimSpace(q.Get("owner")), Prefix: q.Get("prefix")}
	f := pixpool.ImageFilter{Prefix: p.Prefix, Offset: offsetParam(r), Limit: adminPageSize}
	if p.Owner != "" {
		u, err := s.Store.UserByUsername(ctx, p.Owner)
		if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
			p.NoOwner = true
			s.render(w, r, http.StatusOK, "admin_images.html", p)
			return
		} else if err != nil {
			s.errorPage(w, r, err)
			return
		}
		f.OwnerID = u.ID
	}
	total, err := s.Store.CountImages(ctx, f)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	imgs, err := s.Store.Images(ctx, f)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	names := &ownerNames{s: s}
	for _, img := range imgs {
		p.Rows = append(p.Rows, imageRow{Owner: names.name(ctx, img.OwnerID), Image: img})
	}
	p.Pager = listPager(f.Offset, len(imgs), total, adminPageSize, func(off int) string {
		return pageURL("/admin/images", url.Values{"owner": {p.Owner}, "prefix": {p.Prefix}, "offset": {offsetValue(off)}})
	})
	s.render(w, r, http.StatusOK, "admin_images.html", p)
}
