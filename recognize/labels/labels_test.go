package labels

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool/pixpooltest"
)

// openDetector opens the detector or skips the test when recognition is not
// installed, except in CI (CI set), where `make test` runs the setup first.
func openDetector(tb testing.TB) *Detector {
	tb.Helper()
	dir := pixpooltest.RecognitionDir()
	if _, err := os.Stat(filepath.Join(dir, "recognition", "centernet.json")); err != nil {
		msg := fmt.Sprintf("recognition not installed in %s: run scripts/setup-recognition.sh %s (or set PIXPOOL_RECOGNITION_DIR)", dir, dir)
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	d, err := Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	return d
}

func TestOpen_NotInstalled(t *testing.T) {
	_, err := Open(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "setup-recognition.sh") {
		t.Fatalf("Open(empty dir) = %v, want an error naming the setup script", err)
	}
}

// TestOpen_Damaged: a damaged model or ONNX Runtime library is an error
// that says what is wrong; a missing library is not (the interpreter runs
// the model instead).
func TestOpen_Damaged(t *testing.T) {
	src := filepath.Join(pixpooltest.RecognitionDir(), "recognition")
	if _, err := os.Stat(filepath.Join(src, "centernet.json")); err != nil {
		t.Skipf("recognition not installed in %s", src)
	}
	// install makes DIR/recognition/ with the detector's files, linked,
	// except those given, written with the given contents.
	install := func(t *testing.T, replace map[string]string) string {
		dir := t.TempDir()
		rec := filepath.Join(dir, "recognition")
		if err := os.Mkdir(rec, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"centernet.json", "centernet.bin", "coco.names"} {
			var err error
			if data, ok := replace[f]; ok {
				err = os.WriteFile(filepath.Join(rec, f), []byte(data), 0o644)
			} else {
				err = os.Symlink(filepath.Join(src, f), filepath.Join(rec, f))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if data, ok := replace[libName]; ok {
			os.WriteFile(filepath.Join(rec, libName), []byte(data), 0o644)
		}
		return dir
	}
	for _, tt := range []struct {
		name    string
		replace map[string]string
		want    string
	}{
		{"TruncatedWeights", map[string]string{"centernet.bin": "short"}, "weights end early"},
		{"DamagedGraph", map[string]string{"centernet.json": "{"}, "parse"},
		{"DamagedLibrary", map[string]string{libName: "not a library"}, libName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(install(t, tt.replace))
			if err == nil {
				d.Close()
				t.Fatalf("Open succeeded, want an error mentioning %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrNotInstalled) {
				t.Errorf("Open = %v, want an error mentioning %q, not ErrNotInstalled", err, tt.want)
			}
		})
	}
	t.Run("NoLibrary", func(t *testing.T) {
		d, err := Open(install(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		if d.rt != nil {
			t.Fatal("ONNX Runtime loaded without its library")
		}
		if e := d.Engine(); !strings.Contains(e, "interpreter") {
			t.Errorf("Engine() = %q, want the interpreter named", e)
		}
		got, err := d.Detect(context.Background(), pixpooltest.RecognitionPhoto(t, "eagle.jpg"))
		if err != nil || len(got) == 0 || got[0].Name != "bird" {
			t.Errorf("interpreter: %v, %v; want a bird first", got, err)
		}
	})
}

// TestOpen_Linked: folders whose recognition/ links to the same models
// share ONNX Runtime, which a process loads from one path only.
func TestOpen_Linked(t *testing.T) {
	first := openDetector(t)
	if first.rt == nil {
		t.Skip("ONNX Runtime is not installed with the detector")
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(pixpooltest.RecognitionDir(), "recognition"), filepath.Join(dir, "recognition")); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.rt != first.rt {
		t.Error("a second ONNX Runtime")
	}
}

func TestMerge(t *testing.T) {
	box := image.Rect(1, 2, 3, 4)
	got := merge(
		[]Label{{Name: "apple", Confidence: 40}, {Name: "orange", Confidence: 50}},
		[]Label{{Name: "apple", Confidence: 45, Box: box}, {Name: "orange", Confidence: 35}, {Name: "bowl", Confidence: 31}},
	)
	want := []Label{{Name: "apple", Confidence: 45, Box: box}, {Name: "orange", Confidence: 50}, {Name: "bowl", Confidence: 31}}
	if !slices.Equal(got, want) {
		t.Errorf("merge = %v, want %v", got, want)
	}
}

// TestCanvas: the second pass keeps the image's aspect, centred, at
// canvasScale of the input's side.
func TestCanvas(t *testing.T) {
	d := &Detector{size: 512}
	var input float64 = 512
	side := int(canvasScale*input + 0.5)
	for _, b := range []image.Rectangle{image.Rect(0, 0, 512, 512), image.Rect(10, 10, 810, 410), image.Rect(0, 0, 300, 900)} {
		r := d.canvas(b)
		if max(r.Dx(), r.Dy()) != side || !r.In(image.Rect(0, 0, 512, 512)) {
			t.Errorf("canvas(%v) = %v: want the longer side %d, inside the input", b, r, side)
		}
		if got, want := float64(r.Dx())/float64(r.Dy()), float64(b.Dx())/float64(b.Dy()); got/want < 0.98 || got/want > 1.02 {
			t.Errorf("canvas(%v) = %v: aspect %.2f, want %.2f", b, r, got, want)
		}
		if c := r.Min.Add(r.Max).Div(2); c.X < 255 || c.X > 256 || c.Y < 255 || c.Y > 256 {
			t.Errorf("canvas(%v) = %v: centre %v, want (256, 256)", b, r, c)
		}
	}
}

func TestDetect_Photos(t *testing.T) {
	d := openDetector(t)
	if e := d.Engine(); !strings.HasPrefix(e, "ONNX Runtime 1.") {
		t.Errorf("Engine() = %q, want ONNX Runtime and its version", e)
	}
	for _, tt := range []struct {
		photo string
		want  [][]string // each entry: at least one of these names
	}{
		{"dog.jpg", [][]string{{"dog"}, {"bicycle"}, {"car", "truck"}}},
		{"horses.jpg", [][]string{{"horse"}}},
		{"person.jpg", [][]string{{"person"}, {"dog"}, {"horse"}}},
		{"giraffe.jpg", [][]string{{"giraffe"}}},
		{"eagle.jpg", [][]string{{"bird"}}},
		{"kite.jpg", [][]string{{"kite"}, {"person"}}},
		// OpenCV's samples: close-ups of one fruit (found by the second
		// pass), and scenes.
		{"apple.jpg", [][]string{{"apple"}}},
		{"orange.jpg", [][]string{{"orange"}}},
		{"fruits.jpg", [][]string{{"apple"}, {"orange"}}},
		{"messi5.jpg", [][]string{{"person"}, {"sports ball"}}},
		{"scenetext01.jpg", [][]string{{"person"}, {"car"}}},
	} {
		t.Run(tt.photo, func(t *testing.T) {
			img := pixpooltest.RecognitionPhoto(t, tt.photo)
			start := time.Now()
			got, err := d.Detect(context.Background(), img)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s in %v: %v", tt.photo, time.Since(start).Round(time.Millisecond), got)
			if len(got) > 10 {
				t.Errorf("%d labels, want at most 10", len(got))
			}
			var names []string
			for _, l := range got {
				names = append(names, l.Name)
				if l.Confidence < 30 || l.Confidence > 100 {
					t.Errorf("%s: confidence %.1f outside [30, 100]", l.Name, l.Confidence)
				}
				if l.Box.Empty() || !l.Box.In(img.Bounds()) {
					t.Errorf("%s: box %v empty or outside %v", l.Name, l.Box, img.Bounds())
				}
			}
			for _, any := range tt.want {
				if !slices.ContainsFunc(any, func(n string) bool { return slices.Contains(names, n) }) {
					t.Errorf("labels %v, want one of %v", names, any)
				}
			}
		})
	}
}

func TestDetect_BadInput(t *testing.T) {
	d := openDetector(t)
	ctx := context.Background()

	t.Run("1x1", func(t *testing.T) {
		img := image.NewRGBA(image.Rect(0, 0, 1, 1))
		img.Set(0, 0, color.RGBA{200, 30, 30, 255})
		got, err := d.Detect(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("1x1: %v", got)
		for _, l := range got {
			if !l.Box.In(img.Bounds()) {
				t.Errorf("%s: box %v outside the image", l.Name, l.Box)
			}
		}
	})
	for _, c := range []color.Gray{{0}, {128}, {255}} {
		t.Run(fmt.Sprintf("Blank%d", c.Y), func(t *testing.T) {
			img := image.NewGray(image.Rect(0, 0, 640, 480))
			draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
			got, err := d.Detect(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("blank %d: %v", c.Y, got)
			for _, l := range got {
				if l.Confidence > 50 {
					t.Errorf("blank image: %s at %.1f, want nothing above 50", l.Name, l.Confidence)
				}
			}
		})
	}
	t.Run("Empty", func(t *testing.T) {
		if _, err := d.Detect(ctx, image.NewRGBA(image.Rectangle{})); err == nil {
			t.Fatal("Detect(empty image) succeeded, want an error")
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := d.Detect(ctx, image.NewRGBA(image.Rect(0, 0, 8, 8))); err != context.Canceled {
			t.Fatalf("Detect(canceled) = %v, want context.Canceled", err)
		}
	})
}

// TestDetect_Concurrent: one detector serves concurrent calls, with the
// same labels.
func TestDetect_Concurrent(t *testing.T) {
	d := openDetector(t)
	img := pixpooltest.RecognitionPhoto(t, "messi5.jpg")
	want, err := d.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			got, err := d.Detect(context.Background(), img)
			if err == nil && !slices.Equal(names(got), names(want)) {
				err = fmt.Errorf("labels %v, want %v", got, want)
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestDetect_MinConfidence(t *testing.T) {
	d := openDetector(t)
	d.MinConfidence = 90
	got, err := d.Detect(context.Background(), pixpooltest.RecognitionPhoto(t, "dog.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range got {
		if l.Confidence < 90 {
			t.Errorf("%s at %.1f, want none below MinConfidence 90", l.Name, l.Confidence)
		}
	}
}

// BenchmarkDetect reports per-image latency (ms/image) and memory: the Go
// heap with the model loaded (model-heap-MB) and at its peak while
// detecting (peak-heap-MB), and the process's resident size (VmRSS, VmHWM:
// these count ONNX Runtime's memory too) before Open (base-rss-MB), after
// it (model-rss-MB) and at its peak while detecting (peak-rss-MB). It runs
// at Threads=1, as the server does on its niced thread, on dog.jpg (a
// scene: one pass) and apple.jpg (a close-up: two passes), with ONNX
// Runtime and with the interpreter (runtime=go, the fallback without the
// library); and on every core (Threads=0) for comparison.
//
// It computes on one locked OS thread, as serve's workers do: ONNX Runtime
// allocates with malloc, and glibc gives each thread an arena of its own
// that keeps what it freed, so a goroutine moving between threads would
// show a resident size that grows for a few hundred images (to about 280
// MB here) where serve's stays flat. For memory figures of one runtime
// alone, run its benchmarks in a process of their own (-bench
// Detect/runtime=onnx/photo=dog/Threads=1): memory freed by one is not
// always returned to the system before the next.
func BenchmarkDetect(b *testing.B) {
	ctx := context.Background()
	baseRSS, _ := pixpooltest.RSS()
	d := openDetector(b)
	runtime.GC()
	modelRSS, _ := pixpooltest.RSS()
	for _, bc := range []struct {
		runtime string
		photo   string
		threads int
	}{
		{"onnx", "dog.jpg", 1},
		{"onnx", "apple.jpg", 1},
		{"onnx", "dog.jpg", 0},
		{"go", "dog.jpg", 1},
		{"go", "apple.jpg", 1},
	} {
		name := fmt.Sprintf("runtime=%s/photo=%s/Threads=%d", bc.runtime, strings.TrimSuffix(bc.photo, ".jpg"), bc.threads)
		b.Run(name, func(b *testing.B) {
			d := d
			if bc.runtime == "go" {
				d = interpreter(d)
			} else if d.rt == nil {
				b.Skip("ONNX Runtime is not installed with the detector")
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			d.Threads = bc.threads
			img := pixpooltest.RecognitionPhoto(b, bc.photo)
			if _, err := d.Detect(ctx, img); err != nil { // sessions made, caches warm
				b.Fatal(err)
			}
			runtime.GC()
			model := pixpooltest.HeapBytes()
			pixpooltest.ResetPeakRSS()
			peak := pixpooltest.SampleHeapPeak()
			start := time.Now()
			for b.Loop() {
				if _, err := d.Detect(ctx, img); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/image")
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(model)/(1<<20), "model-heap-MB")
			_, peakRSS := pixpooltest.RSS()
			b.ReportMetric(float64(baseRSS)/(1<<20), "base-rss-MB")
			b.ReportMetric(float64(modelRSS)/(1<<20), "model-rss-MB")
			b.ReportMetric(float64(peakRSS)/(1<<20), "peak-rss-MB")
		})
	}
}

// TestDetect_Yield: Yield is called before each run of the model (and,
// in the interpreter, between layers), and its error stops Detect (as a
// canceled context would).
func TestDetect_Yield(t *testing.T) {
	d := openDetector(t)
	img := pixpooltest.RecognitionPhoto(t, "apple.jpg") // two passes
	for _, tt := range []struct {
		runtime string
		d       *Detector
		stopAt  int
	}{
		{"onnx", d, 2}, // the second pass
		{"go", interpreter(d), 50},
	} {
		t.Run(tt.runtime, func(t *testing.T) {
			if tt.d.g == nil || tt.runtime == "onnx" && tt.d.rt == nil {
				t.Skip("ONNX Runtime is not installed with the detector")
			}
			var calls int
			stop := errors.New("stop")
			tt.d.Yield = func(ctx context.Context) error {
				if calls++; calls == tt.stopAt {
					return stop
				}
				return nil
			}
			if _, err := tt.d.Detect(context.Background(), img); !errors.Is(err, stop) || calls != tt.stopAt {
				t.Fatalf("Detect = %v after %d calls; want Yield's error at call %d", err, calls, tt.stopAt)
			}
		})
	}
}
