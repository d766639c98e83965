package text

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool/pixpooltest"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/f64"
	"golang.org/x/image/math/fixed"
)

// requireTesseract skips the test when Tesseract is missing, except in CI,
// where scripts/test-deps.sh installs it and its absence is a failure.
func requireTesseract(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
}

var fonts = []struct {
	name string
	ttf  []byte
}{
	{"regular", goregular.TTF},
	{"bold", gobold.TTF},
	{"mono", gomono.TTF},
}

var sentences = []string{
	"The quick brown fox jumps over the lazy dog 12345",
	"Pack my box with five dozen liquor jugs.",
	"Sphinx of black quartz, judge my vow 67890",
	"How vexingly quick daft zebras jump!",
	"Bright vixens jump; dozy fowl quack.",
	"Waltz, bad nymph, for quick jigs vex.",
}

// render draws lines of text in the given font and pixel size, dark on
// light or light on dark, rotated by deg degrees (positive turns the text
// clockwise on screen).
func render(tb testing.TB, ttf []byte, size float64, lines []string, dark bool, deg float64) image.Image {
	tb.Helper()
	f, err := opentype.Parse(ttf)
	if err != nil {
		tb.Fatal(err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		tb.Fatal(err)
	}
	defer face.Close()
	fg, bg := color.Gray{Y: 20}, color.Gray{Y: 240}
	if dark {
		fg, bg = color.Gray{Y: 235}, color.Gray{Y: 30}
	}
	margin := int(size)
	lineH := int(size * 1.6)
	width := 0
	for _, l := range lines {
		width = max(width, font.MeasureString(face, l).Ceil())
	}
	img := image.NewGray(image.Rect(0, 0, width+2*margin, len(lines)*lineH+2*margin))
	draw.Draw(img, img.Rect, image.NewUniform(bg), image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.NewUniform(fg), Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(margin, margin+i*lineH+int(size))
		d.DrawString(l)
	}
	if deg == 0 {
		return img
	}
	a := deg * math.Pi / 180
	sin, cos := math.Sincos(a)
	w, h := float64(img.Rect.Dx()), float64(img.Rect.Dy())
	dw := int(math.Ceil(math.Abs(w*cos) + math.Abs(h*sin)))
	dh := int(math.Ceil(math.Abs(w*sin) + math.Abs(h*cos)))
	out := image.NewGray(image.Rect(0, 0, dw, dh))
	draw.Draw(out, out.Rect, image.NewUniform(bg), image.Point{}, draw.Src)
	// Source to destination: move the centre to the origin, rotate, move
	// it to the centre of the larger canvas.
	cx, cy := w/2, h/2
	ox, oy := float64(dw)/2, float64(dh)/2
	m := f64.Aff3{
		cos, -sin, ox - cos*cx + sin*cy,
		sin, cos, oy - sin*cx - cos*cy,
	}
	draw.BiLinear.Transform(out, m, img, img.Rect, draw.Src, nil)
	return out
}

// levenshtein is the edit distance between a and b in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func joinLines(lines []Line) string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = l.Text
	}
	return strings.Join(s, "\n")
}

type accuracyCase struct {
	name  string
	img   image.Image
	want  string
	angle float64
}

func accuracyCases(tb testing.TB) []accuracyCase {
	var cases []accuracyCase
	i := 0
	for _, f := range fonts {
		for _, size := range []float64{18, 30, 48} {
			for _, dark := range []bool{false, true} {
				for _, deg := range []float64{-5, 0, 4} {
					lines := []string{sentences[i%len(sentences)], sentences[(i+1)%len(sentences)]}
					i++
					bg := "light"
					if dark {
						bg = "dark"
					}
					cases = append(cases, accuracyCase{
						name:  fmt.Sprintf("%s/%gpx/%s/%+gdeg", f.name, size, bg, deg),
						img:   render(tb, f.ttf, size, lines, dark, deg),
						want:  strings.Join(lines, "\n"),
						angle: deg,
					})
				}
			}
		}
	}
	return cases
}

// measure reads every case with r and returns the overall character
// accuracy, logging each case's.
func measure(t *testing.T, r *Reader, cases []accuracyCase) float64 {
	var mu sync.Mutex // guards dist, total
	dist, total := 0, 0
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				lines, err := r.Read(context.Background(), c.img)
				if err != nil {
					t.Fatal(err)
				}
				got := joinLines(lines)
				d := levenshtein(got, c.want)
				n := len([]rune(c.want))
				t.Logf("%s: accuracy %.1f%% (%d edits / %d chars) got %q", c.name, 100*(1-float64(d)/float64(n)), d, n, got)
				mu.Lock()
				dist += d
				total += n
				mu.Unlock()
			})
		}
	})
	return 1 - float64(dist)/float64(total)
}

