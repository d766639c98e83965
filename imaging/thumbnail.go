package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"

	"golang.org/x/image/draw"
)

// ThumbnailQuality is the JPEG quality of thumbnails: small files without
// visible blocking at gallery sizes.
const ThumbnailQuality = 80

// Thumbnail returns img as a JPEG scaled down to fit in maxSide×maxSide,
// keeping its aspect ratio. A smaller image keeps its size: upscaling would
// only add bytes. Transparent parts become white, since JPEG has no alpha.
// EXIF orientation is not applied (see ThumbnailOriented).
func Thumbnail(img image.Image, maxSide int) ([]byte, error) {
	return ThumbnailOriented(img, maxSide, 1)
}

// ThumbnailOriented is Thumbnail turned by an EXIF orientation (1 to 8;
// anything else is 1), as browsers show the image: a thumbnail carries no
// EXIF, so it must hold its pixels upright.
func ThumbnailOriented(img image.Image, maxSide, orientation int) ([]byte, error) {
	if maxSide <= 0 {
		return nil, fmt.Errorf("imaging: thumbnail: maxSide %d is not positive", maxSide)
	}
	sb := img.Bounds()
	if sb.Empty() {
		return nil, fmt.Errorf("imaging: thumbnail: empty image %v", sb)
	}
	w, h := fit(sb.Dx(), sb.Dy(), maxSide)

	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	scaleInto(dst, img, sb, draw.Over)

	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, orient(dst, orientation), &jpeg.Options{Quality: ThumbnailQuality}); err != nil {
		return nil, fmt.Errorf("imaging: thumbnail: %w", err)
	}
	return buf.Bytes(), nil
}

// scaleInto draws the part sr of img scaled to fill dst, with op.
// Variants share it with thumbnails.
func scaleInto(dst *image.RGBA, img image.Image, sr image.Rectangle, op draw.Op) {
	w, h := dst.Bounds().Dx(), dst.Bounds().Dy()
	if w == sr.Dx() && h == sr.Dy() {
		draw.Draw(dst, dst.Bounds(), img, sr.Min, op)
		return
	}
	// Kernel scalers widen their kernel with the scale factor, so every
	// source pixel counts and a photo shrunk 20 times does not alias
	// (ApproxBiLinear samples only the 2×2 nearest pixels and does).
	// Their cost grows with the factor, so first average k×k blocks,
	// reading each pixel once, down to less than twice the thumbnail's
	// size; at that ratio BiLinear looks as good as CatmullRom and costs
	// a third (BenchmarkThumbnail). A photo of 2 to 4 times the
	// thumbnail's side is shrunk too: scaling it whole costs more than
	// the shrinking (BenchmarkThumbnailUpload).
	src := img
	if k := min(sr.Dx()/w, sr.Dy()/h); k >= 2 {
		if sr != img.Bounds() {
			if sub, ok := img.(interface {
				SubImage(image.Rectangle) image.Image
			}); ok {
				src = sub.SubImage(sr)
			}
		}
		if src.Bounds() == sr {
			if m, ok := src.(*image.YCbCr); ok {
				src = boxShrinkYCbCr(m, k)
			} else {
				src = boxShrink(src, k)
			}
			sr = src.Bounds()
		} else {
			src = img // cannot crop it: scale the part directly
		}
	}
	draw.BiLinear.Scale(dst, dst.Bounds(), src, sr, op, nil)
}

// shrinkCost returns the bytes scaleInto allocates to scale a w×h part
// of an image to tw×th.
func shrinkCost(w, h, tw, th int) int64 {
	k := min(w/max(tw, 1), h/max(th, 1))
	if k < 2 {
		return 0
	}
	dw, dh := (w+k-1)/k, (h+k-1)/k
	return 4*int64(dw)*int64(dh) + 4*int64(w)*int64(k) // result, and boxShrink's strip
}

// fit returns the size of a w×h image scaled down to fit in side×side, keeping
// the aspect ratio (rounded, at least 1 pixel a side); it never scales up.
func fit(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, scale(h, side, w)
	}
	return scale(w, side, h), side
}

// scale returns round(n*num/den), at least 1.
func scale(n, num, den int) int {
	v := (int64(n)*int64(num) + int64(den)/2) / int64(den)
	return int(max(v, 1))
}

