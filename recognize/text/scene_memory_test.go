package text

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// mapModel is a detector that returns a fixed probability map.
type mapModel struct{ prob func(w, h int) []float32 }

func (m mapModel) run(in []float32, shape []int64) ([]float32, []int64, error) {
	h, w := int(shape[2]), int(shape[3])
	return m.prob(w, h), []int64{1, 1, int64(h), int64(w)}, nil
}

// blankModel is a recognizer that reads only CTC blanks, and calls probe
// on each run.
type blankModel struct {
	classes int
	probe   func()
}

func (m blankModel) run(in []float32, shape []int64) ([]float32, []int64, error) {
	if m.probe != nil {
		m.probe()
	}
	t := int(shape[3]) / recStep
	out := make([]float32, t*m.classes)
	for i := range t {
		out[i*m.classes] = 1
	}
	return out, []int64{1, int64(t), int64(m.classes)}, nil
}

// stripes is a probability map of full-width lines 4 map pixels high, one
// pixel apart: what a page of small dense text can give.
func stripes(w, h int) []float32 {
	p := make([]float32, w*h)
	for y := range h {
		if y%5 == 4 {
			continue
		}
		for x := range w {
			p[y*w+x] = 1
		}
	}
	return p
}

// full is a probability map that is text everywhere.
func full(w, h int) []float32 {
	p := make([]float32, w*h)
	for i := range p {
		p[i] = 1
	}
	return p
}

// TestReader_SceneStaysInMemory: reading stays within Reader.Memory, which
// the analyzer reserves, whatever lines the detector finds: many long
// lines are not all held cut out at once, and the one line cut out of a
// thin image is counted.
func TestReader_SceneStaysInMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		w, h int
		prob func(w, h int) []float32
	}{
		{"ManyLongLines", 640, 640, stripes},
		{"ThinImageOneLine", 4, 2048, full},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := image.NewRGBA(image.Rect(0, 0, tc.w, tc.h))
			keys := make([]string, 40)
			var base, peak uint64
			runs := 0
			s := &Scene{det: mapModel{tc.prob}, rec: blankModel{classes: len(keys), probe: func() {
				// A GC every run is slow; every 8th sees the lines held.
				if runs++; runs%8 == 1 {
					var ms runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
			}}, keys: keys}
			r := &Reader{Scene: s, Command: "/nonexistent/tesseract"}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base = ms.HeapAlloc
			if _, err := r.Read(context.Background(), img); err != nil {
				t.Fatal(err)
			}
			if runs == 0 {
				t.Fatal("the recognizer never ran")
			}
			t.Logf("held %d KB, budget %d KB", (int64(peak)-int64(base))>>10, r.Memory(tc.w, tc.h)>>10)
			if used, budget := int64(peak)-int64(base), r.Memory(tc.w, tc.h); used > budget {
				t.Errorf("Read held %d KB in the heap, Reader.Memory(%d, %d) = %d KB", used>>10, tc.w, tc.h, budget>>10)
			}
		})
	}
}

// TestReader_ScenePageTesseractFailing: when Tesseract, given a page of
// text, fails (a crash, a damaged install), the scene recognizer still
// reads the page rather than the image failing.
func TestReader_ScenePageTesseractFailing(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a shell script stands in for tesseract")
	}
	fake := filepath.Join(t.TempDir(), "tesseract")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\ncat > /dev/null\necho 'Segmentation fault' >&2\nexit 139\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 40)
	keys[1] = "a"
	runs := 0
	s := &Scene{det: mapModel{stripes}, rec: blankModel{classes: len(keys), probe: func() { runs++ }}, keys: keys}
	img := image.NewRGBA(image.Rect(0, 0, 640, 640))
	if _, err := (&Reader{Scene: s, Command: fake}).Read(context.Background(), img); err != nil {
		t.Fatalf("Read with a failing Tesseract: %v; want the recognizer's reading", err)
	}
	if runs == 0 {
		t.Error("the recognizer never ran")
	}
}
