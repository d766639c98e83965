package labels

import (
	"context"
	"math"
	"strconv"
	"testing"
)

func TestHalfToFloat(t *testing.T) {
	for _, tt := range []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},
		{0x0001, 5.960464477539063e-08}, // smallest subnormal
		{0x7c00, float32(math.Inf(1))},
	} {
		if got := halfToFloat(tt.h); got != tt.want {
			t.Errorf("halfToFloat(%#04x) = %g, want %g", tt.h, got, tt.want)
		}
	}
}

// naiveConv is the textbook NHWC convolution with SAME padding, for checking
// conv's fast paths.
func naiveConv(x, w []float32, H, W, C, k, co, s int) []float32 {
	oh, ow := (H+s-1)/s, (W+s-1)/s
	padT := max((oh-1)*s+k-H, 0) / 2
	padL := max((ow-1)*s+k-W, 0) / 2
	out := make([]float32, oh*ow*co)
	for oy := range oh {
		for ox := range ow {
			for c := range co {
				var sum float32
				for ky := range k {
					for kx := range k {
						iy, ix := oy*s-padT+ky, ox*s-padL+kx
						if iy < 0 || iy >= H || ix < 0 || ix >= W {
							continue
						}
						for ci := range C {
							sum += x[(iy*W+ix)*C+ci] * w[((ky*k+kx)*C+ci)*co+c]
						}
					}
				}
				out[(oy*ow+ox)*co+c] = sum
			}
		}
	}
	return out
}

func TestConv(t *testing.T) {
	for _, tt := range []struct {
		name              string
		H, W, C, k, co, s int
	}{
		{"Pointwise", 5, 3, 6, 1, 5, 1}, // odd channels and a partial pixel block
		{"3x3", 6, 7, 3, 3, 4, 1},
		{"3x3Stride2", 7, 6, 3, 3, 4, 2},
		{"1x1Stride2", 6, 6, 2, 1, 3, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := make([]float32, tt.H*tt.W*tt.C)
			for i := range x {
				x[i] = float32(i%7) - 2
			}
			w := make([]float32, tt.k*tt.k*tt.C*tt.co)
			for i := range w {
				w[i] = float32(i%5)*0.5 - 1
			}
			n := &node{op: "Conv2D", attr: map[string]attrJSON{
				"padding": {S: []byte("SAME")},
			}}
			a := n.attr["strides"]
			a.List.I = []string{"1", strconv.Itoa(tt.s), strconv.Itoa(tt.s), "1"}
			n.attr["strides"] = a
			want := naiveConv(x, w, tt.H, tt.W, tt.C, tt.k, tt.co, tt.s)
			for _, threads := range []int{1, 3} {
				got, err := n.conv([]*tensor{
					{shape: []int{1, tt.H, tt.W, tt.C}, f: x},
					{shape: []int{tt.k, tt.k, tt.C, tt.co}, f: w},
				}, threads)
				if err != nil {
					t.Fatal(err)
				}
				if len(got.f) != len(want) {
					t.Fatalf("len %d, want %d", len(got.f), len(want))
				}
				for i := range want {
					if math.Abs(float64(got.f[i]-want[i])) > 1e-4 {
						t.Fatalf("threads %d: out[%d] = %g, want %g", threads, i, got.f[i], want[i])
					}
				}
			}
		})
	}
}

func TestResizeBilinear(t *testing.T) {
	// 2x2 up to 4x4 with TF's legacy sampling: source = dst * 0.5, clamped.
	x := &tensor{shape: []int{1, 2, 2, 1}, f: []float32{0, 4, 8, 12}}
	got, err := resizeBilinear(x, &tensor{shape: []int{2}, i: []int32{4, 4}})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 2, 4, 4, 4, 6, 8, 8, 8, 10, 12, 12, 8, 10, 12, 12}
	for i := range want {
		if got.f[i] != want[i] {
			t.Fatalf("got %v, want %v", got.f, want)
		}
	}
}

func TestRun_Canceled(t *testing.T) {
	g := &graph{nodes: []*node{{name: "in", op: "Placeholder"}}, byName: map[string]int{"in": 0}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.run(ctx, []int{0}, &tensor{}, 0, nil, "in"); err != context.Canceled {
		t.Fatalf("run(canceled) = %v, want context.Canceled", err)
	}
}
