package onnx

import (
	"image"
	"image/draw"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// recognitionDir is DIR/recognition/ of scripts/setup-recognition.sh DIR,
// named by PIXPOOL_RECOGNITION_DIR (make test sets it); the tests skip
// without it.
func recognitionDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PIXPOOL_RECOGNITION_DIR")
	if dir == "" {
		t.Skip("PIXPOOL_RECOGNITION_DIR is not set (scripts/setup-recognition.sh DIR, then PIXPOOL_RECOGNITION_DIR=DIR)")
	}
	return filepath.Join(dir, "recognition")
}

func load(t testing.TB) (*Runtime, string) {
	t.Helper()
	dir := recognitionDir(t)
	rt, err := Load(filepath.Join(dir, "libonnxruntime.so.1"))
	if err != nil {
		t.Fatal(err)
	}
	return rt, dir
}

func TestLoad(t *testing.T) {
	rt, dir := load(t)
	if !strings.HasPrefix(rt.Version(), "1.") {
		t.Errorf("version %q", rt.Version())
	}
	again, err := Load(filepath.Join(dir, "libonnxruntime.so.1"))
	if err != nil || again != rt {
		t.Errorf("second Load: %p, %v; want the same runtime %p", again, err, rt)
	}
	// The same library through a link, or a copy of it, is the same
	// runtime; another library is refused.
	lib := filepath.Join(dir, "libonnxruntime.so.1")
	tmp := t.TempDir()
	link, copied, other := filepath.Join(tmp, "link.so"), filepath.Join(tmp, "copy.so"), filepath.Join(tmp, "other.so")
	if err := os.Symlink(lib, link); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(copied, b, 0o644)
	os.WriteFile(other, b[:len(b)/2], 0o644)
	for _, p := range []string{link, copied} {
		if again, err := Load(p); err != nil || again != rt {
			t.Errorf("Load(%s): %p, %v; want the same runtime %p", filepath.Base(p), again, err, rt)
		}
	}
	if _, err := Load(other); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("Load of another library: %v, want already loaded", err)
	}
}

func TestLoadErrors(t *testing.T) {
	// Load caches the first success; these paths never succeed, so they
	// can run before or after TestLoad.
	dir := t.TempDir()
	if loaded == nil {
		if _, err := Load(filepath.Join(dir, "missing.so")); err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("missing library: %v", err)
		}
		bad := filepath.Join(dir, "bad.so")
		os.WriteFile(bad, []byte("not a library"), 0o644)
		if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "loading") {
			t.Errorf("damaged library: %v", err)
		}
	}
}

// TestRun runs PP-OCRv4's text detector on a white image with a word in
// black: a probability map of the input's size, in [0, 1], high on the
// word and low on the margin, whichever of two concurrent runs.
func TestRun(t *testing.T) {
	rt, dir := load(t)
	s, err := rt.NewSessionFile(filepath.Join(dir, "ocr-det.onnx"), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.InputNames(); len(got) != 1 || got[0] == "" {
		t.Fatalf("inputs %q", got)
	}
	if got := s.OutputNames(); len(got) != 1 || got[0] == "" {
		t.Fatalf("outputs %q", got)
	}
	const h, w, scale = 96, 256, 3
	word := image.NewGray(image.Rect(0, 0, w/scale, h/scale))
	draw.Draw(word, word.Bounds(), image.White, image.Point{}, draw.Src)
	d := font.Drawer{Dst: word, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(8, 20)}
	d.DrawString("PIXPOOL")
	in := Tensor{Shape: []int64{1, 3, h, w}, Data: make([]float32, 3*h*w)}
	for c := range 3 {
		for y := range h {
			for x := range w {
				in.Data[(c*h+y)*w+x] = float32(word.GrayAt(x/scale, y/scale).Y) / 255
			}
		}
	}
	var wg sync.WaitGroup
	for range 2 { // concurrent runs of one session
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s.Run([]Tensor{in})
			if err != nil {
				t.Error(err)
				return
			}
			m := out[0]
			if len(m.Shape) != 4 || m.Shape[2] != h || m.Shape[3] != w || len(m.Data) != h*w {
				t.Errorf("output shape %v, %d elements", m.Shape, len(m.Data))
				return
			}
			for _, v := range m.Data {
				if v < 0 || v > 1 || math.IsNaN(float64(v)) {
					t.Errorf("probability %v", v)
					return
				}
			}
			// The word's letters span x 24-72 and y 30-60 of the input.
			var onWord, margin float32
			for y := range h {
				for x := range w {
					switch v := m.Data[y*w+x]; {
					case x >= 30 && x < 130 && y >= 36 && y < 54:
						onWord = max(onWord, v)
					case y < 12 || y >= h-12 || x >= w-40:
						margin = max(margin, v)
					}
				}
			}
			if onWord < 0.5 || margin > 0.1 {
				t.Errorf("text probability %.3f on the word, %.3f on the margin", onWord, margin)
			}
		}()
	}
	wg.Wait()
}

func TestRunErrors(t *testing.T) {
	rt, dir := load(t)
	if _, err := rt.NewSession([]byte("not a model"), Options{}); err == nil {
		t.Error("damaged model: no error")
	}
	if _, err := rt.NewSession(nil, Options{}); err == nil {
		t.Error("empty model: no error")
	}
	if _, err := rt.NewSessionFile(filepath.Join(dir, "missing.onnx"), Options{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing model: %v", err)
	}
	s, err := rt.NewSessionFile(filepath.Join(dir, "ocr-det.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]Tensor{
		nil,
		{{Shape: []int64{1, 3, 32, 32}, Data: make([]float32, 5)}},
		{{Shape: []int64{1, 3, 0, 32}, Data: nil}},
		{{Shape: []int64{1, 2, 32, 32}, Data: make([]float32, 2*32*32)}}, // wrong channel count: ONNX Runtime's error
	} {
		if _, err := s.Run(in); err == nil {
			t.Errorf("Run(%v): no error", in)
		}
	}
	s.Close()
	s.Close()
	if _, err := s.Run([]Tensor{{Shape: []int64{1}, Data: []float32{0}}}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Run after Close: %v", err)
	}
}
