package labels

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// supportedOps lists the operations run knows; Open checks the planned
// subgraph against it so an unexpected model fails at load, not per image.
var supportedOps = map[string]bool{
	"Placeholder": true, "Const": true, "Identity": true,
	"_FusedConv2D": true, "Conv2D": true,
	"FusedDepthwiseConv2dNative": true, "DepthwiseConv2dNative": true,
	"Add": true, "AddV2": true, "Sub": true, "Mul": true, "BiasAdd": true,
	"Relu": true, "Relu6": true, "Sigmoid": true,
	"Mean": true, "ResizeBilinear": true, "ConcatV2": true,
}

// run executes the planned nodes on input and returns the tensors of the
// named outputs. Intermediate tensors are dropped after their last use, which
// keeps peak memory near the two or three largest activations.
//
// threads bounds the goroutines one node computes on (see parallelRows);
// yield, if not nil, is called before each node, and an error from it
// stops the run.
func (g *graph) run(ctx context.Context, order []int, input *tensor, threads int, yield func(context.Context) error, outputs ...string) ([]*tensor, error) {
	uses := make([]int, len(g.nodes))
	for _, k := range order {
		for _, in := range g.nodes[k].inputs {
			uses[in]++
		}
	}
	for _, name := range outputs {
		uses[g.byName[name]]++
	}
	vals := make([]*tensor, len(g.nodes))
	for _, k := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if yield != nil {
			if err := yield(ctx); err != nil {
				return nil, err
			}
		}
		n := g.nodes[k]
		in := make([]*tensor, len(n.inputs))
		for j, idx := range n.inputs {
			in[j] = vals[idx]
		}
		out, err := n.eval(in, input, threads)
		if err != nil {
			return nil, fmt.Errorf("labels: %s (%s): %w", n.name, n.op, err)
		}
		vals[k] = out
		for _, idx := range n.inputs {
			if uses[idx]--; uses[idx] == 0 && g.nodes[idx].op != "Const" {
				vals[idx] = nil
			}
		}
	}
	res := make([]*tensor, len(outputs))
	for j, name := range outputs {
		res[j] = vals[g.byName[name]]
	}
	return res, nil
}

func (n *node) eval(in []*tensor, input *tensor, threads int) (*tensor, error) {
	switch n.op {
	case "Placeholder":
		return input, nil
	case "Const":
		return n.value, nil
	case "Identity":
		return in[0], nil
	case "_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative":
		return n.conv(in, threads)
	case "Add", "AddV2", "BiasAdd":
		return broadcast(in[0], in[1], func(a, b float32) float32 { return a + b })
	case "Sub":
		return broadcast(in[0], in[1], func(a, b float32) float32 { return a - b })
	case "Mul":
		return broadcast(in[0], in[1], func(a, b float32) float32 { return a * b })
	case "Relu":
		return unary(in[0], relu), nil
	case "Relu6":
		return unary(in[0], relu6), nil
	case "Sigmoid":
		return unary(in[0], func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }), nil
	case "Mean":
		return mean(in[0], in[1], n.attr["keep_dims"].B)
	case "ResizeBilinear":
		if n.attr["align_corners"].B || n.attr["half_pixel_centers"].B {
			return nil, fmt.Errorf("only align_corners=false, half_pixel_centers=false")
		}
		return resizeBilinear(in[0], in[1])
	case "ConcatV2":
		return concat(in[:len(in)-1], in[len(in)-1])
	}
	return nil, fmt.Errorf("unsupported op")
}

func relu(x float32) float32 {
	if x < 0 {
		return 0
	}
	return x
}

func relu6(x float32) float32 {
	if x < 0 {
		return 0
	}
	if x > 6 {
		return 6
	}
	return x
}

func unary(a *tensor, f func(float32) float32) *tensor {
	out := &tensor{shape: a.shape, f: make([]float32, len(a.f))}
	for k, v := range a.f {
		out.f[k] = f(v)
	}
	return out
}

