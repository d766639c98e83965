package text

import (
	"image"
	"math"

	"golang.org/x/image/draw"
)

const (
	// minSide is the smallest width or height worth reading; below it an
	// image cannot hold a legible glyph.
	minSide = 4
	// upscaleBelow is the height under which images are enlarged ×2:
	// Tesseract reads best with letters some 20-40 px high, and small
	// images usually hold small text.
	upscaleBelow = 1000
	// maxUpscalePixels bounds the enlarged image so a long thin strip
	// cannot grow without limit.
	maxUpscalePixels = 40_000_000
	// pad is the blank border added around the image; Tesseract misses
	// text that touches the edge.
	pad = 16
	// maxSkew is the largest tilt, in degrees, that deskew corrects.
	maxSkew = 10.0
	// minSkew is the smallest tilt, in degrees, worth rotating for.
	minSkew = 0.3
)

// prepared is an image made ready for Tesseract, with what is needed to
// map boxes found in it back to the caller's image.
type prepared struct {
	img   *image.Gray
	min   image.Point // origin of the source image
	srcW  int         // source size
	srcH  int
	scale float64 // enlargement applied
	// rotation by -angle (radians) about the centre: rotated point q maps
	// back to R(angle)(q-dstC)+srcC in the scaled image.
	angle      float64
	srcC, dstC [2]float64
}

// Memory returns about the most that Read allocates for a w×h image on
// top of the image itself, so that a caller bounding memory can reserve it
// first: the RGBA and gray copies (5 bytes a pixel), the straightened and
// padded copies and the PNG handed to Tesseract (3.5), and for a low image
// the enlarged RGBA and gray copies (20) with the later copies four times
// the size.
//
// It is the Tesseract path's alone; a Reader with a Scene needs
// Reader.Memory.
func Memory(w, h int) int64 {
	px := int64(w) * int64(h)
	if h < upscaleBelow && 4*px <= maxUpscalePixels {
		return 5*px + 20*px + 4*px*7/2
	}
	return 5*px + px*7/2
}

// prepare turns img into dark text on a light background, enlarges small
// images, straightens small tilts when deskew is set, and pads the border.
func prepare(img image.Image, deskew bool) *prepared {
	b := img.Bounds()
	p := &prepared{min: b.Min, srcW: b.Dx(), srcH: b.Dy(), scale: 1}
	g := toGray(img)
	if borderMean(g) < 128 {
		invert(g)
	}
	if h, w := g.Rect.Dy(), g.Rect.Dx(); h < upscaleBelow && 4*w*h <= maxUpscalePixels {
		// x/image/draw has fast paths only for RGBA destinations.
		big := image.NewRGBA(image.Rect(0, 0, 2*w, 2*h))
		draw.CatmullRom.Scale(big, big.Rect, g, g.Rect, draw.Src, nil)
		g, p.scale = rgbaToGray(big), 2
	}
	if deskew {
		if a := estimateSkew(g); math.Abs(a) >= minSkew {
			p.angle = a * math.Pi / 180
			g, p.srcC, p.dstC = rotate(g, p.angle)
		}
	}
	out := image.NewGray(image.Rect(0, 0, g.Rect.Dx()+2*pad, g.Rect.Dy()+2*pad))
	for i := range out.Pix {
		out.Pix[i] = 255
	}
	for y := range g.Rect.Dy() {
		copy(out.Pix[(y+pad)*out.Stride+pad:], g.Pix[y*g.Stride:y*g.Stride+g.Rect.Dx()])
	}
	p.img = out
	return p
}

