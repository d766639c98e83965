// Package labels finds the objects an image shows, as COCO class names with a
// confidence and a bounding box, using a MobileNetV3 CenterNet detector.
//
// The detector is a TensorFlow.js graph model. Open converts it to an ONNX
// model in memory (onnx_export.go) and runs it with ONNX Runtime, through
// package onnx, without cgo. Where the library is not installed, a small
// interpreter in pure Go runs the same graph (graph.go, ops.go), about 8
// times slower: the graph needs only convolutions (plain, depthwise, with
// fused bias and ReLU/ReLU6), elementwise Add/Mul, ReLU6, Sigmoid, a spatial
// Mean, ResizeBilinear and ConcatV2. The interpreter is also the reference
// the conversion is tested against. Either way, the model's own
// post-processing (MaxPool, TopKV2, GatherV2, ...) is replaced by a few lines
// of Go that read the heatmap and box outputs directly.
//
// The model files come from scripts/setup-recognition.sh DIR, which fills
// DIR/recognition/; Open(DIR) reads them from there.
package labels

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pixpool/pixpool/recognize/onnx"
)

// Label is one object class found in an image.
type Label struct {
	// Name is the COCO class name, such as "dog" or "traffic light".
	Name string
	// Confidence is the peak of the class's heatmap, from 0 to 100.
	Confidence float64
	// Box is the class's most confident box, in the input image's coordinates.
	Box image.Rectangle
}

// Names of the graph's input and of the two outputs Detect reads; the box
// decoding constants are read by name in Open.
const (
	inputNode     = "tower_0/images"
	heatmapNode   = "tower_0/keypoints" // [1, 128, 128, classes], sigmoid
	distancesNode = "tower_0/wh"        // [1, 128, 128, 4], pixels of the 512x512 input
)

// Detector finds labels in images. Set its fields before use; Detect is then
// safe for concurrent use.
type Detector struct {
	// MinConfidence (0-100) drops less confident labels. If zero, 30.
	MinConfidence float64
	// MaxLabels bounds the number of labels returned. If zero, 10.
	MaxLabels int
	// Threads bounds the threads one Detect computes on. If zero,
	// GOMAXPROCS; with 1 it computes on the caller's thread only, so a
	// caller that lowered its thread's priority keeps all of the work there.
	Threads int
	// Yield, if set, is called before each run of the model (at most two
	// per image, one with ONNX Runtime being about 0.1 s) and, without ONNX
	// Runtime, between the model's layers; it may block to pause the work,
	// as service.Activity.Wait does while requests are served; its error
	// stops Detect.
	Yield func(ctx context.Context) error

	g       *graph
	order   []int
	names   []string
	size    int        // input side, 512
	decode  [4]float32 // cell-to-pixel scales for x1, y1, x2, y2
	channel [4]int     // distance channels for x1, y1, x2, y2

	// With ONNX Runtime: a session of the converted model per thread count
	// (Open makes the one-thread session that serving uses).
	rt       *onnx.Runtime
	mu       sync.Mutex // guards sessions and closed
	sessions map[int]*onnx.Session
	closed   bool
}

// ErrNotInstalled is returned (wrapped) by Open when the model files are missing.
var ErrNotInstalled = errors.New("labels: recognition is not installed (run scripts/setup-recognition.sh DIR)")

// Installed reports whether DIR/recognition/ holds the detector's files,
// without loading them: a missing file gives an error wrapping
// ErrNotInstalled.
func Installed(dir string) error {
	base := filepath.Join(dir, "recognition")
	for _, f := range []string{"centernet.json", "centernet.bin", "coco.names"} {
		if _, err := os.Stat(filepath.Join(base, f)); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s missing", ErrNotInstalled, filepath.Join(base, f))
		}
	}
	return nil
}

