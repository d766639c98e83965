package text

import (
	"cmp"
	"image"
	"math"
	"slices"
)

// The differentiable-binarisation (DB) detector's post-processing, as
// PaddleOCR does it: the probability map is thresholded, each connected
// region becomes its smallest rotated rectangle, rectangles whose mean
// probability is low are dropped, and the rest are grown back by the
// margin the detector was trained to shrink text regions by.
const (
	// dbThreshold binarises the probability map.
	dbThreshold = 0.3
	// dbBoxScore is the least mean probability inside a kept box.
	dbBoxScore = 0.6
	// dbUnclip grows a box by area*dbUnclip/perimeter on every side.
	dbUnclip = 1.5
	// dbMinSide is the shortest side, in map pixels, of a kept box before
	// growing; dbMinSide+2 after.
	dbMinSide = 3
	// dbMaxBoxes bounds the regions looked at, largest first, so that a
	// noisy map cannot make the work unbounded.
	dbMaxBoxes = 1000
)

// rotRect is a rectangle at any angle: its centre, the unit vector along
// its width (the side nearer the horizontal, pointing right), and its size.
type rotRect struct {
	cx, cy float64
	ux, uy float64
	w, h   float64
}

// corners returns the corners clockwise on screen from the top left of
// the text: top left, top right, bottom right, bottom left.
func (r rotRect) corners() [4][2]float64 {
	// v is u turned a quarter clockwise on screen (y grows downwards).
	vx, vy := -r.uy, r.ux
	hw, hh := r.w/2, r.h/2
	return [4][2]float64{
		{r.cx - hw*r.ux - hh*vx, r.cy - hw*r.uy - hh*vy},
		{r.cx + hw*r.ux - hh*vx, r.cy + hw*r.uy - hh*vy},
		{r.cx + hw*r.ux + hh*vx, r.cy + hw*r.uy + hh*vy},
		{r.cx - hw*r.ux + hh*vx, r.cy - hw*r.uy + hh*vy},
	}
}

// contains reports whether point (x, y) lies inside r.
func (r rotRect) contains(x, y float64) bool {
	dx, dy := x-r.cx, y-r.cy
	a := dx*r.ux + dy*r.uy
	b := -dx*r.uy + dy*r.ux
	return math.Abs(a) <= r.w/2 && math.Abs(b) <= r.h/2
}

// dbBoxes finds the text boxes in a w×h probability map, in map
// coordinates, grown by the unclip margin.
func dbBoxes(prob []float32, w, h int) []rotRect {
	regions := components(prob, w, h, dbThreshold)
	// Largest first, so that dbMaxBoxes keeps the ones that matter.
	slices.SortStableFunc(regions, func(a, b region) int { return b.pixels - a.pixels })
	if len(regions) > dbMaxBoxes {
		regions = regions[:dbMaxBoxes]
	}
	var boxes []rotRect
	for _, reg := range regions {
		if len(reg.edge) < 3 {
			continue // a point or a line has no area
		}
		r := minAreaRect(convexHull(reg.edge))
		if min(r.w, r.h) < dbMinSide {
			continue
		}
		if boxScore(prob, w, h, r) < dbBoxScore {
			continue
		}
		d := r.w * r.h * dbUnclip / (2 * (r.w + r.h))
		r.w += 2 * d
		r.h += 2 * d
		if min(r.w, r.h) < dbMinSide+2 {
			continue
		}
		boxes = append(boxes, r)
	}
	return boxes
}

// region is one connected area of the binarised map: its size and the
// centres of its leftmost and rightmost pixel in each row, which hold its
// convex hull.
type region struct {
	pixels int
	edge   [][2]float64
}

// components labels the 8-connected areas of prob above threshold.
func components(prob []float32, w, h int, threshold float32) []region {
	seen := make([]bool, w*h)
	var stack []int32
	var out []region
	// Row extremes of the region being filled, indexed by row.
	lo := make([]int32, h)
	hi := make([]int32, h)
	for i := range lo {
		lo[i], hi[i] = math.MaxInt32, -1
	}
	for start := range prob {
		if seen[start] || prob[start] <= threshold {
			continue
		}
		seen[start] = true
		stack = append(stack[:0], int32(start))
		n := 0
		top, bottom := h, -1
		for len(stack) > 0 {
			p := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			n++
			x, y := p%w, p/w
			lo[y], hi[y] = min(lo[y], int32(x)), max(hi[y], int32(x))
			top, bottom = min(top, y), max(bottom, y)
			for dy := -1; dy <= 1; dy++ {
				yy := y + dy
				if yy < 0 || yy >= h {
					continue
				}
				for dx := -1; dx <= 1; dx++ {
					xx := x + dx
					if xx < 0 || xx >= w {
						continue
					}
					q := yy*w + xx
					if !seen[q] && prob[q] > threshold {
						seen[q] = true
						stack = append(stack, int32(q))
					}
				}
			}
		}
		reg := region{pixels: n}
		for y := top; y <= bottom; y++ {
			reg.edge = append(reg.edge, [2]float64{float64(lo[y]), float64(y)})
			if hi[y] != lo[y] {
				reg.edge = append(reg.edge, [2]float64{float64(hi[y]), float64(y)})
			}
			lo[y], hi[y] = math.MaxInt32, -1
		}
		out = append(out, reg)
	}
	return out
}

