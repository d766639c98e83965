package labels

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// tensor is a dense row-major tensor: float32 data for activations and
// weights, int32 for the few shape and axis constants.
type tensor struct {
	shape []int
	f     []float32
	i     []int32
}

func (t *tensor) size() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// graphJSON is the subset of a TF.js graph model's model.json that we read.
type graphJSON struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []nodeJSON `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []struct {
		Paths   []string `json:"paths"`
		Weights []struct {
			Name         string `json:"name"`
			Shape        []int  `json:"shape"`
			Dtype        string `json:"dtype"`
			Quantization *struct {
				Dtype string   `json:"dtype"`
				Min   *float64 `json:"min"`
				Scale *float64 `json:"scale"`
			} `json:"quantization"`
		} `json:"weights"`
	} `json:"weightsManifest"`
}

type nodeJSON struct {
	Name  string              `json:"name"`
	Op    string              `json:"op"`
	Input []string            `json:"input"`
	Attr  map[string]attrJSON `json:"attr"`
}

// attrJSON is a TensorFlow AttrValue in its protobuf JSON form: bytes are
// base64 and 64-bit integers are strings.
type attrJSON struct {
	S    []byte  `json:"s"`
	I    string  `json:"i"`
	F    float64 `json:"f"`
	B    bool    `json:"b"`
	List struct {
		S [][]byte `json:"s"`
		I []string `json:"i"`
	} `json:"list"`
}

// node is one operation of the graph, its inputs resolved to node indices.
type node struct {
	name   string
	op     string
	inputs []int
	attr   map[string]attrJSON
	value  *tensor // Const only
	// otherPort is set when the node reads an output other than the first
	// of some input (TopKV2's indices), which run does not support.
	otherPort bool

	once sync.Once // guards wT
	wT   []float32 // 1x1 convolutions: the filter transposed to [co, C]
}

func (n *node) str(key string) string { return string(n.attr[key].S) }

func (n *node) ints(key string) []int {
	var out []int
	for _, s := range n.attr[key].List.I {
		v, _ := strconv.Atoi(s)
		out = append(out, v)
	}
	return out
}

func (n *node) strs(key string) []string {
	var out []string
	for _, s := range n.attr[key].List.S {
		out = append(out, string(s))
	}
	return out
}

// graph is a loaded TF.js graph model, ready to run from its inputs to the
// requested outputs.
type graph struct {
	nodes  []*node
	byName map[string]int
}

// loadGraph reads a TF.js graph model (model.json and the weight files its
// manifest names, in the same directory).
func loadGraph(path string) (*graph, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m graphJSON
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("labels: parse %s: %w", path, err)
	}
	if m.Format != "graph-model" {
		return nil, fmt.Errorf("labels: %s: format %q, want graph-model", path, m.Format)
	}
	weights := map[string]*tensor{}
	for _, group := range m.WeightsManifest {
		var data []byte
		for _, p := range group.Paths {
			d, err := os.ReadFile(filepath.Join(filepath.Dir(path), p))
			if err != nil {
				return nil, err
			}
			data = append(data, d...)
		}
		for _, w := range group.Weights {
			t := &tensor{shape: w.Shape}
			n := t.size()
			switch {
			case w.Quantization != nil && w.Quantization.Dtype == "float16" && w.Dtype == "float32":
				if len(data) < 2*n {
					return nil, fmt.Errorf("labels: %s: weights end early at %s", path, w.Name)
				}
				t.f = make([]float32, n)
				for k := range t.f {
					t.f[k] = halfToFloat(binary.LittleEndian.Uint16(data[2*k:]))
				}
				data = data[2*n:]
			case w.Quantization == nil && (w.Dtype == "float32" || w.Dtype == "int32"):
				if len(data) < 4*n {
					return nil, fmt.Errorf("labels: %s: weights end early at %s", path, w.Name)
				}
				if w.Dtype == "float32" {
					t.f = make([]float32, n)
					for k := range t.f {
						t.f[k] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*k:]))
					}
				} else {
					t.i = make([]int32, n)
					for k := range t.i {
						t.i[k] = int32(binary.LittleEndian.Uint32(data[4*k:]))
					}
				}
				data = data[4*n:]
			default:
				return nil, fmt.Errorf("labels: %s: weight %s: unsupported dtype %s (quantization %+v)", path, w.Name, w.Dtype, w.Quantization)
			}
			weights[w.Name] = t
		}
	}

	g := &graph{byName: map[string]int{}}
	for _, nj := range m.ModelTopology.Node {
		g.byName[nj.Name] = len(g.nodes)
		g.nodes = append(g.nodes, &node{name: nj.Name, op: nj.Op, attr: nj.Attr})
	}
	for k, nj := range m.ModelTopology.Node {
		n := g.nodes[k]
		for _, in := range nj.Input {
			if strings.HasPrefix(in, "^") {
				continue // control dependency
			}
			name, port, _ := strings.Cut(in, ":")
			if port != "" && port != "0" {
				n.otherPort = true
			}
			idx, ok := g.byName[name]
			if !ok {
				return nil, fmt.Errorf("labels: %s: node %s reads unknown node %s", path, n.name, name)
			}
			n.inputs = append(n.inputs, idx)
		}
		if n.op == "Const" {
			n.value = weights[n.name]
			if n.value == nil {
				return nil, fmt.Errorf("labels: %s: constant %s has no weights", path, n.name)
			}
		}
	}
	return g, nil
}

// plan returns the indices of the nodes needed for outputs, in an order in
// which every node follows its inputs.
func (g *graph) plan(outputs ...string) ([]int, error) {
	state := make([]uint8, len(g.nodes)) // 0 unseen, 1 on stack, 2 done
	var order []int
	var visit func(k int) error
	visit = func(k int) error {
		switch state[k] {
		case 1:
			return fmt.Errorf("labels: graph has a cycle at %s", g.nodes[k].name)
		case 2:
			return nil
		}
		state[k] = 1
		for _, in := range g.nodes[k].inputs {
			if err := visit(in); err != nil {
				return err
			}
		}
		state[k] = 2
		order = append(order, k)
		return nil
	}
	for _, name := range outputs {
		k, ok := g.byName[name]
		if !ok {
			return nil, fmt.Errorf("labels: graph has no node %s", name)
		}
		if err := visit(k); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// halfToFloat converts an IEEE 754 half-precision value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(frac) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}