// Open loads the detector from DIR/recognition/, where
// scripts/setup-recognition.sh DIR puts it. A missing file gives an error
// wrapping ErrNotInstalled.
func Open(dir string) (*Detector, error) {
	if err := Installed(dir); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "recognition")
	g, err := loadGraph(filepath.Join(base, "centernet.json"))
	if err != nil {
		return nil, err
	}
	names, err := readNames(filepath.Join(base, "coco.names"))
	if err != nil {
		return nil, err
	}
	for i, n := range names {
		if r, ok := readable[n]; ok {
			names[i] = r
		}
	}
	d := &Detector{g: g, names: names}
	if d.order, err = g.plan(heatmapNode, distancesNode); err != nil {
		return nil, err
	}
	for _, k := range d.order {
		if n := g.nodes[k]; !supportedOps[n.op] || n.otherPort {
			return nil, fmt.Errorf("labels: node %s: unsupported op %s", n.name, n.op)
		}
	}
	k, ok := g.byName[inputNode]
	if !ok {
		return nil, fmt.Errorf("labels: graph has no input %s", inputNode)
	}
	in := g.nodes[k]
	if in.op != "Placeholder" {
		return nil, fmt.Errorf("labels: %s is not a placeholder", inputNode)
	}
	d.size = 512

	// The model decodes a box at heatmap cell (row, col) as
	// x1 = col*a - wh[i], y1 = row*b - wh[j], x2 = col*c + wh[k], y2 = row*d + wh[l];
	// read a..d and i..l from the graph rather than trusting them.
	for j, name := range []string{"tower_0/mul_3/y", "tower_0/mul_4/y", "tower_0/mul_5/y", "tower_0/mul_6/y"} {
		t, err := d.constant(name)
		if err != nil || len(t.f) != 1 {
			return nil, fmt.Errorf("labels: box decoding constant %s: %v", name, err)
		}
		d.decode[j] = t.f[0]
	}
	for j, name := range []string{"tower_0/strided_slice_9/stack", "tower_0/strided_slice_10/stack", "tower_0/strided_slice_11/stack", "tower_0/strided_slice_12/stack"} {
		t, err := d.constant(name)
		if err != nil || len(t.i) != 3 || t.i[2] < 0 || t.i[2] > 3 {
			return nil, fmt.Errorf("labels: box decoding constant %s: %v", name, err)
		}
		d.channel[j] = int(t.i[2])
	}

	// ONNX Runtime, when the setup script fetched it, runs the same network
	// about 5 times faster than the interpreter; without it (a platform the
	// script has no library for) the interpreter still gives the same
	// labels. A library that is there but does not load is an error.
	lib := filepath.Join(base, libName)
	if _, err := os.Stat(lib); errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if d.rt, err = onnx.Load(lib); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	if _, err := d.session(1); err != nil {
		return nil, err
	}
	return d, nil
}

// Close releases the detector's ONNX Runtime sessions, whose memory is
// outside the Go heap; Detect must not be called after it. A detector that
// lives as long as the process need not be closed.
func (d *Detector) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.sessions {
		s.Close()
	}
	d.sessions, d.closed = nil, true
}

// Engine says what runs the model: ONNX Runtime and its version, or the
// pure-Go interpreter where the library is missing.
func (d *Detector) Engine() string {
	if d.rt == nil {
		return "the pure-Go interpreter (no ONNX Runtime library)"
	}
	return "ONNX Runtime " + d.rt.Version()
}

// libName is ONNX Runtime's library in DIR/recognition/.
const libName = "libonnxruntime.so.1"

// session returns the ONNX Runtime session that computes on threads
// threads, made on first use.
func (d *Detector) session(threads int) (*onnx.Session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.sessions[threads]; s != nil {
		return s, nil
	}
	if d.closed {
		return nil, errors.New("labels: detector is closed")
	}
	// The model is converted again rather than kept: it is as large as the
	// weights, and a second thread count is rare (tests, pixpool analyze).
	model, err := d.g.exportONNX(d.order, inputNode, d.size, heatmapNode, distancesNode)
	if err != nil {
		return nil, err
	}
	s, err := d.rt.NewSession(model, onnx.Options{Threads: threads})
	if err != nil {
		return nil, fmt.Errorf("labels: the converted detector does not load: %w", err)
	}
	if d.sessions == nil {
		d.sessions = map[int]*onnx.Session{}
	}
	d.sessions[threads] = s
	return s, nil
}

func (d *Detector) constant(name string) (*tensor, error) {
	k, ok := d.g.byName[name]
	if !ok || d.g.nodes[k].op != "Const" {
		return nil, fmt.Errorf("not a constant of the graph")
	}
	return d.g.nodes[k].value, nil
}

func readNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	return names, sc.Err()
}

// readable replaces the darknet names of coco.names that differ from COCO's
// own, which read better: "tv" rather than "tvmonitor".
var readable = map[string]string{
	"aeroplane": "airplane", "motorbike": "motorcycle", "sofa": "couch",
	"pottedplant": "potted plant", "diningtable": "dining table", "tvmonitor": "tv",
}

// canvasScale is the size of the image, relative to the model's input, in
// Detect's second pass: the side of the square it fits in, centred on grey.
// The detector was trained on scenes, and finds nothing in a close-up of a
// single apple or orange, while the same photo at a quarter to a half of
// the frame is found. At 0.4 the close-ups of testdata find their fruit,
// and the darknet photos (scenes) gain no wrong label; see TestDetect_Photos.
const canvasScale = 0.4