// convexHull returns the convex hull of pts counter-clockwise (Andrew's
// monotone chain), without collinear points.
func convexHull(pts [][2]float64) [][2]float64 {
	p := slices.Clone(pts)
	slices.SortFunc(p, func(a, b [2]float64) int {
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		return cmp.Compare(a[1], b[1])
	})
	p = slices.Compact(p)
	if len(p) < 3 {
		return p
	}
	cross := func(o, a, b [2]float64) float64 {
		return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
	}
	hull := make([][2]float64, 0, 2*len(p))
	for _, q := range p {
		for len(hull) >= 2 && cross(hull[len(hull)-2], hull[len(hull)-1], q) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, q)
	}
	lower := len(hull) + 1
	for i := len(p) - 2; i >= 0; i-- {
		for len(hull) >= lower && cross(hull[len(hull)-2], hull[len(hull)-1], p[i]) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p[i])
	}
	return hull[:len(hull)-1]
}

// minAreaRect returns the smallest rectangle holding the convex polygon
// hull: one of its sides lies along an edge of the hull (rotating
// calipers). Its width is the side nearer the horizontal.
func minAreaRect(hull [][2]float64) rotRect {
	if len(hull) == 1 {
		return rotRect{cx: hull[0][0], cy: hull[0][1], ux: 1}
	}
	best := rotRect{}
	bestArea := math.Inf(1)
	for i := range hull {
		a, b := hull[i], hull[(i+1)%len(hull)]
		ex, ey := b[0]-a[0], b[1]-a[1]
		l := math.Hypot(ex, ey)
		if l == 0 {
			continue
		}
		ux, uy := ex/l, ey/l
		minU, maxU := math.Inf(1), math.Inf(-1)
		minV, maxV := math.Inf(1), math.Inf(-1)
		for _, q := range hull {
			u := q[0]*ux + q[1]*uy
			v := -q[0]*uy + q[1]*ux
			minU, maxU = min(minU, u), max(maxU, u)
			minV, maxV = min(minV, v), max(maxV, v)
		}
		if area := (maxU - minU) * (maxV - minV); area < bestArea {
			bestArea = area
			cu, cv := (minU+maxU)/2, (minV+maxV)/2
			best = rotRect{cx: cu*ux - cv*uy, cy: cu*uy + cv*ux, ux: ux, uy: uy, w: maxU - minU, h: maxV - minV}
		}
	}
	return best.upright()
}

// upright turns r's axes so that u is the one nearer the horizontal and
// points right; the rectangle stays the same.
func (r rotRect) upright() rotRect {
	if math.Abs(r.uy) > math.Abs(r.ux) {
		// Swap the axes: the other side is nearer the horizontal.
		r.ux, r.uy = r.uy, -r.ux
		r.w, r.h = r.h, r.w
	}
	if r.ux < 0 {
		r.ux, r.uy = -r.ux, -r.uy
	}
	return r
}

// boxScore is the mean probability of the map inside r.
func boxScore(prob []float32, w, h int, r rotRect) float64 {
	c := r.corners()
	x0, y0 := math.Inf(1), math.Inf(1)
	x1, y1 := math.Inf(-1), math.Inf(-1)
	for _, p := range c {
		x0, x1 = min(x0, p[0]), max(x1, p[0])
		y0, y1 = min(y0, p[1]), max(y1, p[1])
	}
	b := image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1))+1, int(math.Ceil(y1))+1).Intersect(image.Rect(0, 0, w, h))
	// The rectangle runs through pixel centres; half a pixel more takes
	// in the pixels its edges cross.
	grown := r
	grown.w++
	grown.h++
	var sum float64
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if grown.contains(float64(x), float64(y)) {
				sum += float64(prob[y*w+x])
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