// broadcast applies f elementwise with NumPy broadcasting over up to 4 dimensions.
func broadcast(a, b *tensor, f func(a, b float32) float32) (*tensor, error) {
	if a.f == nil || b.f == nil {
		return nil, fmt.Errorf("integer arithmetic is unsupported")
	}
	if len(a.shape) > 4 || len(b.shape) > 4 {
		return nil, fmt.Errorf("more than 4 dimensions")
	}
	var as, bs, os [4]int
	pad := func(s []int, dst *[4]int) {
		for k := range dst {
			dst[k] = 1
		}
		copy(dst[4-len(s):], s)
	}
	pad(a.shape, &as)
	pad(b.shape, &bs)
	for k := range os {
		switch {
		case as[k] == bs[k], bs[k] == 1:
			os[k] = as[k]
		case as[k] == 1:
			os[k] = bs[k]
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a.shape, b.shape)
		}
	}
	// Strides, zero along broadcast dimensions.
	stride := func(s [4]int) (st [4]int) {
		n := 1
		for k := 3; k >= 0; k-- {
			if s[k] != 1 {
				st[k] = n
			}
			n *= s[k]
		}
		return st
	}
	ast, bst := stride(as), stride(bs)
	rank := max(len(a.shape), len(b.shape))
	out := &tensor{shape: append([]int(nil), os[4-rank:]...)}
	out.f = make([]float32, os[0]*os[1]*os[2]*os[3])
	if len(a.f) == len(out.f) && len(b.f) == len(out.f) {
		for k := range out.f {
			out.f[k] = f(a.f[k], b.f[k])
		}
		return out, nil
	}
	o := 0
	for i0 := range os[0] {
		for i1 := range os[1] {
			for i2 := range os[2] {
				ai := i0*ast[0] + i1*ast[1] + i2*ast[2]
				bi := i0*bst[0] + i1*bst[1] + i2*bst[2]
				for i3 := range os[3] {
					out.f[o] = f(a.f[ai+i3*ast[3]], b.f[bi+i3*bst[3]])
					o++
				}
			}
		}
	}
	return out, nil
}

// convGeometry is what a convolution's attributes and shapes determine.
type convGeometry struct {
	depthwise        bool
	stride, oh, ow   int // output rows and columns
	co               int // output channels
	padT, padL       int // rows and columns of zeros before the input
	padB, padR       int // and after: TF's SAME puts an odd one here
	kh, kw, channels int // filter size, input channels
}

// geometry checks the attributes of a convolution (Conv2D,
// DepthwiseConv2dNative or their fused forms) of an NHWC input shaped x
// (N=1) by a filter shaped w (HWIO, or HWCM with M=1 for a depthwise one)
// and returns its geometry.
func (n *node) geometry(x, w []int) (convGeometry, error) {
	var g convGeometry
	if len(x) != 4 || x[0] != 1 || len(w) != 4 {
		return g, fmt.Errorf("input %v, filter %v: want NHWC with N=1 and a 4-d filter", x, w)
	}
	if df := n.str("data_format"); df != "" && df != "NHWC" {
		return g, fmt.Errorf("data_format %s", df)
	}
	st := n.ints("strides")
	if len(st) != 4 || st[1] != st[2] {
		return g, fmt.Errorf("strides %v", st)
	}
	for _, d := range n.ints("dilations") {
		if d != 1 {
			return g, fmt.Errorf("dilations %v", n.ints("dilations"))
		}
	}
	g.depthwise = n.op == "FusedDepthwiseConv2dNative" || n.op == "DepthwiseConv2dNative"
	H, W, C := x[1], x[2], x[3]
	g.kh, g.kw, g.channels = w[0], w[1], C
	if w[2] != C {
		return g, fmt.Errorf("input %v, filter %v: channels differ", x, w)
	}
	g.co = w[3]
	if g.depthwise {
		if w[3] != 1 {
			return g, fmt.Errorf("depth multiplier %d", w[3])
		}
		g.co = C
	}
	s := st[1]
	g.stride = s
	switch pad := n.str("padding"); pad {
	case "SAME":
		g.oh, g.ow = (H+s-1)/s, (W+s-1)/s
		padH := max((g.oh-1)*s+g.kh-H, 0)
		padW := max((g.ow-1)*s+g.kw-W, 0)
		g.padT, g.padL = padH/2, padW/2
		g.padB, g.padR = padH-g.padT, padW-g.padL
	case "VALID":
		g.oh, g.ow = (H-g.kh)/s+1, (W-g.kw)/s+1
	default:
		return g, fmt.Errorf("padding %q", pad)
	}
	return g, nil
}