// canvasGrey fills the rest of the canvas: a neutral grey, which the
// detector sees as background.
const canvasGrey = 128

// Detect returns the most confident classes img shows, most confident first:
// one Label per class, with the box at the peak of its heatmap.
//
// It runs the detector on the whole image, stretched to the model's square
// input. When that finds nothing at MinConfidence, which is what a close-up
// of a single object gives, it runs it again on the image shrunk into a
// grey canvas (see canvasScale), so the object looks like one in a scene.
// Labels of both passes are merged by name, keeping the most confident.
//
// It returns ctx's error if ctx ends first; an empty image is an error.
func (d *Detector) Detect(ctx context.Context, img image.Image) ([]Label, error) {
	if d.rt != nil {
		defer d.rt.ReleaseMemory()
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("labels: empty image")
	}
	minConf := d.MinConfidence
	if minConf == 0 {
		minConf = 30
	}
	maxLabels := d.MaxLabels
	if maxLabels == 0 {
		maxLabels = 10
	}
	labels, err := d.pass(ctx, img, fullFrame(d), minConf)
	if err != nil {
		return nil, err
	}
	if len(labels) == 0 {
		more, err := d.pass(ctx, img, d.canvas(b), minConf)
		if err != nil {
			return nil, err
		}
		labels = merge(labels, more)
	}
	sort.SliceStable(labels, func(i, j int) bool { return labels[i].Confidence > labels[j].Confidence })
	if len(labels) > maxLabels {
		labels = labels[:maxLabels]
	}
	return labels, nil
}

// fullFrame is where the first pass puts the image: all of the input.
func fullFrame(d *Detector) image.Rectangle { return image.Rect(0, 0, d.size, d.size) }

// canvas is where the second pass puts an image of bounds b: the largest
// rectangle of b's aspect that fits a square of canvasScale times the
// input's side, centred.
func (d *Detector) canvas(b image.Rectangle) image.Rectangle {
	side := canvasScale * float64(d.size)
	scale := side / float64(max(b.Dx(), b.Dy()))
	w := max(1, int(float64(b.Dx())*scale+0.5))
	h := max(1, int(float64(b.Dy())*scale+0.5))
	x0, y0 := (d.size-w)/2, (d.size-h)/2
	return image.Rect(x0, y0, x0+w, y0+h)
}

// merge adds more to labels, one per name: the more confident of two wins.
func merge(labels, more []Label) []Label {
	for _, l := range more {
		k := slices.IndexFunc(labels, func(m Label) bool { return m.Name == l.Name })
		switch {
		case k < 0:
			labels = append(labels, l)
		case l.Confidence > labels[k].Confidence:
			labels[k] = l
		}
	}
	return labels
}

// pass runs the detector once, with img scaled into place (the rest of the
// input grey), and returns the classes whose heatmap peaks at minConf or
// more, with their boxes in img's coordinates.
func (d *Detector) pass(ctx context.Context, img image.Image, place image.Rectangle, minConf float64) ([]Label, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := d.run(ctx, d.input(img, place))
	if err != nil {
		return nil, err
	}
	if out.classes != len(d.names) {
		return nil, fmt.Errorf("labels: model has %d classes, coco.names %d", out.classes, len(d.names))
	}
	b := img.Bounds()
	sx := float64(b.Dx()) / float64(place.Dx())
	sy := float64(b.Dy()) / float64(place.Dy())
	cells := out.rows * out.cols
	var labels []Label
	for c := range out.classes {
		p, peak := 0, out.heatAt(c, 0)
		for q := 1; q < cells; q++ {
			if v := out.heatAt(c, q); v > peak {
				p, peak = q, v
			}
		}
		conf := 100 * float64(peak)
		if conf < minConf {
			continue
		}
		row, col := float32(p/out.cols), float32(p%out.cols)
		x1 := col*d.decode[0] - out.distAt(d.channel[0], p)
		y1 := row*d.decode[1] - out.distAt(d.channel[1], p)
		x2 := col*d.decode[2] + out.distAt(d.channel[2], p)
		y2 := row*d.decode[3] + out.distAt(d.channel[3], p)
		mapX := func(x float32) int { return b.Min.X + int((float64(x)-float64(place.Min.X))*sx+0.5) }
		mapY := func(y float32) int { return b.Min.Y + int((float64(y)-float64(place.Min.Y))*sy+0.5) }
		box := image.Rect(mapX(x1), mapY(y1), mapX(x2), mapY(y2)).Intersect(b)
		if box.Empty() && place != fullFrame(d) {
			continue // found in the canvas's grey, not in the image
		}
		labels = append(labels, Label{Name: d.names[c], Confidence: conf, Box: box})
	}
	return labels, nil
}

