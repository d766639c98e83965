package text

import (
	"cmp"
	"context"
	"fmt"
	"image"
	"math"
	"slices"
	"strings"

	"golang.org/x/image/draw"
)

// Scene reads text in photos with PaddleOCR's PP-OCRv4 models: a DB
// detector that finds text lines at any angle, style and colour, and a CTC
// recognizer that reads each line cut out and straightened. Open it with
// OpenScene; a Scene is safe for concurrent use.
type Scene struct {
	// MaxSide bounds the longer side of the image the detector sees, in
	// pixels; larger images are shrunk, which bounds the detector's time
	// and memory, both growing with the area: ONNX Runtime needs some 400
	// bytes per pixel (see Memory), 160 MB at 640 x 640. Text lower than
	// about 1/80 of the image's longer side is then lost. If zero, 640,
	// which read TestReader_WordRecallMeasure's images as well as 960 did
	// but for one word of the page.
	MaxSide int

	det, rec model
	keys     []string // the recognizer's classes: blank, the dictionary, space
	close    func() error
	release  func() // gives the runs' memory back, after each image (onnx.Runtime.ReleaseMemory)
}

// model runs one ONNX model on one float input.
type model interface {
	run(in []float32, shape []int64) (out []float32, outShape []int64, err error)
}

const (
	// recHeight is the height of the lines the recognizer reads.
	recHeight = 48
	// recMinWidth is the narrowest input the recognizer is given, a
	// shorter line padded: PaddleOCR trained it on lines padded to at
	// least 320 pixels.
	recMinWidth = 320
	// recMaxWidth bounds a line's width; longer lines are squeezed.
	recMaxWidth = 8192
	// recPiece is the widest piece of a line read in one run.
	recPiece = 640
	// recOverlap is the context, in columns, a piece shares with each
	// neighbour; only the characters between the cuts are kept from it.
	recOverlap = 64
	// recStep is the recognizer's columns per step of its output.
	recStep = 8
	// spaceProb is the probability of a space between two characters
	// from which ctcChars puts one there: on rendered lines the recognizer
	// gave the space 0.01-0.1 between words and under 0.001 inside them.
	spaceProb = 0.005
	// minSceneConfidence (0-100) drops the lines read with less
	// confidence whatever the Reader's MinConfidence: below it, lines are
	// texture taken for text (PaddleOCR's own cut-off).
	minSceneConfidence = 50
	// documentWidth is the width of all lines together, in pixels
	// recHeight high, from which an image is taken for a page of text and
	// read by Tesseract, which reads a page faster than the recognizer on
	// one thread and as well (TestReader_WordRecallMeasure,
	// BenchmarkScene): some 8 lines of a book, about 0.8 s of the
	// recognizer's time.
	documentWidth = 10000
	// charWidth is about the width of a character, in pixels recHeight
	// high: Tesseract's reading of a page is kept when it finds at least
	// half the characters the lines would hold.
	charWidth = 24
	// verticalRatio is the height/width ratio from which a box is taken
	// for vertical text and turned a quarter before reading.
	verticalRatio = 1.5
)

// sourceSide bounds the longer side of the copy of the image the lines are
// cut from: the detector finds text at least some 8 pixels high in its
// input (MaxSide), which is 25 pixels or more in a copy this large, enough
// for the recognizer, which reads lines 48 pixels high. The bound keeps a
// photo of many megapixels from costing a copy of its size.
const sourceSide = 2048

// workingCopy returns img as RGBA, shrunk to at most sourceSide on its
// longer side, and the factor from its coordinates to img's.
func (s *Scene) workingCopy(img image.Image) (*image.RGBA, float64) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	if max(w, h) <= sourceSide {
		return toRGBA(img), 1
	}
	scale := float64(sourceSide) / float64(max(w, h))
	sw, sh := max(1, int(math.Round(float64(w)*scale))), max(1, int(math.Round(float64(h)*scale)))
	return toRGBASize(img, sw, sh), float64(w) / float64(sw)
}

