package http

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pixpool/pixpool"
)

// variantParams are the query parameters that ask for a variant of an
// image rather than the image itself.
var variantParams = []string{"w", "h", "fit", "format", "sig"}

// variantQuery reads a variant's spec and signature from q, and reports
// whether q asks for a variant at all.
func variantQuery(q url.Values) (spec pixpool.VariantSpec, sig string, ok bool, err error) {
	for _, p := range variantParams {
		if q.Has(p) {
			ok = true
		}
	}
	if !ok {
		return spec, "", false, nil
	}
	spec, err = pixpool.ParseVariantSpec(q.Get("w"), q.Get("h"), q.Get("fit"), q.Get("format"))
	return spec, q.Get("sig"), true, err
}

// serveVariant sends the variant spec of ownerID's image under key,
// signed by sig or allowlisted; fail reports an error.
func (s *Server) serveVariant(w http.ResponseWriter, r *http.Request, ownerID int64, key string, spec pixpool.VariantSpec, sig string, fail func(error)) {
	img, data, err := s.Images.Variant(r.Context(), ownerID, key, spec, sig)
	if err != nil {
		fail(err)
		return
	}
	// On Lambda a large variant (a PNG of 2048 pixels may pass 6 MB) is
	// sent from the blob store as a large image is; one from the cache
	// is small enough to have been cached.
	if img.BlobKey != "" && s.redirectLarge(w, r, img) {
		return
	}
	serveImage(w, r, img, data, img.ContentType)
}

// variantSignJSON is the answer of GET /api/v1/variants/sign/{key}.
type variantSignJSON struct {
	URL string `json:"url"`
	Sig string `json:"sig"`
}

// handleAPIVariantSign signs a variant spec for the caller's key, so
// that they can ask for sizes off the allowlist.
func (s *Server) handleAPIVariantSign(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := pathKey(r)
	q := r.URL.Query()
	spec, err := pixpool.ParseVariantSpec(q.Get("w"), q.Get("h"), q.Get("fit"), q.Get("format"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	sig, err := s.Images.SignVariant(r.Context(), u.ID, key, spec)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, variantSignJSON{
		URL: "/api/v1/images/" + url.PathEscape(key) + "?" + spec.Query() + "&sig=" + sig,
		Sig: sig,
	})
}

// Widths of the variants the web UI offers browsers in srcset: gallery
// tiles (square boxes, as thumbnails are) and the image page. The
// templates' sizes attributes say how wide style.css lays them out.
var (
	tileWidths  = []int{160, 320, 640}
	imageWidths = []int{640, 1024, 1600, 2048}
)

// srcset lists variants of img for a srcset: for each width (a square box
// if square) that the allowlist has and that is smaller than the image,
// the variant's URL with its actual width; then the whole image, at whole.
// With no variant smaller than the image it is "".
// Browsers pick the smallest that covers the layout width at the screen's
// pixel density.
func (s *Server) srcset(img *pixpool.Image, widths []int, square bool, whole string) string {
	var parts []string
	iw, ih := uprightSize(img)
	long := max(iw, ih)
	for _, w := range widths {
		spec := pixpool.VariantSpec{Width: w, Fit: pixpool.FitInside}
		if square {
			spec.Height = w
		}
		if w >= iw && (!square || w >= long) {
			break
		}
		if !s.Images.VariantAllowed(spec) {
			continue
		}
		vw := w
		if square && ih > iw {
			vw = max(1, (iw*w+ih/2)/ih)
		}
		parts = append(parts, "/raw?key="+url.QueryEscape(img.Key)+"&"+spec.Query()+" "+strconv.Itoa(vw)+"w")
	}
	if len(parts) == 0 {
		return "" // no variant is smaller: the image alone
	}
	if whole != "" {
		parts = append(parts, whole+" "+strconv.Itoa(iw)+"w")
	}
	return strings.Join(parts, ", ")
}

// uprightSize is img's size as shown: its stored sides, swapped when the
// orientation the served bytes keep turns it a quarter (variants are
// upright, and browsers turn the image). An orientation the upload had
// but the served bytes could not keep (a simple WebP's) turns neither:
// browsers show the image as stored, and its variants follow.
func uprightSize(img *pixpool.Image) (w, h int) {
	if strings.Contains(img.Metadata, `"orientation"`) {
		var m pixpool.ImageMetadata
		if json.Unmarshal([]byte(img.Metadata), &m) == nil {
			if o := m.ServedOrientation(); o >= 5 && o <= 8 {
				return img.Height, img.Width
			}
		}
	}
	return img.Width, img.Height
}