func TestReader_Read_Accuracy(t *testing.T) {
	requireTesseract(t)
	cases := accuracyCases(t)
	acc := measure(t, &Reader{}, cases)
	t.Logf("overall character accuracy %.2f%% over %d images", 100*acc, len(cases))
	if acc < 0.95 {
		t.Errorf("overall character accuracy %.2f%%, want >= 95%%", 100*acc)
	}
}

// TestReader_Read_DeskewMeasure compares accuracy with and without deskew,
// and with sparse text mode alone, on the same images. It is a measurement, not a check: run it with
// TEXT_MEASURE=1.
func TestReader_Read_DeskewMeasure(t *testing.T) {
	if os.Getenv("TEXT_MEASURE") == "" {
		t.Skip("set TEXT_MEASURE=1 to compare accuracy with and without deskew")
	}
	requireTesseract(t)
	cases := accuracyCases(t)
	with := measure(t, &Reader{}, cases)
	without := measure(t, &Reader{noDeskew: true}, cases)
	sparse := measure(t, &Reader{psms: []int{psmSparse}}, cases)
	t.Logf("character accuracy with deskew %.2f%%, without %.2f%%; sparse text mode (psm 11) only: %.2f%%", 100*with, 100*without, 100*sparse)
}

func TestReader_Read_Lines(t *testing.T) {
	requireTesseract(t)
	testReadLines(t, &Reader{})
	img := render(t, goregular.TTF, 32, []string{"First line of text here"}, false, 0)
	t.Run("MinConfidence", func(t *testing.T) {
		got, err := (&Reader{MinConfidence: 100.5}).Read(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("Read()=%+v, want no lines above confidence 100.5", got)
		}
	})
}

func TestReader_Read_BadInput(t *testing.T) {
	requireTesseract(t)
	blank := func(w, h int, y uint8) image.Image {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = y
		}
		return img
	}
	for _, tc := range []struct {
		name string
		img  image.Image
	}{
		{"1x1", blank(1, 1, 0)},
		{"3x200", blank(3, 200, 255)},
		{"BlankWhite", blank(800, 300, 255)},
		{"BlankBlack", blank(800, 300, 0)},
		{"Transparent", image.NewNRGBA(image.Rect(0, 0, 640, 480))},
		{"Noise", noise(400, 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := (&Reader{MinConfidence: 30}).Read(context.Background(), tc.img)
			if err != nil {
				t.Fatalf("Read()=%v, want no error", err)
			}
			if tc.name != "Noise" && len(got) != 0 {
				t.Errorf("Read()=%+v, want no lines", got)
			}
		})
	}
	t.Run("Nil", func(t *testing.T) {
		if _, err := (&Reader{}).Read(context.Background(), nil); err == nil {
			t.Error("Read(nil) gave no error")
		}
	})
}

// testReadLines checks that r reads two rendered lines of a sub-image with
// a non-zero origin, each with its box in the sub-image's coordinates.
func testReadLines(t *testing.T, r *Reader) {
	t.Helper()
	lines := []string{"First line of text here", "Second line follows below"}
	img := render(t, goregular.TTF, 32, lines, false, 0)
	big := image.NewGray(image.Rect(0, 0, img.Bounds().Dx()+100, img.Bounds().Dy()+100))
	draw.Draw(big, big.Rect, image.NewUniform(color.Gray{Y: 240}), image.Point{}, draw.Src)
	r0 := img.Bounds().Add(image.Pt(100, 100))
	draw.Draw(big, r0, img, image.Point{}, draw.Src)
	sub := big.SubImage(r0.Intersect(big.Rect))

	got, err := r.Read(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Read()=%+v, want 2 lines", got)
	}
	for i, l := range got {
		if l.Text != lines[i] {
			t.Errorf("line %d: Text=%q, want %q", i, l.Text, lines[i])
		}
		if l.Confidence < 50 || l.Confidence > 100 {
			t.Errorf("line %d: Confidence=%.1f, want 50-100", i, l.Confidence)
		}
		if !l.Box.In(sub.Bounds()) || l.Box.Empty() {
			t.Errorf("line %d: Box=%v, want a box inside %v", i, l.Box, sub.Bounds())
		}
		// Text starts one font size (32 px) in from the left edge.
		if d := l.Box.Min.X - (sub.Bounds().Min.X + 32); d < -8 || d > 8 {
			t.Errorf("line %d: Box=%v, want Min.X near %d", i, l.Box, sub.Bounds().Min.X+32)
		}
	}
	if got[0].Box.Max.Y > got[1].Box.Min.Y {
		t.Errorf("boxes %v and %v: first line not above the second", got[0].Box, got[1].Box)
	}
}

// noise is a deterministic speckle image.
func noise(w, h int) image.Image {
	img := image.NewGray(image.Rect(0, 0, w, h))
	x := uint32(1)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = uint8(x)
	}
	return img
}