// boxShrink returns img shrunk k times in each direction, each pixel the mean
// of a k×k block (of fewer pixels along the right and bottom edges).
// Averaging premultiplied RGBA weighs colours by their opacity, as it should.
func boxShrink(img image.Image, k int) *image.RGBA {
	sb := img.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	dw, dh := (sw+k-1)/k, (sh+k-1)/k
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	// Convert k rows at a time, with image/draw's fast paths for the
	// decoders' image types, rather than holding a full-size RGBA copy.
	strip := image.NewRGBA(image.Rect(0, 0, sw, k))
	sums := make([]uint64, 4*dw)
	for dy := range dh {
		y0 := sb.Min.Y + dy*k
		rows := min(k, sb.Max.Y-y0)
		draw.Draw(strip, image.Rect(0, 0, sw, rows), img, image.Pt(sb.Min.X, y0), draw.Src)
		clear(sums)
		for r := range rows {
			row := strip.Pix[r*strip.Stride : r*strip.Stride+4*sw]
			for bx := range dw {
				s := sums[4*bx : 4*bx+4 : 4*bx+4]
				blk := row[4*bx*k : 4*min(bx*k+k, sw)]
				for i := 0; i+3 < len(blk); i += 4 {
					s[0] += uint64(blk[i])
					s[1] += uint64(blk[i+1])
					s[2] += uint64(blk[i+2])
					s[3] += uint64(blk[i+3])
				}
			}
		}
		out := dst.Pix[dy*dst.Stride : dy*dst.Stride+4*dw]
		for bx := range dw {
			n := uint64(min(k, sw-bx*k) * rows)
			for i := range 4 {
				out[4*bx+i] = uint8((sums[4*bx+i] + n/2) / n)
			}
		}
	}
	return dst
}

// boxShrinkYCbCr is boxShrink for the JPEG decoder's images: it averages
// the Y, Cb and Cr samples of each block and converts only the averages,
// rather than converting every pixel first, which costs more than the rest
// of a thumbnail. Each pixel's chroma is the sample that covers it, as in
// image/draw's conversion; the conversion being affine, the result differs
// from boxShrink's only by rounding (and clamping of out-of-gamut
// averages).
func boxShrinkYCbCr(m *image.YCbCr, k int) *image.RGBA {
	sb := m.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	dw, dh := (sw+k-1)/k, (sh+k-1)/k
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	// Chroma subsampling as shifts: a pixel's chroma column is
	// x>>hs - Min.X>>hs, its row y>>vs - Min.Y>>vs (image.YCbCr.COffset).
	hs, vs := 0, 0
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio440:
		vs = 1
	case image.YCbCrSubsampleRatio411:
		hs = 2
	case image.YCbCrSubsampleRatio410:
		hs, vs = 2, 1
	}
	sums := make([]uint32, 3*dw)
	for dy := range dh {
		clear(sums)
		y0 := sb.Min.Y + dy*k
		rows := min(k, sb.Max.Y-y0)
		for y := y0; y < y0+rows; y++ {
			yrow := m.Y[(y-m.Rect.Min.Y)*m.YStride:]
			crow := (y>>vs - m.Rect.Min.Y>>vs) * m.CStride
			cb, cr := m.Cb[crow:], m.Cr[crow:]
			cbase := m.Rect.Min.X >> hs
			for bx := range dw {
				x0 := sb.Min.X + bx*k
				x1 := min(x0+k, sb.Max.X)
				var sy, scb, scr uint32
				for x := x0; x < x1; x++ {
					c := x>>hs - cbase
					sy += uint32(yrow[x-m.Rect.Min.X])
					scb += uint32(cb[c])
					scr += uint32(cr[c])
				}
				s := sums[3*bx : 3*bx+3 : 3*bx+3]
				s[0] += sy
				s[1] += scb
				s[2] += scr
			}
		}
		out := dst.Pix[dy*dst.Stride : dy*dst.Stride+4*dw]
		for bx := range dw {
			n := uint32(min(k, sw-bx*k) * rows)
			r, g, b := color.YCbCrToRGB(uint8((sums[3*bx]+n/2)/n), uint8((sums[3*bx+1]+n/2)/n), uint8((sums[3*bx+2]+n/2)/n))
			out[4*bx], out[4*bx+1], out[4*bx+2], out[4*bx+3] = r, g, b, 255
		}
	}
	return dst
}