// maps are the model's two outputs: per cell of its rows x cols grid, the
// heatmap of each class and the four box distances.
type maps struct {
	heat, dist          []float32
	rows, cols, classes int
	planar              bool // NCHW, from ONNX Runtime; else NHWC, from the interpreter
}

func (m *maps) heatAt(class, cell int) float32 {
	if m.planar {
		return m.heat[class*m.rows*m.cols+cell]
	}
	return m.heat[cell*m.classes+class]
}

func (m *maps) distAt(channel, cell int) float32 {
	if m.planar {
		return m.dist[channel*m.rows*m.cols+cell]
	}
	return m.dist[cell*4+channel]
}

// run computes the model on in (see input) with ONNX Runtime, or with the
// interpreter when the library is not installed.
func (d *Detector) run(ctx context.Context, in []float32) (*maps, error) {
	n := d.size
	if d.rt == nil {
		out, err := d.g.run(ctx, d.order, &tensor{shape: []int{1, n, n, 3}, f: in}, d.Threads, d.Yield, heatmapNode, distancesNode)
		if err != nil {
			return nil, err
		}
		heat, dist := out[0], out[1]
		if len(heat.shape) != 4 || len(dist.shape) != 4 || heat.shape[1] != dist.shape[1] || heat.shape[2] != dist.shape[2] || dist.shape[3] != 4 {
			return nil, fmt.Errorf("labels: unexpected output shapes %v and %v", heat.shape, dist.shape)
		}
		return &maps{heat: heat.f, dist: dist.f, rows: heat.shape[1], cols: heat.shape[2], classes: heat.shape[3]}, nil
	}
	if d.Yield != nil {
		if err := d.Yield(ctx); err != nil {
			return nil, err
		}
	}
	threads := d.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	s, err := d.session(threads)
	if err != nil {
		return nil, err
	}
	out, err := s.Run([]onnx.Tensor{{Shape: []int64{1, 3, int64(n), int64(n)}, Data: in}})
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("labels: %d outputs, want 2", len(out))
	}
	heat, dist := out[0].Shape, out[1].Shape
	if len(heat) != 4 || len(dist) != 4 || heat[2] != dist[2] || heat[3] != dist[3] || dist[1] != 4 {
		return nil, fmt.Errorf("labels: unexpected output shapes %v and %v", heat, dist)
	}
	return &maps{heat: out[0].Data, dist: out[1].Data, rows: int(heat[2]), cols: int(heat[3]), classes: int(heat[1]), planar: true}, nil
}

// input scales img into place, a rectangle of the model's square input, as
// raw 0-255 RGB floats: NCHW for ONNX Runtime, NHWC for the interpreter.
// The rest of the input is canvasGrey. It samples as TF's ResizeBilinear
// (align_corners and half_pixel_centers false) does, which is what the
// model's TF.js users feed it, and reads only the pixels it samples, so a
// large image costs no full-size copy.
func (d *Detector) input(img image.Image, place image.Rectangle) []float32 {
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	n := d.size
	in := make([]float32, n*n*3)
	// Offsets of a pixel's three channels and the stride between pixels.
	ch, px := [3]int{0, 1, 2}, 3
	if d.rt != nil {
		ch, px = [3]int{0, n * n, 2 * n * n}, 1
	}
	if place != fullFrame(d) {
		for p := range n * n {
			for _, o := range ch {
				in[p*px+o] = canvasGrey
			}
		}
	}
	rgb := func(x, y int) [3]float32 {
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return [3]float32{float32(r >> 8), float32(g >> 8), float32(bl >> 8)}
	}
	sy, sx := float32(H)/float32(place.Dy()), float32(W)/float32(place.Dx())
	parallelRows(d.Threads, place.Dy(), func(oy int) {
		fy := float32(oy) * sy
		y0 := int(fy)
		y1 := min(y0+1, H-1)
		dy := fy - float32(y0)
		for ox := range place.Dx() {
			fx := float32(ox) * sx
			x0 := int(fx)
			x1 := min(x0+1, W-1)
			dx := fx - float32(x0)
			a, bb, c, e := rgb(x0, y0), rgb(x1, y0), rgb(x0, y1), rgb(x1, y1)
			p := (place.Min.Y+oy)*n + place.Min.X + ox
			for k, o := range ch {
				top := a[k] + (bb[k]-a[k])*dx
				bot := c[k] + (e[k]-c[k])*dx
				in[p*px+o] = top + (bot-top)*dy
			}
		}
	})
	return in
}
