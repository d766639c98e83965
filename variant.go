package pixpool

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Variants are resized or converted copies of an image, rendered on
// request (GET /api/v1/images/{key}?w=&h=&fit=&format=), kept in the blob
// store under VariantBlobKey and recorded in the store, so each is
// rendered once. A variant belongs to the bytes it was made from (its
// SourceKey, the image's BlobKey): replacing or deleting the image
// removes them.

// Fits say how a variant fills its box.
const (
	// FitInside scales the image to fit within the box, keeping its
	// aspect ratio; it never enlarges.
	FitInside = "inside"
	// FitCover scales the image to fill the box exactly and crops what
	// sticks out, keeping the centre.
	FitCover = "cover"
)

// MaxVariantSide bounds a variant's width and height, whatever the
// allowlist or a signature says.
const MaxVariantSide = 4096

// VariantSpec is what a variant is asked to be: a box of Width×Height
// pixels (either may be 0: not bounded), a fit, and an output format
// (jpeg, png or webp; "" means the original's, a GIF's being png).
type VariantSpec struct {
	Width, Height int
	Fit           string
	Format        string
}

// variantFormats are the formats a variant may be written in.
var variantFormats = []string{"jpeg", "png", "webp"}

// ParseVariantSpec reads a spec from query parameters w, h, fit and
// format, and checks it. The error is EINVALID and says what is wrong.
func ParseVariantSpec(w, h, fit, format string) (VariantSpec, error) {
	var s VariantSpec
	var err error
	if s.Width, err = parseSide("w", w); err != nil {
		return s, err
	}
	if s.Height, err = parseSide("h", h); err != nil {
		return s, err
	}
	s.Fit = fit
	if s.Fit == "" {
		s.Fit = FitInside
	}
	s.Format = strings.ToLower(format)
	if s.Format == "jpg" {
		s.Format = "jpeg"
	}
	return s, s.Validate()
}

func parseSide(name, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxVariantSide {
		return 0, Errorf(EINVALID, "%s must be a whole number of pixels from 1 to %d.", name, MaxVariantSide)
	}
	return n, nil
}

// Validate checks a spec: at least one side, each at most MaxVariantSide,
// a known fit (cover needs both sides) and format.
func (s VariantSpec) Validate() error {
	switch {
	case s.Width == 0 && s.Height == 0:
		return Errorf(EINVALID, "Give w, h or both: the size of the box the variant must fit.")
	case s.Width < 0 || s.Height < 0 || s.Width > MaxVariantSide || s.Height > MaxVariantSide:
		return Errorf(EINVALID, "w and h must be from 1 to %d pixels.", MaxVariantSide)
	case s.Fit != FitInside && s.Fit != FitCover:
		return Errorf(EINVALID, "fit must be %q or %q.", FitInside, FitCover)
	case s.Fit == FitCover && (s.Width == 0 || s.Height == 0):
		return Errorf(EINVALID, "fit=cover fills a box exactly: give both w and h.")
	case s.Format != "" && !slices.Contains(variantFormats, s.Format):
		return Errorf(EINVALID, "format must be jpeg, png or webp (or left out for the original's).")
	}
	return nil
}

// String is the spec's canonical form, "640x0-inside" or
// "320x320-cover.webp": what signatures sign, what the store records and
// the last part of a variant's blob key.
func (s VariantSpec) String() string {
	out := strconv.Itoa(s.Width) + "x" + strconv.Itoa(s.Height) + "-" + s.Fit
	if s.Format != "" {
		out += "." + s.Format
	}
	return out
}

// Query returns the spec as URL query parameters, without the ones left
// at their defaults.
func (s VariantSpec) Query() string {
	var q []string
	if s.Width > 0 {
		q = append(q, "w="+strconv.Itoa(s.Width))
	}
	if s.Height > 0 {
		q = append(q, "h="+strconv.Itoa(s.Height))
	}
	if s.Fit != FitInside {
		q = append(q, "fit="+s.Fit)
	}
	if s.Format != "" {
		q = append(q, "format="+s.Format)
	}
	return strings.Join(q, "&")
}

// VariantBlobKey returns the blob key of the variant of spec (its format
// resolved) of the image named after id (see ImageBlobID).
func VariantBlobKey(id string, spec VariantSpec) string {
	return "var/" + id[:2] + "/" + id + "/" + spec.String()
}

// VariantSize is one entry of the allowlist of variant sizes that may be
// asked for without a signature: a width alone (Height 0) allows boxes of
// that width, that height, or that square; a box allows exactly it. Any
// fit and format goes with them.
type VariantSize struct {
	Width, Height int
}

// DefaultVariantSizes are the sizes allowed when none are configured: the
// widths that srcset in the web UI asks for and a few common ones.
var DefaultVariantSizes = []VariantSize{{160, 0}, {320, 0}, {640, 0}, {1024, 0}, {1600, 0}, {2048, 0}}

// ParseVariantSizes reads a comma-separated allowlist such as
// "160,320,640,1200x630". The error is EINVALID.
func ParseVariantSizes(v string) ([]VariantSize, error) {
	var out []VariantSize
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ws, hs, box := strings.Cut(f, "x")
		w, err1 := strconv.Atoi(ws)
		h := 0
		var err2 error
		if box {
			h, err2 = strconv.Atoi(hs)
		}
		if err1 != nil || err2 != nil || w < 1 || w > MaxVariantSide || box && (h < 1 || h > MaxVariantSide) {
			return nil, Errorf(EINVALID, "variant size %q: give a width (640) or a box (1200x630) of 1 to %d pixels a side.", f, MaxVariantSide)
		}
		out = append(out, VariantSize{w, h})
	}
	return out, nil
}

// String formats a size as ParseVariantSizes reads it.
func (z VariantSize) String() string {
	if z.Height == 0 {
		return strconv.Itoa(z.Width)
	}
	return fmt.Sprintf("%dx%d", z.Width, z.Height)
}

// Allows reports whether spec's box is one that z allows.
func (z VariantSize) Allows(spec VariantSpec) bool {
	if z.Height > 0 {
		return spec.Width == z.Width && spec.Height == z.Height
	}
	switch {
	case spec.Height == 0:
		return spec.Width == z.Width
	case spec.Width == 0:
		return spec.Height == z.Width
	}
	return spec.Width == z.Width && spec.Height == z.Width
}

// Variant is the record of one rendered variant.
type Variant struct {
	BlobKey   string // VariantBlobKey: var/xx/<id>/<spec>
	SourceKey string // the BlobKey of the image it was made from
	OwnerID   int64
	Spec      string // VariantSpec.String(), its format resolved
	Size      int64
	CreatedAt time.Time
}

// VariantStore records rendered variants (part of Store). Their sizes
// count in their owner's usage.
type VariantStore interface {
	// PutVariant records v, replacing the record with the same BlobKey.
	// If v.CreatedAt is zero, it is set to now.
	PutVariant(ctx context.Context, v *Variant) error
	// Variant returns the variant of spec made from sourceKey, or
	// ENOTFOUND.
	Variant(ctx context.Context, sourceKey, spec string) (*Variant, error)
	// VariantsOf returns the variants made from sourceKey, ordered by
	// spec.
	VariantsOf(ctx context.Context, sourceKey string) ([]*Variant, error)
	// DeleteVariants removes the variants made from sourceKey and returns
	// the removed records (the caller deletes their blobs), ordered by
	// spec.
	DeleteVariants(ctx context.Context, sourceKey string) ([]*Variant, error)
}
