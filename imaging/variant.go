package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	"github.com/gen2brain/webp"
	"golang.org/x/image/draw"
)

// VariantQuality is the JPEG and WebP quality of variants: a little above
// thumbnails', since variants are looked at full size.
const VariantQuality = 82

// Box is what a variant must fit: Width×Height pixels, either 0 for not
// bounded. With Cover the variant fills the box exactly, cropped around
// the centre (both sides must be given).
type Box struct {
	Width, Height int
	Cover         bool
}

// swapsSides reports whether EXIF orientation o turns the image a
// quarter: the upright image's width is the stored height.
func swapsSides(o int) bool { return o >= 5 && o <= 8 }

// VariantGeometry returns the size of the variant of a w×h image stored
// in EXIF orientation o (see Orientation; 0 and 1 are upright), and the part of the upright image it shows. It never
// enlarges: a box larger than the image gives the image's size, and a
// cover box larger than the image shrinks, keeping its shape, until it
// fits.
func VariantGeometry(w, h int, o int, box Box) (vw, vh int, crop image.Rectangle) {
	if swapsSides(o) {
		w, h = h, w
	}
	crop = image.Rect(0, 0, w, h)
	if !box.Cover {
		// Scale by the tighter side; num/den is the factor, at most 1.
		num, den := 1, 1
		if box.Width > 0 && box.Width < w {
			num, den = box.Width, w
		}
		if box.Height > 0 && box.Height < h && int64(box.Height)*int64(den) < int64(num)*int64(h) {
			num, den = box.Height, h
		}
		if num == den {
			return w, h, crop
		}
		if den == w {
			return num, scale(h, num, den), crop
		}
		return scale(w, num, den), num, crop
	}
	bw, bh := box.Width, box.Height
	if bw > w || bh > h {
		// Shrink the box by the factor that makes it fit.
		if int64(w)*int64(bh) < int64(h)*int64(bw) { // the width binds
			bw, bh = w, scale(bh, w, bw)
		} else {
			bw, bh = scale(bw, h, bh), h
		}
	}
	cw, ch := w, h
	if int64(w)*int64(bh) > int64(h)*int64(bw) { // the image is wider: crop the sides
		cw = min(w, scale(h, bw, bh))
	} else {
		ch = min(h, scale(w, bh, bw))
	}
	x0, y0 := (w-cw)/2, (h-ch)/2
	return bw, bh, image.Rect(x0, y0, x0+cw, y0+ch)
}

// storedRect maps r, a rectangle of the upright image, to the stored
// image of w×h pixels (stored sides) and orientation o.
func storedRect(r image.Rectangle, w, h int, o int) image.Rectangle {
	switch o {
	case 2:
		return image.Rect(w-r.Max.X, r.Min.Y, w-r.Min.X, r.Max.Y)
	case 3:
		return image.Rect(w-r.Max.X, h-r.Max.Y, w-r.Min.X, h-r.Min.Y)
	case 4:
		return image.Rect(r.Min.X, h-r.Max.Y, r.Max.X, h-r.Min.Y)
	case 5:
		return image.Rect(r.Min.Y, r.Min.X, r.Max.Y, r.Max.X)
	case 6:
		return image.Rect(r.Min.Y, h-r.Max.X, r.Max.Y, h-r.Min.X)
	case 7:
		return image.Rect(w-r.Max.Y, h-r.Max.X, w-r.Min.Y, h-r.Min.X)
	case 8:
		return image.Rect(w-r.Max.Y, r.Min.X, w-r.Min.Y, r.Max.X)
	}
	return r
}

// RenderCost returns the bytes Render allocates, beyond the decoded
// image, for a variant of a w×h image (stored sides): the scaled copy, its
// upright turn, the encoder's copies (libwebp's, in its WebAssembly
// memory, are the largest) and the output. A Budget reserves them with the
// decoding (Decoder.Extra).
func RenderCost(w, h int, o int, box Box, format string) int64 {
	vw, vh, crop := VariantGeometry(w, h, o, box)
	px := int64(vw) * int64(vh)
	cw, ch, tw, th := crop.Dx(), crop.Dy(), vw, vh
	if swapsSides(o) {
		cw, ch, tw, th = ch, cw, th, tw
	}
	cost := shrinkCost(cw, ch, tw, th) + 4*px + 4*px // scaled, output
	if o > 1 {
		cost += 4 * px
	}
	if format == "webp" {
		cost += 12 * px
	}
	return cost
}

// Render makes a variant of src, a decoded image stored in orientation
// o: the part VariantGeometry names, scaled to its size as thumbnails
// are, turned upright, and written as format (jpeg, png or webp).
// Transparent parts of a JPEG variant become white. It returns the bytes
// and the variant's size.
func Render(src image.Image, o int, box Box, format string) (data []byte, w, h int, err error) {
	sb := src.Bounds()
	if sb.Empty() {
		return nil, 0, 0, fmt.Errorf("imaging: render: empty image %v", sb)
	}
	w, h, crop := VariantGeometry(sb.Dx(), sb.Dy(), o, box)
	sr := storedRect(crop, sb.Dx(), sb.Dy(), o).Add(sb.Min)
	tw, th := w, h
	if swapsSides(o) {
		tw, th = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	op := draw.Src
	if format == "jpeg" {
		draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		op = draw.Over
	}
	scaleInto(dst, src, sr, op)
	dst = orient(dst, o)

	var buf bytes.Buffer
	switch format {
	case "jpeg":
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: VariantQuality})
	case "png":
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, dst)
	case "webp":
		err = webp.Encode(&buf, dst, webp.Options{Quality: VariantQuality, Method: 4})
	default:
		err = fmt.Errorf("format %q is not jpeg, png or webp", format)
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("imaging: render %s: %w", format, err)
	}
	return buf.Bytes(), w, h, nil
}

// Dimensions returns what data is, as the headers say, without decoding
// its pixels.
func Dimensions(data []byte) (Info, error) {
	_, info, _, err := (&Decoder{}).prepare(data)
	return info, err
}