// Memory returns about the most that reading a w×h image with s allocates
// in the Go heap on top of the image itself: the RGBA copy (4 bytes a
// pixel, at most sourceSide on its longer side), and per pixel of the
// detector's input its shrunk copy, input, output and labels (30 bytes),
// and the one line cut out at a time (lineMemory). ONNX Runtime's working memory
// comes on top, outside the Go heap: it does not grow with the image, as
// the detector's input is at most MaxSide on its longer side, but with
// MaxSide, some 400 bytes a pixel of that input, 120 MB at 640 x 480.
func (s *Scene) Memory(w, h int) int64 {
	cw, ch := int64(w), int64(h)
	if m := int64(max(w, h)); m > sourceSide {
		cw, ch = cw*sourceSide/m+1, ch*sourceSide/m+1
	}
	scale := min(1, float64(s.maxSide())/float64(max(w, h, 1)))
	dw := int64(max(32, math.Round(float64(w)*scale/32)*32))
	dh := int64(max(32, math.Round(float64(h)*scale/32)*32))
	return 4*cw*ch + 30*dw*dh + lineMemory
}

// lineMemory bounds what reading one line allocates: the line cut out, at
// most recMaxWidth wide, its columns' variance (cuts), and a piece's input.
const lineMemory = 4*3*recHeight*recMaxWidth + 8*recMaxWidth + 4*3*recHeight*recPiece

func (s *Scene) maxSide() int {
	if s.MaxSide <= 0 {
		return 640
	}
	return s.MaxSide
}

// detect finds the lines of text in src and cuts them out, calling yield
// before running the detector.
func (s *Scene) detect(ctx context.Context, src *image.RGBA, yield func(context.Context) error) ([]crop, error) {
	in, dw, dh := detInput(src, s.maxSide())
	if err := yield(ctx); err != nil {
		return nil, err
	}
	prob, shape, err := s.det.run(in, []int64{1, 3, int64(dh), int64(dw)})
	if err != nil {
		return nil, fmt.Errorf("text: detector: %w", err)
	}
	if len(shape) != 4 || shape[0] != 1 || shape[1] != 1 || shape[2] != int64(dh) || shape[3] != int64(dw) {
		return nil, fmt.Errorf("text: detector output shape %v, want [1 1 %d %d]", shape, dh, dw)
	}
	boxes := dbBoxes(prob, dw, dh)
	sx := float64(src.Rect.Dx()) / float64(dw)
	sy := float64(src.Rect.Dy()) / float64(dh)
	crops := make([]crop, len(boxes))
	for i, b := range boxes {
		q := b.corners()
		for j := range q {
			// Map pixel centres of the map to those of the source.
			q[j] = [2]float64{(q[j][0]+0.5)*sx - 0.5, (q[j][1]+0.5)*sy - 0.5}
		}
		// Only the line's geometry: its pixels are cut when it is read,
		// one line at a time, so that many long lines cost one line's
		// memory, not all of theirs (see Memory).
		crops[i] = lineCrop(q)
	}
	return crops, nil
}

// readCrops reads the lines cut out of src, calling yield before each
// model run, and returns them in reading order with boxes in src's
// coordinates from (0, 0).
func (s *Scene) readCrops(ctx context.Context, src *image.RGBA, crops []crop, yield func(context.Context) error) ([]Line, error) {
	lines, err := s.recognize(ctx, src, crops, yield)
	if err != nil {
		return nil, err
	}
	bounds := image.Rect(0, 0, src.Rect.Dx(), src.Rect.Dy())
	quads := make([][4][2]float64, len(crops))
	for i, c := range crops {
		quads[i] = c.quad
	}
	var out []Line
	for _, i := range readingOrder(quads) {
		l := lines[i]
		if l.Text == "" || l.Confidence < minSceneConfidence {
			continue
		}
		l.Box = quadBounds(crops[i].quad).Intersect(bounds)
		out = append(out, l)
	}
	return out, nil
}

// cropsWidth is the width of all crops together, in pixels recHeight high:
// what the recognizer's time grows with.
func cropsWidth(crops []crop) int {
	w := 0
	for _, c := range crops {
		w += c.width
	}
	return w
}

