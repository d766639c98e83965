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
	return d
}

func TestOpen_NotInstalled(t *testing.T) {
	_, err := Open(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "setup-recognition.sh") {
		t.Fatalf("Open(empty dir) = %v, want an error naming the setup script", err)
	}
}

func TestDetect_Photos(t *testing.T) {
	d := openDetector(t)
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

// BenchmarkDetect reports per-image latency (ns/op) on dog.jpg and the peak
// Go heap seen while detecting (peak-heap-MB, model included), with the
// model loaded (model-heap-MB), for Threads=0 (every core) and Threads=1
// (the caller's goroutine only, as the server runs it on its niced thread).
func BenchmarkDetect(b *testing.B) {
	ctx := context.Background()
	for _, threads := range []int{0, 1} {
		b.Run(fmt.Sprintf("Threads=%d", threads), func(b *testing.B) {
			d := openDetector(b)
			d.Threads = threads
			img := pixpooltest.RecognitionPhoto(b, "dog.jpg")
			runtime.GC()
			model := pixpooltest.HeapBytes()
			peak := pixpooltest.SampleHeapPeak()
			for b.Loop() {
				if _, err := d.Detect(ctx, img); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(model)/(1<<20), "model-heap-MB")
		})
	}
}

// TestDetect_Yield: Yield is called between layers, and its error stops
// Detect (as a canceled context would).
func TestDetect_Yield(t *testing.T) {
	d := openDetector(t)
	img := pixpooltest.RecognitionPhoto(t, "dog.jpg")
	var calls int
	stop := errors.New("stop")
	d.Yield = func(ctx context.Context) error {
		if calls++; calls == 50 {
			return stop
		}
		return nil
	}
	if _, err := d.Detect(context.Background(), img); !errors.Is(err, stop) || calls != 50 {
		t.Fatalf("Detect = %v after %d calls; want Yield's error at the 50th", err, calls)
	}
}
