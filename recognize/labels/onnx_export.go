package labels

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// exportONNX converts the planned subgraph of g (order, as from plan) into
// an ONNX model (opset 13) that ONNX Runtime can run: the same network, in
// NCHW, since ONNX's Conv is NCHW only. Its input, named input, is the
// [1, 3, size, size] image; its outputs, named as in the TF.js graph, are
// NCHW too ([1, classes, 128, 128] and [1, 4, 128, 128]): Detect reads them
// in place instead of paying for transposes.
//
// Every activation of this graph is 4-d, so the conversion is local: filters
// go from HWIO to OIHW, constants that broadcast against an activation are
// permuted the same way, axes are remapped, and fused activations become
// their own nodes. Shapes are inferred on the way, which both checks the
// graph and gives Resize its full output size. An op or attribute the
// conversion does not know is an error, so an unexpected model fails at
// Open.
func (g *graph) exportONNX(order []int, input string, size int, outputs ...string) ([]byte, error) {
	e := &exporter{g: g, shapes: make([][]int, len(g.nodes))}
	for _, k := range order {
		n := g.nodes[k]
		if err := e.node(k, n, input, size); err != nil {
			return nil, fmt.Errorf("labels: convert %s (%s): %w", n.name, n.op, err)
		}
	}
	var graph []byte
	for _, nb := range e.nodes {
		graph = protowire.AppendTag(graph, 1, protowire.BytesType)
		graph = protowire.AppendBytes(graph, nb)
	}
	graph = appendString(graph, 2, "centernet")
	for _, t := range e.inits {
		graph = protowire.AppendTag(graph, 5, protowire.BytesType)
		graph = protowire.AppendBytes(graph, t)
	}
	graph = protowire.AppendTag(graph, 11, protowire.BytesType)
	graph = protowire.AppendBytes(graph, valueInfo(input, []int{1, 3, size, size}))
	for _, name := range outputs {
		k, ok := g.byName[name]
		if !ok || e.shapes[k] == nil {
			return nil, fmt.Errorf("labels: convert: output %s not computed", name)
		}
		graph = protowire.AppendTag(graph, 12, protowire.BytesType)
		graph = protowire.AppendBytes(graph, valueInfo(name, nchw(e.shapes[k])))
	}

	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType) // ir_version
	m = protowire.AppendVarint(m, 7)                    // IR 7 goes with opset 13
	m = appendString(m, 2, "pixpool")                   // producer_name
	m = protowire.AppendTag(m, 7, protowire.BytesType)  // graph
	m = protowire.AppendBytes(m, graph)
	var opset []byte
	opset = protowire.AppendTag(opset, 2, protowire.VarintType) // version; domain "" is ONNX's
	opset = protowire.AppendVarint(opset, 13)
	m = protowire.AppendTag(m, 8, protowire.BytesType) // opset_import
	m = protowire.AppendBytes(m, opset)
	return m, nil
}

// exporter accumulates the ONNX graph's nodes and initializers (each an
// encoded NodeProto or TensorProto) and the NHWC shape of every TF node it
// has converted.
type exporter struct {
	g      *graph
	nodes  [][]byte
	inits  [][]byte
	shapes [][]int // NHWC, by TF node index; nil for constants
	clip   bool    // the Relu6 bounds are in inits
}