// conv runs Conv2D and DepthwiseConv2dNative in NHWC with HWIO (HWCM)
// filters, and their fused forms with a bias and an activation.
func (n *node) conv(in []*tensor, threads int) (*tensor, error) {
	x, w := in[0], in[1]
	g, err := n.geometry(x.shape, w.shape)
	if err != nil {
		return nil, err
	}
	depthwise, co, s, oh, ow, padT, padL := g.depthwise, g.co, g.stride, g.oh, g.ow, g.padT, g.padL
	H, W, C := x.shape[1], x.shape[2], x.shape[3]
	kh, kw := g.kh, g.kw

	var bias []float32
	var act func(float32) float32
	if n.op == "_FusedConv2D" || n.op == "FusedDepthwiseConv2dNative" {
		for _, op := range n.strs("fused_ops") {
			switch op {
			case "BiasAdd":
				if len(in) < 3 || len(in[2].f) != co {
					return nil, fmt.Errorf("bias for %d channels missing", co)
				}
				bias = in[2].f
			case "Relu":
				act = relu
			case "Relu6":
				act = relu6
			default:
				return nil, fmt.Errorf("fused op %s", op)
			}
		}
	}

	out := &tensor{shape: []int{1, oh, ow, co}, f: make([]float32, oh*ow*co)}
	if !depthwise && kh == 1 && kw == 1 && s == 1 {
		pointwise(x.f, n.transposed(w), bias, act, out.f, C, co, threads)
		return out, nil
	}
	parallelRows(threads, oh, func(oy int) {
		for ox := range ow {
			o := out.f[(oy*ow+ox)*co:][:co]
			if bias != nil {
				copy(o, bias)
			}
			for ky := range kh {
				iy := oy*s - padT + ky
				if iy < 0 || iy >= H {
					continue
				}
				for kx := range kw {
					ix := ox*s - padL + kx
					if ix < 0 || ix >= W {
						continue
					}
					xs := x.f[(iy*W+ix)*C:][:C]
					if depthwise {
						ws := w.f[(ky*kw+kx)*C:][:C]
						for c, v := range xs {
							o[c] += v * ws[c]
						}
						continue
					}
					wb := w.f[(ky*kw+kx)*C*co:]
					for ci, v := range xs {
						if v == 0 {
							continue // common after ReLU
						}
						axpy(o, wb[ci*co:][:co], v)
					}
				}
			}
			if act != nil {
				for c, v := range o {
					o[c] = act(v)
				}
			}
		}
	})
	return out, nil
}

// pointwise is a 1x1 convolution with stride 1: a matrix product of the
// pixels (rows of x, C wide) and the transposed filter wT (co rows, C wide).
// It computes blocks of 4 pixels by 2 channels as dot products held in
// registers, which loads each operand once per 8 multiply-adds and stores
// each output once.
func pointwise(x, wT, bias []float32, act func(float32) float32, out []float32, C, co, threads int) {
	pixels := len(x) / C
	blocks := (pixels + 3) / 4
	parallelRows(threads, blocks, func(blk int) {
		p0 := blk * 4
		if pixels-p0 < 4 {
			for p := p0; p < pixels; p++ {
				xs := x[p*C:][:C]
				for c := range co {
					ws := wT[c*C:][:C]
					var sum float32
					for i, v := range xs {
						sum += v * ws[i]
					}
					if bias != nil {
						sum += bias[c]
					}
					if act != nil {
						sum = act(sum)
					}
					out[p*co+c] = sum
				}
			}
			return
		}
		x0, x1, x2, x3 := x[p0*C:][:C], x[(p0+1)*C:][:C], x[(p0+2)*C:][:C], x[(p0+3)*C:][:C]
		c := 0
		for ; c < co; c += 2 {
			wa := wT[c*C:][:C]
			wb := wa // odd co: compute the last channel twice, store once
			if c+1 < co {
				wb = wT[(c+1)*C:][:C]
			}
			x0, x1, x2, x3 := x0[:len(wa)], x1[:len(wa)], x2[:len(wa)], x3[:len(wa)]
			wb = wb[:len(wa)]
			var a0, a1, a2, a3, b0, b1, b2, b3 float32
			for i, av := range wa {
				bv := wb[i]
				v0, v1, v2, v3 := x0[i], x1[i], x2[i], x3[i]
				a0 += v0 * av
				a1 += v1 * av
				a2 += v2 * av
				a3 += v3 * av
				b0 += v0 * bv
				b1 += v1 * bv
				b2 += v2 * bv
				b3 += v3 * bv
			}
			acc := [2][4]float32{{a0, a1, a2, a3}, {b0, b1, b2, b3}}
			for k := 0; k < 2 && c+k < co; k++ {
				for j := range 4 {
					v := acc[k][j]
					if bias != nil {
						v += bias[c+k]
					}
					if act != nil {
						v = act(v)
					}
					out[(p0+j)*co+c+k] = v
				}
			}
		}
	})
}