// detInput shrinks src so that its longer side is at most maxSide, rounds
// both sides to multiples of 32 as the detector needs, and returns it as
// the detector's input: planes B, G, R normalised with ImageNet's mean and
// deviation (PaddleOCR trained on OpenCV's BGR order).
func detInput(src *image.RGBA, maxSide int) (data []float32, w, h int) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	scale := min(1, float64(maxSide)/float64(max(sw, sh)))
	w = max(32, int(math.Round(float64(sw)*scale/32))*32)
	h = max(32, int(math.Round(float64(sh)*scale/32))*32)
	img := src
	if w != sw || h != sh {
		img = image.NewRGBA(image.Rect(0, 0, w, h))
		draw.BiLinear.Scale(img, img.Rect, src, src.Rect, draw.Src, nil)
	}
	mean := [3]float32{0.485, 0.456, 0.406}
	std := [3]float32{0.229, 0.224, 0.225}
	data = make([]float32, 3*w*h)
	n := w * h
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := range w {
			p := row[4*x : 4*x+3 : 4*x+3]
			i := y*w + x
			for c := range 3 {
				// Plane c holds BGR channel c, which is RGBA's 2-c.
				data[c*n+i] = (float32(p[2-c])/255 - mean[c]) / std[c]
			}
		}
	}
	return data, w, h
}

// crop is a line of text cut out of the image, straightened and scaled to
// recHeight: planes B, G, R normalised to [-1, 1]. Before it is cut
// (lineCrop), data is nil.
type crop struct {
	data  []float32
	width int
	quad  [4][2]float64 // where it was, in the source
}

// lineCrop is the crop of the line with corners q without its pixels: its
// width and where it is.
func lineCrop(q [4][2]float64) crop {
	_, _, _, width, _ := lineFrame(q)
	return crop{quad: q, width: width}
}

// lineFrame returns the line with corners q as cutLine samples it: its
// origin, the ends of its two sides from there, its width in pixels
// recHeight high and the samples per pixel along each axis.
func lineFrame(q [4][2]float64) (o, right, down [2]float64, width, k int) {
	dist := func(a, b [2]float64) float64 { return math.Hypot(a[0]-b[0], a[1]-b[1]) }
	o, right, down = q[0], q[1], q[3]
	if w, h := dist(q[0], q[1]), dist(q[0], q[3]); h/max(w, 1) >= verticalRatio {
		o, right, down = q[1], q[2], q[0]
	}
	lw, lh := max(dist(o, right), 1), max(dist(o, down), 1)
	width = min(recMaxWidth, max(recHeight/4, int(math.Ceil(recHeight*lw/lh))))
	// Average k×k samples a pixel when shrinking a lot, so that thin
	// strokes are not skipped over.
	k = max(1, min(4, int(math.Round(lh/recHeight))))
	return o, right, down, width, k
}

// cutLine samples the parallelogram with corners q (top left, top right,
// bottom right, bottom left of the text) out of src into a straight line
// recHeight high, keeping its proportions. A box much higher than wide is
// taken for a vertical line and turned a quarter anticlockwise first, as
// PaddleOCR does.
func cutLine(src *image.RGBA, q [4][2]float64) crop {
	c := crop{quad: q}
	o, right, down, width, k := lineFrame(q)
	c.width = width
	ax, ay := (right[0]-o[0])/float64(c.width), (right[1]-o[1])/float64(c.width)
	bx, by := (down[0]-o[0])/recHeight, (down[1]-o[1])/recHeight
	n := c.width * recHeight
	c.data = make([]float32, 3*n)
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	for y := range recHeight {
		for x := range c.width {
			var sum [3]float32
			for j := range k {
				for i := range k {
					u := float64(x) + (float64(i)+0.5)/float64(k)
					v := float64(y) + (float64(j)+0.5)/float64(k)
					px := o[0] + 0.5 + u*ax + v*bx
					py := o[1] + 0.5 + u*ay + v*by
					r, g, b := bilinear(src, sw, sh, px-0.5, py-0.5)
					sum[0] += b
					sum[1] += g
					sum[2] += r
				}
			}
			i := y*c.width + x
			for ch := range 3 {
				c.data[ch*n+i] = sum[ch]/float32(k*k)/127.5 - 1
			}
		}
	}
	return c
}

