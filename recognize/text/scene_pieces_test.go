package text

import (
	"context"
	"image"
	"image/color"
	"strings"
	"testing"
)

// inkModel is a recognizer that reads a character ("a") wherever its input
// has ink on the middle row, CTC style (one per blob), and gives the space
// some probability only in a run of three blank steps or more.
type inkModel struct{ keys []string }

func (m inkModel) run(in []float32, shape []int64) ([]float32, []int64, error) {
	w := int(shape[3])
	c := len(m.keys)
	t := w / recStep
	out := make([]float32, t*c)
	row := in[(recHeight/2)*w:][:w] // plane 0, the middle row
	blank := 0
	for s := range t {
		ink := false
		for x := s * recStep; x < (s+1)*recStep; x++ {
			ink = ink || row[x] < -0.5
		}
		p := out[s*c:][:c]
		if ink {
			p[1] = 1
			blank = 0
			continue
		}
		blank++
		p[0] = 1
		p[c-1] = 0.0001
		if blank >= 3 {
			p[c-1] = 0.01
		}
	}
	return out, []int64{1, int64(t), int64(c)}, nil
}

// TestScene_WideGapAtACut: two words far apart, the long line cut between
// them with no character within the pieces' overlap on either side, are
// read with a space between them.
func TestScene_WideGapAtACut(t *testing.T) {
	const w, h = 1000, recHeight
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range src.Pix {
		src.Pix[i] = 255
	}
	blobs := 0
	for _, word := range [][2]int{{100, 300}, {700, 900}} {
		for x0 := word[0]; x0+16 <= word[1]; x0 += 32 {
			blobs++
			for y := 8; y < h-8; y++ {
				for x := x0; x < x0+16; x++ {
					src.Set(x, y, color.Black)
				}
			}
		}
	}
	keys := []string{"", "a", "b", " "}
	s := &Scene{rec: inkModel{keys}, keys: keys}
	q := [4][2]float64{{0, 0}, {w - 1, 0}, {w - 1, h - 1}, {0, h - 1}}
	c := lineCrop(q)
	if at := cuts(cutLine(src, q)); len(at) < 3 {
		t.Fatalf("cuts()=%v, want the line in pieces", at)
	}
	lines, err := s.recognize(context.Background(), src, []crop{c}, func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(lines[0].Text)
	if len(words) != 2 || len(words[0])+len(words[1]) != blobs {
		t.Errorf("read %q, want two words of %d characters in all", lines[0].Text, blobs)
	}
}