// axpy adds a*x to y; x is at least as long as y. Unrolled by four: this
// loop is where the detector spends most of its time.
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		yy, xx := y[i:i+4:i+4], x[i:i+4:i+4]
		yy[0] += a * xx[0]
		yy[1] += a * xx[1]
		yy[2] += a * xx[2]
		yy[3] += a * xx[3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

// transposed returns the 1x1 filter w ([1, 1, C, co]) as [co, C], computed
// once per node and kept.
func (n *node) transposed(w *tensor) []float32 {
	n.once.Do(func() {
		C, co := w.shape[2], w.shape[3]
		n.wT = make([]float32, C*co)
		for ci := range C {
			for c := range co {
				n.wT[c*C+ci] = w.f[ci*co+c]
			}
		}
	})
	return n.wT
}

// parallelRows calls f for every row in [0, n) across threads goroutines
// (GOMAXPROCS if threads is zero); with one, on the caller's.
func parallelRows(threads, n int, f func(row int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	workers := min(threads, n)
	if workers <= 1 {
		for r := range n {
			f(r)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards next
	next := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				r := next
				next++
				mu.Unlock()
				if r >= n {
					return
				}
				f(r)
			}
		}()
	}
	wg.Wait()
}

// mean averages a 4-d tensor over the axes in axesT.
func mean(x, axesT *tensor, keepDims bool) (*tensor, error) {
	if len(x.shape) != 4 || axesT.i == nil {
		return nil, fmt.Errorf("input %v", x.shape)
	}
	var reduce [4]bool
	for _, a := range axesT.i {
		if a < 0 {
			a += 4
		}
		if a < 0 || a > 3 {
			return nil, fmt.Errorf("axis %d", a)
		}
		reduce[a] = true
	}
	if reduce[3] || reduce[0] && x.shape[0] != 1 {
		return nil, fmt.Errorf("axes %v", axesT.i)
	}
	H, W, C := x.shape[1], x.shape[2], x.shape[3]
	if !reduce[1] || !reduce[2] {
		return nil, fmt.Errorf("axes %v: only the spatial axes", axesT.i)
	}
	sum := make([]float64, C)
	for p := range H * W {
		for c, v := range x.f[p*C:][:C] {
			sum[c] += float64(v)
		}
	}
	out := &tensor{shape: []int{1, 1, 1, C}, f: make([]float32, C)}
	if !keepDims {
		out.shape = []int{1, C}
	}
	for c := range sum {
		out.f[c] = float32(sum[c] / float64(H*W))
	}
	return out, nil
}

// resizeBilinear is TF's ResizeBilinear with align_corners and
// half_pixel_centers false: source = destination * in/out.
func resizeBilinear(x, size *tensor) (*tensor, error) {
	if len(x.shape) != 4 || x.shape[0] != 1 || len(size.i) != 2 {
		return nil, fmt.Errorf("input %v, size %v", x.shape, size.i)
	}
	H, W, C := x.shape[1], x.shape[2], x.shape[3]
	oh, ow := int(size.i[0]), int(size.i[1])
	out := &tensor{shape: []int{1, oh, ow, C}, f: make([]float32, oh*ow*C)}
	sy, sx := float32(H)/float32(oh), float32(W)/float32(ow)
	for oy := range oh {
		fy := float32(oy) * sy
		y0 := int(fy)
		y1 := min(y0+1, H-1)
		dy := fy - float32(y0)
		for ox := range ow {
			fx := float32(ox) * sx
			x0 := int(fx)
			x1 := min(x0+1, W-1)
			dx := fx - float32(x0)
			o := out.f[(oy*ow+ox)*C:][:C]
			a, b := x.f[(y0*W+x0)*C:][:C], x.f[(y0*W+x1)*C:][:C]
			c, d := x.f[(y1*W+x0)*C:][:C], x.f[(y1*W+x1)*C:][:C]
			for k := range o {
				top := a[k] + (b[k]-a[k])*dx
				bot := c[k] + (d[k]-c[k])*dx
				o[k] = top + (bot-top)*dy
			}
		}
	}
	return out, nil
}

// concat joins float tensors along the axis in axisT.
func concat(xs []*tensor, axisT *tensor) (*tensor, error) {
	if len(axisT.i) != 1 || len(xs) == 0 {
		return nil, fmt.Errorf("axis %v", axisT.i)
	}
	rank := len(xs[0].shape)
	axis := int(axisT.i[0])
	if axis < 0 {
		axis += rank
	}
	shape := append([]int(nil), xs[0].shape...)
	shape[axis] = 0
	for _, x := range xs {
		if len(x.shape) != rank || x.f == nil {
			return nil, fmt.Errorf("inputs differ in rank or type")
		}
		for k := range rank {
			if k != axis && x.shape[k] != shape[k] {
				return nil, fmt.Errorf("shapes %v and %v", xs[0].shape, x.shape)
			}
		}
		shape[axis] += x.shape[axis]
	}
	outer := 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	out := &tensor{shape: shape}
	out.f = make([]float32, 0, out.size())
	for o := range outer {
		for _, x := range xs {
			chunk := len(x.f) / outer
			out.f = append(out.f, x.f[o*chunk:(o+1)*chunk]...)
		}
	}
	return out, nil
}