func (e *exporter) node(k int, n *node, input string, size int) error {
	in := make([]*node, len(n.inputs))
	for j, idx := range n.inputs {
		in[j] = e.g.nodes[idx]
		if in[j].op != "Const" && e.shapes[idx] == nil {
			return fmt.Errorf("input %s not converted", in[j].name)
		}
	}
	shapeOf := func(j int) []int { return e.shapes[n.inputs[j]] }
	switch n.op {
	case "Const":
		return nil // emitted, converted for their use, by the nodes that read them
	case "Placeholder":
		if n.name != input {
			return fmt.Errorf("a second input")
		}
		e.shapes[k] = []int{1, size, size, 3}
	case "Identity":
		e.add("Identity", n.name, []string{in[0].name}, nil)
		e.shapes[k] = shapeOf(0)
	case "Relu", "Sigmoid":
		e.add(n.op, n.name, []string{in[0].name}, nil)
		e.shapes[k] = shapeOf(0)
	case "Relu6":
		e.relu6(n.name, in[0].name)
		e.shapes[k] = shapeOf(0)
	case "Add", "AddV2", "Sub", "Mul":
		op := map[string]string{"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul"}[n.op]
		var names [2]string
		var shapes [2][]int
		for j := range 2 {
			names[j], shapes[j] = in[j].name, shapeOf(j)
			if in[j].op == "Const" {
				t := in[j].value
				if t.f == nil || len(t.shape) > 4 {
					return fmt.Errorf("constant %s: want float, rank <= 4", in[j].name)
				}
				names[j] = e.init(fmt.Sprintf("%s/nchw%d", n.name, j), nchw(t.shape), toNCHW(t))
				shapes[j] = t.shape
			}
		}
		out, err := broadcastShape(shapes[0], shapes[1])
		if err != nil {
			return err
		}
		e.add(op, n.name, names[:], nil)
		e.shapes[k] = out
	case "_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative":
		out, err := e.conv(n, in, shapeOf(0))
		if err != nil {
			return err
		}
		e.shapes[k] = out
	case "Mean":
		x := shapeOf(0)
		axes := in[1].value
		if in[1].op != "Const" || axes.i == nil || len(x) != 4 || !n.attr["keep_dims"].B {
			return fmt.Errorf("want constant axes over a 4-d input, keep_dims")
		}
		out := append([]int(nil), x...)
		var onnxAxes []int64
		for _, a := range axes.i {
			if a < 0 {
				a += 4
			}
			if a < 0 || a > 3 {
				return fmt.Errorf("axis %d", a)
			}
			onnxAxes = append(onnxAxes, int64(nhwcToNCHWAxis[a]))
			out[a] = 1
		}
		e.add("ReduceMean", n.name, []string{in[0].name}, [][]byte{intsAttr("axes", onnxAxes...), intAttr("keepdims", 1)})
		e.shapes[k] = out
	case "ResizeBilinear":
		x := shapeOf(0)
		sz := in[1].value
		if in[1].op != "Const" || len(sz.i) != 2 || len(x) != 4 {
			return fmt.Errorf("want a constant size and a 4-d input")
		}
		// TF's source coordinate: with neither flag, destination * in/out,
		// ONNX's "asymmetric"; align_corners maps corner to corner;
		// half_pixel_centers samples at pixel centres, as "half_pixel".
		mode := "asymmetric"
		switch ac, hp := n.attr["align_corners"].B, n.attr["half_pixel_centers"].B; {
		case ac && hp:
			return fmt.Errorf("align_corners and half_pixel_centers both set")
		case ac:
			mode = "align_corners"
		case hp:
			mode = "half_pixel"
		}
		out := []int{x[0], int(sz.i[0]), int(sz.i[1]), x[3]}
		sizes := e.initInt64(n.name+"/sizes", nchw(out)...)
		e.add("Resize", n.name, []string{in[0].name, "", "", sizes}, [][]byte{
			stringAttr("mode", "linear"), stringAttr("coordinate_transformation_mode", mode),
		})
		e.shapes[k] = out
	case "ConcatV2":
		axis := in[len(in)-1]
		if axis.op != "Const" || len(axis.value.i) != 1 {
			return fmt.Errorf("want a constant axis")
		}
		a := int(axis.value.i[0])
		if a < 0 {
			a += 4
		}
		var names []string
		var out []int
		for j := range in[:len(in)-1] {
			x := shapeOf(j)
			if len(x) != 4 || a < 0 || a > 3 {
				return fmt.Errorf("axis %d of a %d-d input", a, len(x))
			}
			if out == nil {
				out = append([]int(nil), x...)
			} else {
				out[a] += x[a]
			}
			names = append(names, in[j].name)
		}
		e.add("Concat", n.name, names, [][]byte{intAttr("axis", int64(nhwcToNCHWAxis[a]))})
		e.shapes[k] = out
	default:
		return fmt.Errorf("unsupported op")
	}
	return nil
}

