package labels

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/pixpool/pixpool/pixpooltest"
)

// interpreter returns a Detector like d that runs the pure-Go interpreter,
// the reference the conversion is checked against.
func interpreter(d *Detector) *Detector {
	return &Detector{g: d.g, order: d.order, names: d.names, size: d.size, decode: d.decode, channel: d.channel}
}

// TestONNXMatchesInterpreter: the model converted for ONNX Runtime computes
// what the interpreter computes, on real photos (both outputs, within float
// rounding), and so gives the same labels.
func TestONNXMatchesInterpreter(t *testing.T) {
	d := openDetector(t)
	if d.rt == nil {
		t.Skip("ONNX Runtime is not installed with the detector")
	}
	ref := interpreter(d)
	ctx := context.Background()
	for _, photo := range []string{"dog.jpg", "messi5.jpg", "apple.jpg"} {
		t.Run(photo, func(t *testing.T) {
			img := pixpooltest.RecognitionPhoto(t, photo)
			full := fullFrame(d)
			got, err := d.run(ctx, d.input(img, full))
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.run(ctx, ref.input(img, full))
			if err != nil {
				t.Fatal(err)
			}
			if got.rows != want.rows || got.cols != want.cols || got.classes != want.classes {
				t.Fatalf("ONNX Runtime: %dx%dx%d, interpreter %dx%dx%d", got.rows, got.cols, got.classes, want.rows, want.cols, want.classes)
			}
			var heatErr, distErr float64
			for p := range got.rows * got.cols {
				for c := range got.classes {
					heatErr = max(heatErr, math.Abs(float64(got.heatAt(c, p)-want.heatAt(c, p))))
				}
				for c := range 4 {
					distErr = max(distErr, math.Abs(float64(got.distAt(c, p)-want.distAt(c, p))))
				}
			}
			t.Logf("%s: largest difference: heatmap %.2g, box distances %.2g pixels", photo, heatErr, distErr)
			if heatErr > 1e-3 || distErr > 0.05 {
				t.Errorf("largest difference: heatmap %.2g (want <= 1e-3), distances %.2g (want <= 0.05 pixels)", heatErr, distErr)
			}
			gotLabels, err := d.Detect(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			wantLabels, err := ref.Detect(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(gotLabels), names(wantLabels)) {
				t.Errorf("ONNX Runtime: %v, interpreter: %v", gotLabels, wantLabels)
			}
		})
	}
}

func names(ls []Label) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Name)
	}
	return out
}

// TestExportONNX_Unsupported: an op or attribute the conversion does not
// know fails the conversion, naming the node, rather than computing
// something else.
func TestExportONNX_Unsupported(t *testing.T) {
	filter := &node{name: "w", op: "Const", value: &tensor{shape: []int{3, 3, 3, 8}, f: make([]float32, 3*3*3*8)}}
	for _, tt := range []struct {
		name string
		n    *node
		want string
	}{
		{"Op", &node{name: "pool", op: "MaxPool", inputs: []int{0}}, "pool (MaxPool): unsupported op"},
		{"Dilation", &node{name: "conv", op: "Conv2D", inputs: []int{0, 1}, attr: map[string]attrJSON{
			"strides":   intList("1", "1", "1", "1"),
			"dilations": intList("1", "2", "2", "1"),
			"padding":   {S: []byte("SAME")},
		}}, "conv (Conv2D): dilations"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := &graph{nodes: []*node{{name: "x", op: "Placeholder"}, filter, tt.n}, byName: map[string]int{"x": 0, "w": 1, tt.n.name: 2}}
			_, err := g.exportONNX([]int{0, 1, 2}, "x", 16, tt.n.name)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exportONNX = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// intList is a TF list(int) attribute.
func intList(values ...string) attrJSON {
	var a attrJSON
	a.List.I = values
	return a
}
