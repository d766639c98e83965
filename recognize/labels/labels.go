// Package labels finds the objects an image shows, as COCO class names with a
// confidence and a bounding box, using a MobileNetV3 CenterNet detector.
//
// The detector is a TensorFlow.js graph model that this package runs itself,
// in pure Go: the graph needs only convolutions (plain, depthwise, with fused
// bias and ReLU/ReLU6), elementwise Add/Mul, ReLU6, Sigmoid, a spatial Mean,
// ResizeBilinear and ConcatV2, so no cgo and no native runtime is needed. The
// model's own post-processing (MaxPool, TopKV2, GatherV2, ...) is replaced by
// a few lines of Go that read the heatmap and box outputs directly.
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
	"sort"
	"strings"
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
// safe for concurrent use. Each
// Detect call allocates its own activations (see BenchmarkDetect for sizes).
type Detector struct {
	// MinConfidence (0-100) drops less confident labels. If zero, 30.
	MinConfidence float64
	// MaxLabels bounds the number of labels returned. If zero, 10.
	MaxLabels int
	// Threads bounds the goroutines one Detect computes on. If zero,
	// GOMAXPROCS; with 1 it computes on the caller's goroutine only, so a
	// caller that lowered its thread's priority keeps all of the work there.
	Threads int
	// Yield, if set, is called between the model's layers (a few
	// milliseconds apart) and may block to pause the work, as
	// service.Activity.Wait does while requests are served; its error
	// stops Detect.
	Yield func(ctx context.Context) error

	g       *graph
	order   []int
	names   []string
	size    int        // input side, 512
	decode  [4]float32 // cell-to-pixel scales for x1, y1, x2, y2
	channel [4]int     // distance channels for x1, y1, x2, y2
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
	return d, nil
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

// Detect returns the most confident classes img shows, most confident first:
// one Label per class, with the box at the peak of its heatmap. It returns
// ctx's error if ctx ends first; an empty image is an error.
func (d *Detector) Detect(ctx context.Context, img image.Image) ([]Label, error) {
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("labels: empty image")
	}
	in := d.input(img)
	out, err := d.g.run(ctx, d.order, in, d.Threads, d.Yield, heatmapNode, distancesNode)
	if err != nil {
		return nil, err
	}
	heat, dist := out[0], out[1]
	if len(heat.shape) != 4 || len(dist.shape) != 4 || heat.shape[1] != dist.shape[1] || heat.shape[2] != dist.shape[2] || dist.shape[3] != 4 {
		return nil, fmt.Errorf("labels: unexpected output shapes %v and %v", heat.shape, dist.shape)
	}
	rows, cols, classes := heat.shape[1], heat.shape[2], heat.shape[3]
	if classes != len(d.names) {
		return nil, fmt.Errorf("labels: model has %d classes, coco.names %d", classes, len(d.names))
	}
	best := make([]int, classes) // cell index of each class's peak
	for p := range rows * cols {
		for c, v := range heat.f[p*classes:][:classes] {
			if v > heat.f[best[c]*classes+c] {
				best[c] = p
			}
		}
	}
	minConf := d.MinConfidence
	if minConf == 0 {
		minConf = 30
	}
	maxLabels := d.MaxLabels
	if maxLabels == 0 {
		maxLabels = 10
	}
	sx := float64(b.Dx()) / float64(d.size)
	sy := float64(b.Dy()) / float64(d.size)
	var labels []Label
	for c, p := range best {
		conf := 100 * float64(heat.f[p*classes+c])
		if conf < minConf {
			continue
		}
		row, col := float32(p/cols), float32(p%cols)
		wh := dist.f[p*4:][:4]
		x1 := col*d.decode[0] - wh[d.channel[0]]
		y1 := row*d.decode[1] - wh[d.channel[1]]
		x2 := col*d.decode[2] + wh[d.channel[2]]
		y2 := row*d.decode[3] + wh[d.channel[3]]
		box := image.Rect(
			b.Min.X+int(float64(x1)*sx+0.5), b.Min.Y+int(float64(y1)*sy+0.5),
			b.Min.X+int(float64(x2)*sx+0.5), b.Min.Y+int(float64(y2)*sy+0.5),
		).Intersect(b)
		labels = append(labels, Label{Name: d.names[c], Confidence: conf, Box: box})
	}
	sort.SliceStable(labels, func(i, j int) bool { return labels[i].Confidence > labels[j].Confidence })
	if len(labels) > maxLabels {
		labels = labels[:maxLabels]
	}
	return labels, nil
}

// input scales img to the model's square input, as raw 0-255 RGB floats in
// NHWC. It stretches rather than pads, and samples as TF's ResizeBilinear
// (align_corners and half_pixel_centers false) does, which is what the
// model's TF.js users feed it. It reads only the pixels it samples, so a large
// image costs no full-size copy.
func (d *Detector) input(img image.Image) *tensor {
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	n := d.size
	t := &tensor{shape: []int{1, n, n, 3}, f: make([]float32, n*n*3)}
	rgb := func(x, y int) [3]float32 {
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return [3]float32{float32(r >> 8), float32(g >> 8), float32(bl >> 8)}
	}
	sy, sx := float32(H)/float32(n), float32(W)/float32(n)
	parallelRows(d.Threads, n, func(oy int) {
		fy := float32(oy) * sy
		y0 := int(fy)
		y1 := min(y0+1, H-1)
		dy := fy - float32(y0)
		for ox := range n {
			fx := float32(ox) * sx
			x0 := int(fx)
			x1 := min(x0+1, W-1)
			dx := fx - float32(x0)
			a, bb, c, e := rgb(x0, y0), rgb(x1, y0), rgb(x0, y1), rgb(x1, y1)
			o := t.f[(oy*n+ox)*3:][:3]
			for k := range o {
				top := a[k] + (bb[k]-a[k])*dx
				bot := c[k] + (e[k]-c[k])*dx
				o[k] = top + (bot-top)*dy
			}
		}
	})
	return t
}