// conv converts the four TF convolutions to Conv, with their fused bias as
// its third input and their fused activation as a node of its own. x is
// the input's NHWC shape; it returns the output's.
func (e *exporter) conv(n *node, in []*node, x []int) ([]int, error) {
	if len(in) < 2 || in[1].op != "Const" || in[1].value.f == nil {
		return nil, fmt.Errorf("want a constant float filter")
	}
	w := in[1].value
	g, err := n.geometry(x, w.shape)
	if err != nil {
		return nil, err
	}
	kh, kw, C, co := g.kh, g.kw, g.channels, g.co
	var oihw []float32
	group := 1
	if g.depthwise {
		// [kh, kw, C, 1] to [C, 1, kh, kw], one group per channel.
		oihw = make([]float32, len(w.f))
		for c := range C {
			for p := range kh * kw {
				oihw[c*kh*kw+p] = w.f[p*C+c]
			}
		}
		group = C
	} else {
		// [kh, kw, C, co] to [co, C, kh, kw].
		oihw = make([]float32, len(w.f))
		for o := range co {
			for i := range C {
				for p := range kh * kw {
					oihw[(o*C+i)*kh*kw+p] = w.f[(p*C+i)*co+o]
				}
			}
		}
	}
	inputs := []string{in[0].name, e.init(n.name+"/oihw", []int{co, C / group, kh, kw}, oihw)}
	var act string
	if n.op == "_FusedConv2D" || n.op == "FusedDepthwiseConv2dNative" {
		for _, op := range n.strs("fused_ops") {
			switch op {
			case "BiasAdd":
				if len(in) < 3 || in[2].op != "Const" || len(in[2].value.f) != co {
					return nil, fmt.Errorf("bias for %d channels missing", co)
				}
				inputs = append(inputs, e.init(n.name+"/bias", []int{co}, in[2].value.f))
			case "Relu", "Relu6":
				act = op
			default:
				return nil, fmt.Errorf("fused op %s", op)
			}
		}
	}
	out := n.name
	if act != "" {
		out = n.name + "/conv"
	}
	e.add("Conv", out, inputs, [][]byte{
		intsAttr("kernel_shape", int64(kh), int64(kw)),
		intsAttr("strides", int64(g.stride), int64(g.stride)),
		intsAttr("pads", int64(g.padT), int64(g.padL), int64(g.padB), int64(g.padR)),
		intAttr("group", int64(group)),
	})
	switch act {
	case "Relu":
		e.add("Relu", n.name, []string{out}, nil)
	case "Relu6":
		e.relu6(n.name, out)
	}
	return []int{x[0], g.oh, g.ow, co}, nil
}

// relu6 adds Clip(x, 0, 6) as output.
func (e *exporter) relu6(output, x string) {
	if !e.clip {
		e.init("relu6/min", nil, []float32{0})
		e.init("relu6/max", nil, []float32{6})
		e.clip = true
	}
	e.add("Clip", output, []string{x, "relu6/min", "relu6/max"}, nil)
}

// add appends a NodeProto computing output (named so, as its node).
func (e *exporter) add(op, output string, inputs []string, attrs [][]byte) {
	var b []byte
	for _, in := range inputs {
		b = appendString(b, 1, in)
	}
	b = appendString(b, 2, output)
	b = appendString(b, 3, output)
	b = appendString(b, 4, op)
	for _, a := range attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	e.nodes = append(e.nodes, b)
}

// init appends a float initializer and returns its name.
func (e *exporter) init(name string, dims []int, data []float32) string {
	raw := make([]byte, 4*len(data))
	for j, v := range data {
		binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(v))
	}
	e.inits = append(e.inits, tensorProto(name, 1, dims, raw)) // 1: FLOAT
	return name
}