// toSource maps a rectangle of the prepared image to the bounding box of
// the same area in the source image.
func (p *prepared) toSource(r image.Rectangle) image.Rectangle {
	xs := [4]float64{float64(r.Min.X), float64(r.Max.X), float64(r.Min.X), float64(r.Max.X)}
	ys := [4]float64{float64(r.Min.Y), float64(r.Min.Y), float64(r.Max.Y), float64(r.Max.Y)}
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	sin, cos := math.Sincos(p.angle)
	for i := range xs {
		x, y := xs[i]-pad, ys[i]-pad
		if p.angle != 0 {
			u, v := x-p.dstC[0], y-p.dstC[1]
			x, y = u*cos-v*sin+p.srcC[0], u*sin+v*cos+p.srcC[1]
		}
		x, y = x/p.scale, y/p.scale
		minX, maxX = math.Min(minX, x), math.Max(maxX, x)
		minY, maxY = math.Min(minY, y), math.Max(maxY, y)
	}
	box := image.Rect(int(math.Floor(minX)), int(math.Floor(minY)), int(math.Ceil(maxX)), int(math.Ceil(maxY)))
	return box.Intersect(image.Rect(0, 0, p.srcW, p.srcH)).Add(p.min)
}

// toGray converts img to 8-bit luminance with its origin at (0, 0).
// Transparent areas read as white background, as a viewer shows them.
func toGray(img image.Image) *image.Gray {
	b := img.Bounds()
	if src, ok := img.(*image.Gray); ok {
		g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := range g.Rect.Dy() {
			i := src.PixOffset(b.Min.X, b.Min.Y+y)
			copy(g.Pix[y*g.Stride:y*g.Stride+b.Dx()], src.Pix[i:i+b.Dx()])
		}
		return g
	}
	// Drawing onto RGBA hits image/draw's fast paths for the common
	// decoded types (RGBA, NRGBA, YCbCr, Paletted); drawing straight
	// onto Gray would go pixel by pixel through interfaces.
	return rgbaToGray(toRGBA(img))
}

// toRGBA copies img into an RGBA image with its origin at (0, 0), the
// transparent areas white.
func toRGBA(img image.Image) *image.RGBA {
	return toRGBASize(img, img.Bounds().Dx(), img.Bounds().Dy())
}

// toRGBASize is toRGBA scaled to w×h.
func toRGBASize(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	op := draw.Src
	if o, ok := img.(interface{ Opaque() bool }); !ok || !o.Opaque() {
		for i := range rgba.Pix {
			rgba.Pix[i] = 255
		}
		op = draw.Over
	}
	if w == b.Dx() && h == b.Dy() {
		draw.Draw(rgba, rgba.Rect, img, b.Min, op)
	} else {
		draw.BiLinear.Scale(rgba, rgba.Rect, img, b, op, nil)
	}
	return rgba
}

// rgbaToGray converts an RGBA image with its origin at (0, 0) to
// luminance, with the weights of color.GrayModel.
func rgbaToGray(m *image.RGBA) *image.Gray {
	g := image.NewGray(m.Rect)
	for i := range g.Pix {
		p := m.Pix[4*i : 4*i+3 : 4*i+3]
		g.Pix[i] = uint8((19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 1<<15) >> 16)
	}
	return g
}

// borderMean is the mean luminance of the outer band of g, which is
// background in nearly every picture of text.
func borderMean(g *image.Gray) float64 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	band := max(1, min(w, h)/50)
	var sum, n float64
	for y := range h {
		row := g.Pix[y*g.Stride : y*g.Stride+w]
		if y < band || y >= h-band {
			for _, v := range row {
				sum += float64(v)
			}
			n += float64(w)
			continue
		}
		for x := 0; x < band && x < w; x++ {
			sum += float64(row[x]) + float64(row[w-1-x])
			n += 2
		}
	}
	if n == 0 {
		return 255
	}
	return sum / n
}

func invert(g *image.Gray) {
	for i, v := range g.Pix {
		g.Pix[i] = 255 - v
	}
}

