package service

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
)

// libraryUpload is one upload of the simulated library.
type libraryUpload struct {
	kind, key string
	data      []byte
}

// photoLibrary is a reproducible photo library with the re-uploads users
// make: OpenCV's sample photos (when scripts/setup-recognition.sh --tests
// has fetched them) and generated photos, each uploaded once; a backup
// app re-syncing 40% of them under other keys; 10% put in an album too;
// 10% edited (re-encoded: near-duplicates, which deduplication does not
// catch); a burst of 10 identical screenshots and 5 that differ only in
// their clock (not caught either).
func photoLibrary(tb testing.TB) []libraryUpload {
	tb.Helper()
	var photos [][]byte
	// pixpooltest.RecognitionDir, which this package cannot import.
	dir := filepath.Join(cmp.Or(os.Getenv("PIXPOOL_RECOGNITION_DIR"), filepath.Join("..", "pixpool-data")), "recognition", "testdata")
	names, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	slices.Sort(names)
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		photos = append(photos, b)
	}
	rng := rand.New(rand.NewPCG(17, 6))
	for len(photos) < 60 {
		photos = append(photos, photoJPEG(tb, rng, 1024, 768, 88))
	}
	var ups []libraryUpload
	for i, p := range photos {
		ups = append(ups, libraryUpload{"camera", fmt.Sprintf("camera/IMG_%04d.jpg", i), p})
	}
	for i, p := range photos {
		if rng.IntN(10) < 4 {
			ups = append(ups, libraryUpload{"backup re-sync", fmt.Sprintf("backup/2024/IMG_%04d.jpg", i), p})
		}
	}
	for i, p := range photos {
		if rng.IntN(10) == 0 {
			ups = append(ups, libraryUpload{"album copy", fmt.Sprintf("albums/best/IMG_%04d.jpg", i), p})
		}
	}
	for i, p := range photos {
		if rng.IntN(10) == 0 {
			img, err := jpeg.Decode(bytes.NewReader(p))
			if err != nil {
				tb.Fatal(err)
			}
			var buf bytes.Buffer
			jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
			ups = append(ups, libraryUpload{"edited (near-duplicate)", fmt.Sprintf("edits/IMG_%04d.jpg", i), buf.Bytes()})
		}
	}
	shot := screenshotPNG(tb, 0)
	for i := range 10 {
		ups = append(ups, libraryUpload{"identical screenshot", fmt.Sprintf("screenshots/burst_%02d.png", i), shot})
	}
	for i := range 5 {
		ups = append(ups, libraryUpload{"screenshot, other clock", fmt.Sprintf("screenshots/clock_%02d.png", i), screenshotPNG(tb, i+1)})
	}
	return ups
}

// photoJPEG is a photo-like JPEG: smooth light and colour with grain.
func photoJPEG(tb testing.TB, rng *rand.Rand, w, h, quality int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r0, g0, b0 := rng.Float64()*255, rng.Float64()*255, rng.Float64()*255
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			n := rng.Float64()*24 - 12
			img.Set(x, y, color.RGBA{clamp(r0*(1-fx) + 200*fx*fy + n), clamp(g0*(1-fy) + 120*fx + n), clamp(b0*fx + 90*(1-fy) + n), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func clamp(v float64) uint8 { return uint8(min(max(v, 0), 255)) }

// screenshotPNG is a flat UI-like screenshot; clock changes a few pixels
// in its corner, as the clock of a phone's status bar does.
func screenshotPNG(tb testing.TB, clock int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 1080, 720))
	for y := range 720 {
		for x := range 1080 {
			c := color.RGBA{245, 246, 250, 255}
			switch {
			case y < 48:
				c = color.RGBA{40, 44, 60, 255}
			case (y/60)%2 == 0 && x > 40 && x < 1040 && y%60 > 10:
				c = color.RGBA{225, 228, 240, 255}
			}
			img.Set(x, y, c)
		}
	}
	for y := 12; y < 36; y++ {
		for x := 1000 + clock*3; x < 1006+clock*3; x++ {
			img.Set(x, y, color.White)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkDedupLibrary uploads photoLibrary and reports the bytes its
// files take with deduplication (stored-MB: the blob store's image files
// and thumbnails) against what they would take without (naive-MB: every
// upload's bytes and thumbnail), and the share saved. Run it with
// -benchtime 1x; PIXPOOL_RECOGNITION_DIR points at the sample photos.
func BenchmarkDedupLibrary(b *testing.B) {
	ups := photoLibrary(b)
	for b.Loop() {
		b.StopTimer()
		f := open(b, b.TempDir())
		b.StartTimer()
		ctx := context.Background()
		for _, u := range ups {
			if _, err := f.images.Put(ctx, f.owner, u.key, u.data); err != nil {
				b.Fatalf("%s: %v", u.key, err)
			}
		}
		f.images.Wait()
		b.StopTimer()
		naive := map[string]int64{}
		var naiveAll int64
		for _, u := range ups {
			img, thumb, err := f.images.Thumbnail(ctx, f.owner, u.key)
			if err != nil {
				b.Fatal(err)
			}
			n := img.Size + int64(len(thumb))
			naive[u.kind] += n
			naiveAll += n
		}
		var stored int64
		files := 0
		f.blobs.List(ctx, "", func(bi pixpool.BlobInfo) error {
			if strings.HasPrefix(bi.Key, "img/") || strings.HasPrefix(bi.Key, "thumb/") {
				stored += bi.Size
				files++
			}
			return nil
		})
		kinds := slices.Sorted(func(yield func(string) bool) {
			for k := range naive {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range kinds {
			n := 0
			for _, u := range ups {
				if u.kind == k {
					n++
				}
			}
			b.Logf("%-26s %4d uploads %8.2f MB", k, n, float64(naive[k])/1e6)
		}
		b.Logf("%d uploads: %.2f MB without deduplication, %.2f MB stored (%d files), %.1f%% saved",
			len(ups), float64(naiveAll)/1e6, float64(stored)/1e6, files, 100*(1-float64(stored)/float64(naiveAll)))
		b.ReportMetric(float64(naiveAll)/1e6, "naive-MB")
		b.ReportMetric(float64(stored)/1e6, "stored-MB")
		b.ReportMetric(100*(1-float64(stored)/float64(naiveAll)), "saved-%")
		b.StartTimer()
	}
}