// initInt64 appends a 1-d int64 initializer and returns its name.
func (e *exporter) initInt64(name string, values ...int) string {
	raw := make([]byte, 8*len(values))
	for j, v := range values {
		binary.LittleEndian.PutUint64(raw[8*j:], uint64(v))
	}
	e.inits = append(e.inits, tensorProto(name, 7, []int{len(values)}, raw)) // 7: INT64
	return name
}

func tensorProto(name string, dtype uint64, dims []int, raw []byte) []byte {
	var b []byte
	for _, d := range dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, dtype)
	b = appendString(b, 8, name)
	b = protowire.AppendTag(b, 9, protowire.BytesType) // raw_data, little-endian
	return protowire.AppendBytes(b, raw)
}

// valueInfo is a ValueInfoProto for a float tensor of a fixed shape.
func valueInfo(name string, dims []int) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		dim = protowire.AppendTag(dim, 1, protowire.VarintType) // dim_value
		dim = protowire.AppendVarint(dim, uint64(d))
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tensor []byte
	tensor = protowire.AppendTag(tensor, 1, protowire.VarintType) // elem_type FLOAT
	tensor = protowire.AppendVarint(tensor, 1)
	tensor = protowire.AppendTag(tensor, 2, protowire.BytesType)
	tensor = protowire.AppendBytes(tensor, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType) // tensor_type
	typ = protowire.AppendBytes(typ, tensor)
	var b []byte
	b = appendString(b, 1, name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, typ)
}

// AttributeProto encoders; type (field 20) is INT 2, STRING 3, INTS 7.
func intAttr(name string, v int64) []byte {
	b := appendString(nil, 1, name)
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(v))
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, 2)
}

func intsAttr(name string, vs ...int64) []byte {
	b := appendString(nil, 1, name)
	for _, v := range vs {
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(v))
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, 7)
}

func stringAttr(name, v string) []byte {
	b := appendString(nil, 1, name)
	b = appendString(b, 4, v)
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, 3)
}

func appendString(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// nhwcToNCHWAxis maps an axis of an NHWC tensor to the same axis in NCHW.
var nhwcToNCHWAxis = [4]int{0, 2, 3, 1}

// nchw returns the NCHW form of an NHWC shape of rank <= 4, as it
// broadcasts: a shape of lower rank is first padded with leading ones, as
// NumPy broadcasting does; a scalar stays a scalar.
func nchw(shape []int) []int {
	if len(shape) == 0 {
		return nil
	}
	s := [4]int{1, 1, 1, 1}
	copy(s[4-len(shape):], shape)
	return []int{s[0], s[3], s[1], s[2]}
}

// toNCHW permutes the data of a float tensor of rank <= 4 from NHWC to
// NCHW (see nchw for its shape).
func toNCHW(t *tensor) []float32 {
	if len(t.shape) == 0 {
		return t.f
	}
	s := [4]int{1, 1, 1, 1}
	copy(s[4-len(t.shape):], t.shape)
	N, H, W, C := s[0], s[1], s[2], s[3]
	out := make([]float32, len(t.f))
	for n := range N {
		for h := range H {
			for w := range W {
				for c := range C {
					out[((n*C+c)*H+h)*W+w] = t.f[((n*H+h)*W+w)*C+c]
				}
			}
		}
	}
	return out
}

// broadcastShape is the NumPy broadcast of two NHWC shapes (nil, a
// constant's unknown-rank placeholder, is not accepted).
func broadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for j := range n {
		x, y := 1, 1
		if k := j - (n - len(a)); k >= 0 {
			x = a[k]
		}
		if k := j - (n - len(b)); k >= 0 {
			y = b[k]
		}
		switch {
		case x == y, y == 1:
			out[j] = x
		case x == 1:
			out[j] = y
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	if n != 4 {
		return nil, fmt.Errorf("result of rank %d: only 4-d activations are converted", n)
	}
	return out, nil
}