// estimateSkew returns the tilt of the text lines in g in degrees (positive
// when lines fall to the right, y growing downwards), found as the angle in
// ±maxSkew whose horizontal projection of the dark pixels of a binarised
// downscale is sharpest. It returns 0 when there is too little ink to tell.
func estimateSkew(g *image.Gray) float64 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	small := g
	if s := 1000.0 / float64(max(w, h)); s < 1 {
		m := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(w)*s)), max(1, int(float64(h)*s))))
		draw.ApproxBiLinear.Scale(m, m.Rect, g, g.Rect, draw.Src, nil)
		small = rgbaToGray(m)
	}
	t := otsu(small)
	sw, sh := small.Rect.Dx(), small.Rect.Dy()
	var xs, ys []float64
	for y := range sh {
		for x := range sw {
			if small.Pix[y*small.Stride+x] < t {
				xs = append(xs, float64(x)-float64(sw)/2)
				ys = append(ys, float64(y)-float64(sh)/2)
			}
		}
	}
	if n := len(xs); n < 50 || n > sw*sh/2 {
		return 0
	}
	extent := int(math.Hypot(float64(sw), float64(sh))/2) + 2
	hist := make([]float64, 2*extent+1)
	score := func(deg float64) float64 {
		clear(hist)
		sin, cos := math.Sincos(deg * math.Pi / 180)
		for i := range xs {
			yy := -xs[i]*sin + ys[i]*cos
			hist[int(math.Round(yy))+extent]++
		}
		var s float64
		for _, v := range hist {
			s += v * v
		}
		return s
	}
	search := func(from, to, step float64) float64 {
		best, bestScore := 0.0, -1.0
		for a := from; a <= to+1e-9; a += step {
			if s := score(a); s > bestScore || (s == bestScore && math.Abs(a) < math.Abs(best)) {
				best, bestScore = a, s
			}
		}
		return best
	}
	a := search(-maxSkew, maxSkew, 1)
	return search(max(-maxSkew, a-1), min(maxSkew, a+1), 0.1)
}

// otsu returns the threshold that best splits g's histogram in two.
func otsu(g *image.Gray) uint8 {
	var hist [256]float64
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for y := range h {
		for _, v := range g.Pix[y*g.Stride : y*g.Stride+w] {
			hist[v]++
		}
	}
	total := float64(w * h)
	var sumAll float64
	for i, c := range hist {
		sumAll += float64(i) * c
	}
	var wB, sumB, best float64
	t := uint8(128)
	for i, c := range hist {
		wB += c
		if wB == 0 {
			continue
		}
		wF := total - wB
		if wF == 0 {
			break
		}
		sumB += float64(i) * c
		mB, mF := sumB/wB, (sumAll-sumB)/wF
		if v := wB * wF * (mB - mF) * (mB - mF); v > best {
			best, t = v, uint8(i)+1
		}
	}
	return t
}

// rotate returns g rotated by -angle radians about its centre into a canvas
// large enough to hold it, the new area white, and both centres.
func rotate(g *image.Gray, angle float64) (*image.Gray, [2]float64, [2]float64) {
	w, h := float64(g.Rect.Dx()), float64(g.Rect.Dy())
	sin, cos := math.Sincos(angle)
	dw := int(math.Ceil(math.Abs(w*cos) + math.Abs(h*sin)))
	dh := int(math.Ceil(math.Abs(w*sin) + math.Abs(h*cos)))
	dst := image.NewGray(image.Rect(0, 0, dw, dh))
	srcC := [2]float64{w / 2, h / 2}
	dstC := [2]float64{float64(dw) / 2, float64(dh) / 2}
	iw, ih := g.Rect.Dx(), g.Rect.Dy()
	at := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= iw || y >= ih {
			return 255
		}
		return float64(g.Pix[y*g.Stride+x])
	}
	for y := range dh {
		for x := range dw {
			// Sample at pixel centres, bilinearly.
			u, v := float64(x)+0.5-dstC[0], float64(y)+0.5-dstC[1]
			sx, sy := u*cos-v*sin+srcC[0]-0.5, u*sin+v*cos+srcC[1]-0.5
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := sx-float64(x0), sy-float64(y0)
			top := at(x0, y0)*(1-fx) + at(x0+1, y0)*fx
			bot := at(x0, y0+1)*(1-fx) + at(x0+1, y0+1)*fx
			dst.Pix[y*dst.Stride+x] = uint8(math.Round(top*(1-fy) + bot*fy))
		}
	}
	return dst, srcC, dstC
}