// bilinear samples src at (x, y), pixel centres at integers, clamping at
// the edges; it returns R, G, B from 0 to 255.
func bilinear(src *image.RGBA, w, h int, x, y float64) (r, g, b float32) {
	x = min(max(x, 0), float64(w-1))
	y = min(max(y, 0), float64(h-1))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, w-1), min(y0+1, h-1)
	fx, fy := float32(x-float64(x0)), float32(y-float64(y0))
	p00 := src.Pix[y0*src.Stride+4*x0:]
	p10 := src.Pix[y0*src.Stride+4*x1:]
	p01 := src.Pix[y1*src.Stride+4*x0:]
	p11 := src.Pix[y1*src.Stride+4*x1:]
	var out [3]float32
	for c := range 3 {
		top := float32(p00[c])*(1-fx) + float32(p10[c])*fx
		bot := float32(p01[c])*(1-fx) + float32(p11[c])*fx
		out[c] = top*(1-fy) + bot*fy
	}
	return out[0], out[1], out[2]
}

// recognize cuts each crop out of src and reads it, one at a time, and
// returns one line per crop. A crop wider
// than recPiece is read in overlapping pieces (see cuts): the recognizer's
// attention makes its time grow faster than the width
// (BenchmarkRecognizerWidth), and its memory with it. Crops are read one at
// a time: on one thread, batches of several were slower per pixel.
func (s *Scene) recognize(ctx context.Context, src *image.RGBA, crops []crop, yield func(context.Context) error) ([]Line, error) {
	lines := make([]Line, len(crops))
	for ci, box := range crops {
		c := cutLine(src, box.quad)
		at := cuts(c)
		var kept []ctcChar
		// sawNext is whether the piece before read a character past its
		// end, and spaceNext whether it saw a space before that character.
		sawNext, spaceNext := false, false
		for i := 1; i < len(at); i++ {
			x0, x1 := max(0, at[i-1]-recOverlap), min(c.width, at[i]+recOverlap)
			chars, err := s.readPiece(ctx, c, x0, x1, yield)
			if err != nil {
				return nil, err
			}
			first, before, next := true, false, false
			for _, ch := range chars {
				x := x0 + ch.step*recStep + recStep/2
				if x < at[i-1] {
					before = true
					continue
				}
				if x >= at[i] {
					next, spaceNext = true, ch.space
					break
				}
				if first && i > 1 {
					switch {
					case sawNext:
						ch.space = spaceNext
					case !before:
						// No character within the overlap on either side
						// of the cut: a gap too wide not to be a space.
						ch.space = true
					}
				}
				first = false
				kept = append(kept, ch)
			}
			sawNext = next
		}
		lines[ci] = charsLine(kept)
	}
	return lines, nil
}

// readPiece reads columns x0 to x1 of crop c, padded to recMinWidth.
func (s *Scene) readPiece(ctx context.Context, c crop, x0, x1 int, yield func(context.Context) error) ([]ctcChar, error) {
	bw := max(recMinWidth, x1-x0)
	in := make([]float32, 3*recHeight*bw)
	for ch := range 3 {
		for y := range recHeight {
			row := c.data[(ch*recHeight+y)*c.width:]
			copy(in[(ch*recHeight+y)*bw:], row[x0:x1])
		}
	}
	if err := yield(ctx); err != nil {
		return nil, err
	}
	out, shape, err := s.rec.run(in, []int64{1, 3, recHeight, int64(bw)})
	if err != nil {
		return nil, fmt.Errorf("text: recognizer: %w", err)
	}
	if len(shape) != 3 || shape[0] != 1 || shape[2] != int64(len(s.keys)) {
		return nil, fmt.Errorf("text: recognizer output shape %v, want [1 T %d]", shape, len(s.keys))
	}
	return ctcChars(out, int(shape[1]), int(shape[2]), s.keys), nil
}

// cuts returns where to cut crop c into pieces for the recognizer, from 0
// to c.width: each piece with recOverlap more columns on either side, for
// context, is at most recPiece wide. Each cut is in the column, among the
// last quarter of the piece, that varies least from top to bottom:
// background between characters, or better between words.
func cuts(c crop) []int {
	core := recPiece - 2*recOverlap
	if c.width <= recPiece {
		return []int{0, c.width}
	}
	// vary is each column's variance from top to bottom, over the planes.
	vary := make([]float64, c.width)
	for x := range c.width {
		for ch := range 3 {
			var sum, sq float64
			for y := range recHeight {
				v := float64(c.data[(ch*recHeight+y)*c.width+x])
				sum += v
				sq += v * v
			}
			vary[x] += sq/recHeight - (sum/recHeight)*(sum/recHeight)
		}
	}
	at := []int{0}
	for start := 0; c.width-start > core+recOverlap; {
		best := start + core
		for x := start + core*3/4; x < start+core; x++ {
			if vary[x] < vary[best] {
				best = x
			}
		}
		at = append(at, best)
		start = best
	}
	return append(at, c.width)
}

