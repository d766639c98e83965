// Package charttest reads the SVG that package chart draws, for the
// tests of the charts and of the pages that show them.
package charttest

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Node is any element of a parsed SVG, with its attributes, text and
// children.
type Node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []Node     `xml:",any"`
}

// Attr returns the attribute name, or "".
func (n *Node) Attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// All returns the elements below n (n included) that have class cls, or
// every element named local when cls is "".
func (n *Node) All(local, cls string) []*Node {
	var out []*Node
	var walk func(*Node)
	walk = func(e *Node) {
		if (local == "" || e.XMLName.Local == local) && (cls == "" || slices.Contains(strings.Fields(e.Attr("class")), cls)) {
			out = append(out, e)
		}
		for i := range e.Nodes {
			walk(&e.Nodes[i])
		}
	}
	walk(n)
	return out
}

// ParseSVG checks that b is well-formed XML and returns its root.
func ParseSVG(t testing.TB, b []byte) *Node {
	t.Helper()
	// Well-formed: every token decodes.
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
	}
	var root Node
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("decode SVG: %v\n%s", err, b)
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %v, want svg in the SVG namespace", root.XMLName)
	}
	return &root
}

var pathCmdRE = regexp.MustCompile(`([MLZ])(?:([-\d.]+) ([-\d.]+))?`)

// PathRuns parses a path of M, L and Z commands into its runs of points.
func PathRuns(t testing.TB, d string) [][][2]float64 {
	t.Helper()
	var runs [][][2]float64
	for _, m := range pathCmdRE.FindAllStringSubmatch(d, -1) {
		if m[1] == "Z" {
			continue
		}
		x, err1 := strconv.ParseFloat(m[2], 64)
		y, err2 := strconv.ParseFloat(m[3], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad path command %q in %q", m[0], d)
		}
		if m[1] == "M" {
			runs = append(runs, nil)
		}
		if len(runs) == 0 {
			t.Fatalf("path %q does not start with M", d)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], [2]float64{x, y})
	}
	return runs
}