func TestReader_Read_Timeout(t *testing.T) {
	requireTesseract(t)
	img := render(t, goregular.TTF, 30, sentences[:3], false, 0)
	start := time.Now()
	_, err := (&Reader{Timeout: time.Millisecond}).Read(context.Background(), img)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Read()=%v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "timed out after 1ms") {
		t.Errorf("error %q does not say how long it waited", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Read took %v with a 1ms timeout", d)
	}

	t.Run("Canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := (&Reader{}).Read(ctx, img)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read()=%v, want context.Canceled", err)
		}
	})
}

func TestReader_Read_NotInstalled(t *testing.T) {
	img := render(t, goregular.TTF, 30, sentences[:1], false, 0)
	_, err := (&Reader{Command: "/nonexistent/tesseract"}).Read(context.Background(), img)
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Read()=%v, want ErrNotInstalled", err)
	}
	err = available(context.Background(), "/nonexistent/tesseract")
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install tesseract-ocr tesseract-ocr-eng") {
		t.Fatalf("available()=%v, want ErrNotInstalled with install instructions", err)
	}
}

func TestEstimateSkew(t *testing.T) {
	for _, deg := range []float64{-8, -5, -2, 0, 2, 4, 7} {
		t.Run(fmt.Sprintf("%+gdeg", deg), func(t *testing.T) {
			img := render(t, goregular.TTF, 30, sentences[:3], false, deg)
			got := estimateSkew(toGray(img))
			if math.Abs(got-deg) > 0.5 {
				t.Errorf("estimateSkew()=%.1f, want %.1f±0.5", got, deg)
			}
		})
	}
}

func TestParseTSV(t *testing.T) {
	const tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n" +
		"1\t1\t0\t0\t0\t0\t0\t0\t500\t200\t-1\t\n" +
		"4\t1\t1\t1\t1\t0\t10\t10\t200\t20\t-1\t\n" +
		"5\t1\t1\t1\t1\t1\t10\t10\t80\t20\t90\tHello\n" +
		"5\t1\t1\t1\t1\t2\t100\t12\t110\t20\t80.5\tworld\n" +
		"5\t1\t2\t1\t1\t1\t10\t100\t50\t20\t70\tlater\n" +
		"5\t1\t1\t1\t2\t1\t10\t40\t50\t20\t60\tsecond\n" +
		"5\t1\t1\t1\t3\t1\t10\t70\t50\t20\t95\t \n"
	got, err := parseTSV([]byte(tsv))
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{Text: "Hello world", Confidence: 85.25, Box: image.Rect(10, 10, 210, 32)},
		{Text: "second", Confidence: 60, Box: image.Rect(10, 40, 60, 60)},
		{Text: "later", Confidence: 70, Box: image.Rect(10, 100, 60, 120)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseTSV()=%+v, want %+v", got, want)
	}

	if _, err := parseTSV([]byte("5\t1\t1\t1\t1\t1\tx\t0\t1\t1\t90\tword\n")); err == nil {
		t.Error("parseTSV accepted a bad number")
	}
}

// BenchmarkRead reports per-image latency (ns/op), the tesseract runs per
// image (a page where the automatic layout finds nothing is read again as
// sparse text), the peak Go heap while reading (peak-heap-MB: the image
// prepared and encoded for Tesseract) and the largest peak resident size
// of a tesseract process (tesseract-peak-rss-MB, sampled; Linux only).
// Text is a rendered page of four lines; Photo is darknet's dog.jpg, which
// has no text, from the folder scripts/setup-recognition.sh filled
// (PIXPOOL_RECOGNITION_DIR).
func BenchmarkRead(b *testing.B) {
	requireTesseract(b)
	src := render(b, goregular.TTF, 30, sentences[:4], false, 0)
	page := image.NewGray(image.Rect(0, 0, 1000, 300))
	draw.Draw(page, page.Rect, image.NewUniform(color.Gray{Y: 240}), image.Point{}, draw.Src)
	draw.Draw(page, page.Rect, src, image.Point{}, draw.Src)
	b.Run("Text", func(b *testing.B) { benchmarkRead(b, page) })
	b.Run("Photo", func(b *testing.B) {
		if os.Getenv("PIXPOOL_RECOGNITION_DIR") == "" {
			b.Skip("PIXPOOL_RECOGNITION_DIR is not set; run scripts/setup-recognition.sh DIR and set it")
		}
		benchmarkRead(b, pixpooltest.RecognitionPhoto(b, "dog.jpg"))
	})
}

func benchmarkRead(b *testing.B, img image.Image) {
	var (
		runs int
		wg   sync.WaitGroup
		mu   sync.Mutex // guards rss
		rss  uint64
	)
	r := &Reader{started: func(p *os.Process) {
		runs++
		wg.Go(func() {
			n := peakRSS(p)
			mu.Lock()
			rss = max(rss, n)
			mu.Unlock()
		})
	}}
	runtime.GC()
	peak := pixpooltest.SampleHeapPeak()
	for b.Loop() {
		if _, err := r.Read(context.Background(), img); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(runs)/float64(b.N), "tesseract-runs/op")
	if rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "tesseract-peak-rss-MB")
	}
}