// ctcChar is a character read by the recognizer: its text, the step it
// was read at, its probability, and whether a space comes before it.
type ctcChar struct {
	text  string
	step  int
	prob  float32
	space bool
}

// ctcChars reads a t×c matrix of class probabilities greedily: the most
// likely class at each step, repeats merged, blanks (class 0) dropped. The
// last class is the space, which the recognizer, trained mostly on Chinese,
// rarely makes the most likely one between English words; it does give it
// some probability there, and almost none inside words, so a space goes
// between two characters when it reached spaceProb at a step between them.
func ctcChars(probs []float32, t, c int, keys []string) []ctcChar {
	var out []ctcChar
	prev := -1
	var gapSpace float32 // the most likely space since the last character
	for i := range t {
		row := probs[i*c : (i+1)*c]
		best := 0
		for j, p := range row {
			if p > row[best] {
				best = j
			}
		}
		if best != 0 && best != prev && best != c-1 {
			out = append(out, ctcChar{text: keys[best], step: i, prob: row[best], space: len(out) > 0 && gapSpace >= spaceProb})
			gapSpace = 0
		} else {
			gapSpace = max(gapSpace, row[c-1])
		}
		prev = best
	}
	return out
}

// charsLine joins chars into a line whose confidence is their mean
// probability, 0-100.
func charsLine(chars []ctcChar) Line {
	if len(chars) == 0 {
		return Line{}
	}
	var b strings.Builder
	var sum float64
	for i, ch := range chars {
		if ch.space && i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ch.text)
		sum += float64(ch.prob)
	}
	return Line{Text: b.String(), Confidence: 100 * sum / float64(len(chars))}
}

// quadBounds is the smallest pixel rectangle holding q.
func quadBounds(q [4][2]float64) image.Rectangle {
	x0, y0 := math.Inf(1), math.Inf(1)
	x1, y1 := math.Inf(-1), math.Inf(-1)
	for _, p := range q {
		x0, x1 = min(x0, p[0]), max(x1, p[0])
		y0, y1 = min(y0, p[1]), max(y1, p[1])
	}
	return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1))+1, int(math.Ceil(y1))+1)
}

// readingOrder returns the order in which to read the text in boxes q
// (corners as from rotRect.corners): rows top to bottom, each left to
// right, along the boxes' median direction, so that the pieces of a tilted
// line stay one row. A box joins the row above it when their centres are
// less than half the lower box's height apart across that direction.
func readingOrder(q [][4][2]float64) []int {
	type item struct {
		i    int
		x, y float64 // centre, along and across the text
		h    float64
	}
	angles := make([]float64, len(q))
	for i, c := range q {
		angles[i] = math.Atan2(c[1][1]-c[0][1], c[1][0]-c[0][0])
	}
	slices.Sort(angles)
	var sin, cos float64 = 0, 1
	if len(angles) > 0 {
		sin, cos = math.Sincos(angles[len(angles)/2])
	}
	items := make([]item, len(q))
	for i, c := range q {
		cx := (c[0][0] + c[1][0] + c[2][0] + c[3][0]) / 4
		cy := (c[0][1] + c[1][1] + c[2][1] + c[3][1]) / 4
		items[i] = item{i: i, x: cx*cos + cy*sin, y: -cx*sin + cy*cos, h: math.Hypot(c[3][0]-c[0][0], c[3][1]-c[0][1])}
	}
	slices.SortStableFunc(items, func(a, b item) int { return cmp.Compare(a.y, b.y) })
	order := make([]int, 0, len(q))
	for start := 0; start < len(items); {
		// A row: the boxes whose centres are near the first one's.
		end := start + 1
		for end < len(items) && items[end].y-items[start].y < min(items[start].h, items[end].h)/2 {
			end++
		}
		row := items[start:end]
		slices.SortStableFunc(row, func(a, b item) int { return cmp.Compare(a.x, b.x) })
		for _, it := range row {
			order = append(order, it.i)
		}
		start = end
	}
	return order
}
