package text

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/pixpool/pixpool/pixpooltest"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

var (
	sceneOnce sync.Once
	scene     *Scene
	sceneErr  error
)

// openScene returns the scene reader, opened once for all tests, or skips
// the test when the models are not installed, except in CI (CI set), where
// `make test` runs the setup first.
func openScene(tb testing.TB) *Scene {
	tb.Helper()
	dir := pixpooltest.RecognitionDir()
	if err := SceneInstalled(dir); err != nil {
		msg := fmt.Sprintf("%v: run scripts/setup-recognition.sh %s (or set PIXPOOL_RECOGNITION_DIR)", err, dir)
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	sceneOnce.Do(func() { scene, sceneErr = OpenScene(dir) })
	if sceneErr != nil {
		tb.Fatal(sceneErr)
	}
	return scene
}

// caption draws lines of text over img as on a poster or a meme: bold
// capitals in yellow with a black outline, centred, the first lines at the
// top and the last one at the bottom.
func caption(tb testing.TB, img image.Image, lines []string) image.Image {
	tb.Helper()
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, img, b.Min, draw.Src)
	f, err := opentype.Parse(gobold.TTF)
	if err != nil {
		tb.Fatal(err)
	}
	size := float64(b.Dy()) / 10
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		tb.Fatal(err)
	}
	defer face.Close()
	outline := max(2, int(size/14))
	for i, l := range lines {
		w := font.MeasureString(face, l).Ceil()
		x := (b.Dx() - w) / 2
		y := int(size*1.2) * (i + 1)
		if i == len(lines)-1 && len(lines) > 1 {
			y = b.Dy() - int(size*0.5)
		}
		d := &font.Drawer{Dst: out, Src: image.NewUniform(color.Black), Face: face}
		for dy := -outline; dy <= outline; dy++ {
			for dx := -outline; dx <= outline; dx++ {
				if dx*dx+dy*dy > outline*outline {
					continue
				}
				d.Dot = fixed.P(x+dx, y+dy)
				d.DrawString(l)
			}
		}
		d.Src = image.NewUniform(color.RGBA{R: 255, G: 230, B: 0, A: 255})
		d.Dot = fixed.P(x, y)
		d.DrawString(l)
	}
	return out
}

// bookText is the opening of Jane Austen's Pride and Prejudice (1813,
// public domain), for a page of a book.
const bookText = `It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters. "My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is let at last?" Mr. Bennet replied that he had not. "But it is," returned she; "for Mrs. Long has just been here, and she told me all about it." Mr. Bennet made no answer. "Do you not want to know who has taken it?" cried his wife impatiently. "You want to tell me, and I have no objection to hearing it." This was invitation enough. "Why, my dear, you must know, Mrs. Long says that Netherfield is taken by a young man of large fortune from the north of England; that he came down on Monday in a chaise and four to see the place, and was so much delighted with it, that he agreed with Mr. Morris immediately; that he is to take possession before Michaelmas, and some of his servants are to be in the house by the end of next week."`

// bookPage renders bookText as a page of a book: 18 px serif-less text,
// justified to 700 px, dark on off-white, on a page of 800 px by however
// many lines it takes.
func bookPage(tb testing.TB) (image.Image, string) {
	tb.Helper()
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		tb.Fatal(err)
	}
	const size, width, margin = 18, 700, 50
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		tb.Fatal(err)
	}
	defer face.Close()
	var lines []string
	cur := ""
	for _, w := range strings.Fields(bookText) {
		next := strings.TrimSpace(cur + " " + w)
		if font.MeasureString(face, next).Ceil() > width && cur != "" {
			lines = append(lines, cur)
			next = w
		}
		cur = next
	}
	lines = append(lines, cur)
	lineH := int(size * 1.5)
	img := image.NewGray(image.Rect(0, 0, width+2*margin, len(lines)*lineH+2*margin))
	draw.Draw(img, img.Rect, image.NewUniform(color.Gray{Y: 245}), image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.NewUniform(color.Gray{Y: 25}), Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(margin, margin+i*lineH+size)
		d.DrawString(l)
	}
	return img, bookText
}

// words splits s into upper-case words of letters and digits, as word
// recall compares them.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToUpper(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// wordRecall is the share of want's words found among the words of lines,
// each found word used once.
func wordRecall(lines []Line, want string) float64 {
	have := map[string]int{}
	for _, l := range lines {
		for _, w := range words(l.Text) {
			have[w]++
		}
	}
	ws := words(want)
	found := 0
	for _, w := range ws {
		if have[w] > 0 {
			have[w]--
			found++
		}
	}
	if len(ws) == 0 {
		return 1
	}
	return float64(found) / float64(len(ws))
}

func TestScene_Photos(t *testing.T) {
	s := openScene(t)
	r := &Reader{Scene: s}
	for _, tc := range []struct {
		name, photo string
		want        []string
	}{
		{"StreetSign", "scenetext01.jpg", []string{"NOTICE", "PARKING", "PROHIBITED"}},
		{"NoText", "dog.jpg", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Read(context.Background(), pixpooltest.RecognitionPhoto(t, tc.photo))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil && len(got) != 0 {
				t.Errorf("Read(%s)=%+v, want no lines", tc.photo, got)
			}
			if rec := wordRecall(got, strings.Join(tc.want, " ")); rec < 1 {
				t.Errorf("Read(%s)=%q, want the words %q", tc.photo, joinLines(got), tc.want)
			}
		})
	}
	t.Run("Caption", func(t *testing.T) {
		want := []string{"WHEN THE TESTS PASS", "ON THE FIRST TRY"}
		img := caption(t, pixpooltest.RecognitionPhoto(t, "building.jpg"), want)
		got, err := r.Read(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if rec := wordRecall(got, strings.Join(want, " ")); rec < 0.9 {
			t.Errorf("Read()=%q, word recall %.2f, want %q", joinLines(got), rec, want)
		}
	})
}

func TestScene_Lines(t *testing.T) {
	testReadLines(t, &Reader{Scene: openScene(t)})
}

func TestOpenScene_Errors(t *testing.T) {
	t.Run("NotInstalled", func(t *testing.T) {
		dir := t.TempDir()
		_, err := OpenScene(dir)
		if !errors.Is(err, ErrSceneNotInstalled) || !strings.Contains(err.Error(), filepath.Join(dir, "recognition", runtimeFile)) {
			t.Fatalf("OpenScene()=%v, want ErrSceneNotInstalled naming the missing file", err)
		}
		if err := SceneInstalled(dir); !errors.Is(err, ErrSceneNotInstalled) {
			t.Fatalf("SceneInstalled()=%v, want ErrSceneNotInstalled", err)
		}
	})
	t.Run("Damaged", func(t *testing.T) {
		openScene(t) // the runtime must be there to get as far as the models
		src := filepath.Join(pixpooltest.RecognitionDir(), "recognition")
		for _, damaged := range []string{detFile, recFile, keysFile} {
			t.Run(damaged, func(t *testing.T) {
				dir := t.TempDir()
				base := filepath.Join(dir, "recognition")
				if err := os.Mkdir(base, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{runtimeFile, detFile, recFile, keysFile} {
					if err := os.Symlink(filepath.Join(src, f), filepath.Join(base, f)); err != nil {
						t.Fatal(err)
					}
				}
				p := filepath.Join(base, damaged)
				os.Remove(p)
				if err := os.WriteFile(p, []byte("not a model\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				_, err := OpenScene(dir)
				if err == nil || !strings.Contains(err.Error(), damaged) {
					t.Fatalf("OpenScene()=%v, want an error naming %s", err, damaged)
				}
			})
		}
	})
}

// TestReader_WordRecallMeasure prints the word recall (or, for photos
// without text, the words read) and the time of each engine, and of the
// combination Read uses with a Scene, per image: Tesseract alone (a Reader
// without Scene), the scene text models alone (Tesseract missing), and both. It is a measurement, not a
// check: run it with TEXT_MEASURE=1.
func TestReader_WordRecallMeasure(t *testing.T) {
	if os.Getenv("TEXT_MEASURE") == "" {
		t.Skip("set TEXT_MEASURE=1 to measure word recall per engine")
	}
	s := openScene(t)
	requireTesseract(t)
	type item struct {
		kind, name string
		img        image.Image
		want       string
	}
	var items []item
	for _, c := range accuracyCases(t) {
		kind := "rendered"
		if strings.Contains(c.name, "dark") {
			kind = "dark"
		}
		if c.angle != 0 {
			kind += "+tilted"
		}
		items = append(items, item{kind, c.name, c.img, c.want})
	}
	page, text := bookPage(t)
	items = append(items,
		item{"page", "book", page, text},
		item{"caption", "building", caption(t, pixpooltest.RecognitionPhoto(t, "building.jpg"), []string{"WHEN THE TESTS PASS", "ON THE FIRST TRY"}), "WHEN THE TESTS PASS ON THE FIRST TRY"},
		item{"sign", "scenetext01", pixpooltest.RecognitionPhoto(t, "scenetext01.jpg"), "NOTICE DOUBLE PARKING PROHIBITED AT ALL TIMES"},
	)
	for _, p := range []string{"dog.jpg", "horses.jpg", "person.jpg", "giraffe.jpg", "eagle.jpg", "kite.jpg", "apple.jpg", "orange.jpg", "fruits.jpg", "messi5.jpg"} {
		items = append(items, item{"no text", p, pixpooltest.RecognitionPhoto(t, p), ""})
	}
	engines := []struct {
		name string
		r    *Reader
	}{
		{"tesseract", &Reader{MinConfidence: 60}},
		{"paddle", &Reader{MinConfidence: 60, Scene: s, Command: "/nonexistent/tesseract"}},
		{"both", &Reader{MinConfidence: 60, Scene: s}},
	}
	for _, it := range items {
		row := fmt.Sprintf("%-16s %-28s", it.kind, it.name)
		for _, e := range engines {
			start := time.Now()
			got, err := e.r.Read(context.Background(), it.img)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start).Round(time.Millisecond)
			if it.want == "" {
				row += fmt.Sprintf("  %s %d words %v", e.name, len(words(joinLines(got))), took)
				continue
			}
			row += fmt.Sprintf("  %s %.2f %v", e.name, wordRecall(got, it.want), took)
			if os.Getenv("TEXT_MEASURE") == "v" {
				row += fmt.Sprintf(" %q", joinLines(got))
			}
		}
		t.Log(row)
	}
}

// TestDetInput: sides become multiples of 32, the longer one at most
// MaxSide, the proportions kept.
func TestDetInput(t *testing.T) {
	for _, tc := range []struct {
		w, h, maxSide, wantW, wantH int
	}{
		{640, 480, 960, 640, 480},
		{1920, 1080, 960, 960, 544},
		{100, 20, 960, 96, 32},
		{10, 10, 960, 32, 32},
		{3000, 200, 960, 960, 64},
	} {
		src := image.NewRGBA(image.Rect(0, 0, tc.w, tc.h))
		data, w, h := detInput(src, tc.maxSide)
		if w != tc.wantW || h != tc.wantH || len(data) != 3*w*h {
			t.Errorf("detInput(%dx%d, %d)=%dx%d (%d values), want %dx%d", tc.w, tc.h, tc.maxSide, w, h, len(data), tc.wantW, tc.wantH)
		}
	}
	// White is (1-mean)/std in every plane.
	src := image.NewRGBA(image.Rect(0, 0, 32, 32))
	draw.Draw(src, src.Rect, image.White, image.Point{}, draw.Src)
	data, _, _ := detInput(src, 960)
	for c, want := range []float32{(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225} {
		if got := data[c*32*32]; math.Abs(float64(got-want)) > 1e-5 {
			t.Errorf("plane %d: %v, want %v", c, got, want)
		}
	}
}

// TestDBBoxes: a filled rectangle at an angle in the probability map comes
// back as one box at that angle, grown by the unclip margin; faint and tiny
// regions are dropped.
func TestDBBoxes(t *testing.T) {
	const w, h = 200, 120
	for _, deg := range []float64{0, 8, -15, 90} {
		t.Run(fmt.Sprintf("%+gdeg", deg), func(t *testing.T) {
			prob := make([]float32, w*h)
			want := rotRect{cx: 100, cy: 60, w: 80, h: 20}
			want.uy, want.ux = math.Sincos(deg * math.Pi / 180)
			for y := range h {
				for x := range w {
					if want.contains(float64(x), float64(y)) {
						prob[y*w+x] = 0.9
					}
				}
			}
			// Faint (below the box score) and tiny regions, to be dropped.
			for y := 5; y < 15; y++ {
				for x := 5; x < 40; x++ {
					prob[y*w+x] = 0.4
				}
			}
			prob[110*w+180] = 0.9
			boxes := dbBoxes(prob, w, h)
			if len(boxes) != 1 {
				t.Fatalf("dbBoxes()=%+v, want one box", boxes)
			}
			b := boxes[0]
			want = want.upright()
			d := want.w * want.h * dbUnclip / (2 * (want.w + want.h))
			if math.Abs(b.cx-want.cx) > 1 || math.Abs(b.cy-want.cy) > 1 ||
				math.Abs(b.w-(want.w+2*d)) > 2 || math.Abs(b.h-(want.h+2*d)) > 2 ||
				math.Abs(b.ux*want.uy-b.uy*want.ux) > 0.03 {
				t.Errorf("dbBoxes()=%+v, want about %+v grown by %.1f", b, want, d)
			}
		})
	}
}

func TestMinAreaRect(t *testing.T) {
	// A square turned 45 degrees: its sides, not its bounding box.
	got := minAreaRect(convexHull([][2]float64{{0, 10}, {10, 0}, {20, 10}, {10, 20}, {10, 10}}))
	if math.Abs(got.w*got.h-200) > 1e-9 || math.Abs(got.cx-10) > 1e-9 || math.Abs(got.cy-10) > 1e-9 {
		t.Errorf("minAreaRect(diamond)=%+v, want area 200 about (10, 10)", got)
	}
	// A tall rectangle: width is the horizontal side.
	got = minAreaRect(convexHull([][2]float64{{0, 0}, {4, 0}, {4, 30}, {0, 30}}))
	if got.w != 4 || got.h != 30 || got.ux != 1 || got.uy != 0 {
		t.Errorf("minAreaRect(4x30)=%+v, want w 4, h 30, u (1, 0)", got)
	}
}

func TestCTCChars(t *testing.T) {
	keys := []string{"", "a", "b", " "}
	// One-hot rows with probability p for class k.
	rows := func(steps ...[2]float32) []float32 {
		var out []float32
		for _, s := range steps {
			row := make([]float32, len(keys))
			row[int(s[0])] = s[1]
			out = append(out, row...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		probs []float32
		want  Line
	}{
		{"Blank", rows([2]float32{0, 1}, [2]float32{0, 1}), Line{}},
		{"RepeatsMerged", rows([2]float32{1, 0.8}, [2]float32{1, 0.9}, [2]float32{2, 0.6}), Line{Text: "ab", Confidence: 70}},
		{"BlankSeparatesRepeats", rows([2]float32{1, 1}, [2]float32{0, 1}, [2]float32{1, 0.5}), Line{Text: "aa", Confidence: 75}},
		{"SpacesTrimmed", rows([2]float32{3, 1}, [2]float32{1, 1}, [2]float32{0, 1}, [2]float32{3, 1}, [2]float32{0, 1}, [2]float32{3, 1}, [2]float32{2, 1}, [2]float32{3, 1}), Line{Text: "a b", Confidence: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := charsLine(ctcChars(tc.probs, len(tc.probs)/len(keys), len(keys), keys))
			if got.Text != tc.want.Text || math.Abs(got.Confidence-tc.want.Confidence) > 1e-4 {
				t.Errorf("ctcChars()=%+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadingOrder(t *testing.T) {
	box := func(x0, y0, x1, y1 float64) [4][2]float64 {
		return [4][2]float64{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}
	}
	// tilted is box turned by deg degrees about (0, 0).
	tilted := func(b [4][2]float64, deg float64) [4][2]float64 {
		sin, cos := math.Sincos(deg * math.Pi / 180)
		for i, p := range b {
			b[i] = [2]float64{p[0]*cos - p[1]*sin, p[0]*sin + p[1]*cos}
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		boxes [][4][2]float64
		want  []int
	}{
		{"Rows", [][4][2]float64{box(300, 12, 400, 42), box(0, 60, 100, 90), box(0, 10, 100, 40), box(150, 8, 250, 38)}, []int{2, 3, 0, 1}},
		// Two lines of two pieces each, turned 8 degrees clockwise: the
		// right piece of the first line is lower down than the left piece
		// of the second.
		{"Tilted", [][4][2]float64{
			tilted(box(600, 100, 900, 140), 8), tilted(box(0, 160, 300, 200), 8),
			tilted(box(0, 100, 300, 140), 8), tilted(box(600, 160, 900, 200), 8),
		}, []int{2, 0, 1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readingOrder(tc.boxes); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("readingOrder()=%v, want %v", got, tc.want)
			}
		})
	}
}

// TestCutLine: a line cut out of a tilted box comes out straight, 48 high
// with its proportions, and a tall box is turned a quarter.
func TestCutLine(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 200, 200))
	// Left half black, right half white: the cut's left part must be dark.
	for y := range 200 {
		for x := range 200 {
			v := uint8(0)
			if x >= 100 {
				v = 255
			}
			i := src.PixOffset(x, y)
			src.Pix[i], src.Pix[i+1], src.Pix[i+2], src.Pix[i+3] = v, v, v, 255
		}
	}
	c := cutLine(src, [4][2]float64{{40, 80}, {160, 80}, {160, 104}, {40, 104}})
	if c.width != 240 || len(c.data) != 3*recHeight*240 {
		t.Fatalf("cutLine(120x24) width %d (%d values), want 240", c.width, len(c.data))
	}
	if l, r := c.data[24*240+10], c.data[24*240+230]; l != -1 || r != 1 {
		t.Errorf("cutLine: left %v, right %v, want -1 and 1", l, r)
	}
	// A tall box, 20 wide and 100 high: read as a line 100 long.
	c = cutLine(src, [4][2]float64{{90, 50}, {110, 50}, {110, 150}, {90, 150}})
	if c.width != 240 {
		t.Errorf("cutLine(20x100) width %d, want 240 (turned)", c.width)
	}
	// Turned anticlockwise, the box's right side (white) is the top.
	if top, bottom := c.data[2*240+120], c.data[45*240+120]; top != 1 || bottom != -1 {
		t.Errorf("cutLine(20x100): top %v, bottom %v, want 1 and -1", top, bottom)
	}
}

// BenchmarkScene reports per-image latency (ns/op) of Read with the scene
// reader, on one thread for ONNX Runtime as in serve, the peak Go heap while
// reading (peak-heap-MB) and the resident size of the whole process before
// the first read (start-rss-MB: ONNX Runtime and the models loaded) and at
// its peak while reading (peak-rss-MB: ONNX Runtime's working memory outside
// the Go heap, and the heap, added); Linux only. Page is a rendered page of a book (800
// x 782, 14 lines), Photo is dog.jpg (no text), Caption is building.jpg
// with a two-line caption, Sign is scenetext01.jpg, LargePhoto is kite.jpg
// (1352 x 900, no text). The peak resident size is the process's since the
// benchmark started, so run each in a process of its own:
// -bench 'BenchmarkScene/Page$'.
func BenchmarkScene(b *testing.B) {
	s := openScene(b)
	page, _ := bookPage(b)
	for _, bc := range []struct {
		name string
		img  func() image.Image
	}{
		{"Page", func() image.Image { return page }},
		{"Photo", func() image.Image { return pixpooltest.RecognitionPhoto(b, "dog.jpg") }},
		{"Caption", func() image.Image {
			return caption(b, pixpooltest.RecognitionPhoto(b, "building.jpg"), []string{"WHEN THE TESTS PASS", "ON THE FIRST TRY"})
		}},
		{"Sign", func() image.Image { return pixpooltest.RecognitionPhoto(b, "scenetext01.jpg") }},
		{"LargePhoto", func() image.Image { return pixpooltest.RecognitionPhoto(b, "kite.jpg") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			img := bc.img()
			r := &Reader{Scene: s}
			// As on the analyzer's worker: one thread, so ONNX Runtime's
			// allocations stay in one of the C allocator's arenas.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			runtime.GC()
			debug.FreeOSMemory()
			pixpooltest.ResetPeakRSS()
			before, _ := pixpooltest.RSS()
			peak := pixpooltest.SampleHeapPeak()
			for b.Loop() {
				if _, err := r.Read(context.Background(), img); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
			if _, rss := pixpooltest.RSS(); rss > 0 {
				b.ReportMetric(float64(before)/(1<<20), "start-rss-MB")
				b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
			}
		})
	}
}

// TestScene_Models checks what the code assumes of the models, from the
// models themselves: the detector maps a [1 3 H W] image, H and W multiples
// of 32, to a probability map [1 1 H W] (a sigmoid's output) and refuses
// other sizes; the recognizer takes lines 48 high and gives a step per 8
// columns over the dictionary, a blank and a space.
func TestScene_Models(t *testing.T) {
	s := openScene(t)
	det, rec := s.det.(session).s, s.rec.(session).s
	if got := fmt.Sprint(det.InputNames(), det.OutputNames(), rec.InputNames(), rec.OutputNames()); got != "[x] [sigmoid_0.tmp_0] [x] [softmax_11.tmp_0]" {
		t.Errorf("inputs and outputs %s, want the PP-OCRv4 models' [x] [sigmoid_0.tmp_0] [x] [softmax_11.tmp_0]", got)
	}
	for _, hw := range [][2]int64{{32, 32}, {64, 96}} {
		out, shape, err := s.det.run(make([]float32, 3*hw[0]*hw[1]), []int64{1, 3, hw[0], hw[1]})
		if err != nil || fmt.Sprint(shape) != fmt.Sprint([]int64{1, 1, hw[0], hw[1]}) {
			t.Fatalf("detector on %v: %v, %v, want [1 1 %d %d]", hw, shape, err, hw[0], hw[1])
		}
		for _, p := range out {
			if p < 0 || p > 1 {
				t.Fatalf("detector on %v: value %v, want probabilities", hw, p)
			}
		}
	}
	if _, _, err := s.det.run(make([]float32, 3*50*70), []int64{1, 3, 50, 70}); err == nil {
		t.Error("detector took a 50x70 image, want an error: sides must be multiples of 32")
	}
	for _, w := range []int64{320, 640} {
		out, shape, err := s.rec.run(make([]float32, 3*48*w), []int64{1, 3, 48, w})
		if err != nil || fmt.Sprint(shape) != fmt.Sprint([]int64{1, w / 8, int64(len(s.keys))}) {
			t.Fatalf("recognizer on width %d: %v, %v, want [1 %d %d]", w, shape, err, w/8, len(s.keys))
		}
		var sum float32
		for _, p := range out[:len(s.keys)] {
			sum += p
		}
		if math.Abs(float64(sum)-1) > 1e-3 {
			t.Errorf("recognizer's first step sums to %v, want 1 (softmax)", sum)
		}
	}
	if len(s.keys) != 6625 || s.keys[0] != "" || s.keys[len(s.keys)-1] != " " {
		t.Errorf("%d classes from %q to %q, want 6625: blank, the dictionary's 6623, space", len(s.keys), s.keys[0], s.keys[len(s.keys)-1])
	}
	if _, _, err := s.rec.run(make([]float32, 3*32*320), []int64{1, 3, 32, 320}); err == nil {
		t.Error("recognizer took a line 32 high, want an error: it reads lines 48 high")
	}
}

// TestScene_Page: a page of text is read, by Tesseract if it is installed
// and by the recognizer otherwise.
func TestScene_Page(t *testing.T) {
	s := openScene(t)
	page, want := bookPage(t)
	for _, tc := range []struct {
		name    string
		command string
	}{
		{"Tesseract", ""},
		{"NoTesseract", "/nonexistent/tesseract"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.command == "" {
				requireTesseract(t)
			}
			// The recognizer alone takes some seconds, many more under the
			// race detector.
			got, err := (&Reader{Scene: s, Command: tc.command, MinConfidence: 60, Timeout: 10 * time.Minute}).Read(context.Background(), page)
			if err != nil {
				t.Fatal(err)
			}
			if rec := wordRecall(got, want); rec < 0.95 {
				t.Errorf("word recall %.2f, want >= 0.95: %q", rec, joinLines(got))
			}
		})
	}
}

// countingModel counts the runs of a model.
type countingModel struct {
	model
	runs *atomic.Int64
}

func (m countingModel) run(in []float32, shape []int64) ([]float32, []int64, error) {
	m.runs.Add(1)
	return m.model.run(in, shape)
}

// TestScene_Pause: while the Pauser is busy, no model runs; once released,
// Read reads as usual. A Timeout ends a Read waiting for the Pauser.
func TestScene_Pause(t *testing.T) {
	s := openScene(t)
	var runs atomic.Int64
	counted := *s
	counted.det = countingModel{s.det, &runs}
	counted.rec = countingModel{s.rec, &runs}
	img := render(t, goregular.TTF, 30, sentences[:2], false, 0)
	pause := &busyUntil{released: make(chan struct{})}
	done := make(chan error, 1)
	var lines []Line
	go func() {
		var err error
		lines, err = (&Reader{Scene: &counted, Pause: pause}).Read(context.Background(), img)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if n := runs.Load(); n != 0 {
		t.Fatalf("%d model runs while busy", n)
	}
	close(pause.released)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rec := wordRecall(lines, strings.Join(sentences[:2], " ")); rec < 1 {
		t.Errorf("Read()=%q after the pause, want %q", joinLines(lines), sentences[:2])
	}

	_, err := (&Reader{Scene: s, Pause: &busyUntil{released: make(chan struct{})}, Timeout: 50 * time.Millisecond}).Read(context.Background(), img)
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("Read()=%v while busy past the timeout, want ErrTimeout", err)
	}
}

// TestCuts: a long line is cut into pieces that, with their overlap, fit
// recPiece, each cut in the background between characters.
func TestCuts(t *testing.T) {
	const width = 2000
	c := crop{width: width, data: make([]float32, 3*recHeight*width)}
	gap := func(x int) bool { return x%100 >= 90 } // 10 columns of background every 100
	for ch := range 3 {
		for y := range recHeight {
			for x := range width {
				v := float32(1)
				if !gap(x) && (x+y)%7 < 3 {
					v = -1 // ink
				}
				c.data[(ch*recHeight+y)*width+x] = v
			}
		}
	}
	at := cuts(c)
	if at[0] != 0 || at[len(at)-1] != width {
		t.Fatalf("cuts()=%v, want from 0 to %d", at, width)
	}
	for i := 1; i < len(at); i++ {
		if w := min(width, at[i]+recOverlap) - max(0, at[i-1]-recOverlap); w > recPiece || at[i] <= at[i-1] {
			t.Errorf("cuts()=%v: piece %d is %d wide with its overlap, want at most %d", at, i, w, recPiece)
		}
		if i < len(at)-1 && !gap(at[i]) {
			t.Errorf("cuts()=%v: cut at %d is not in a gap", at, at[i])
		}
	}
	if at := cuts(crop{width: recPiece}); fmt.Sprint(at) != fmt.Sprint([]int{0, recPiece}) {
		t.Errorf("cuts(%d wide)=%v, want one piece", recPiece, at)
	}
}

// BenchmarkRecognizerWidth reports the recognizer's time per 100 columns
// of a line 48 high on one thread, by width and batch size: why lines are
// read in pieces of at most recPiece, one at a time.
func BenchmarkRecognizerWidth(b *testing.B) {
	s := openScene(b)
	for _, bw := range [][2]int{{1, 320}, {1, 640}, {1, 960}, {1, 1920}, {2, 640}, {6, 320}, {6, 640}} {
		b.Run(fmt.Sprintf("batch%d/width%d", bw[0], bw[1]), func(b *testing.B) {
			in := make([]float32, bw[0]*3*recHeight*bw[1])
			for b.Loop() {
				if _, _, err := s.rec.run(in, []int64{int64(bw[0]), 3, recHeight, int64(bw[1])}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(bw[0]*bw[1])*100, "ms/100cols")
		})
	}
}

// TestScene_LargeImage: an image larger than sourceSide is read from a
// shrunk copy, with boxes in its own coordinates.
func TestScene_LargeImage(t *testing.T) {
	s := openScene(t)
	small := render(t, gobold.TTF, 40, []string{"Large photo text"}, false, 0)
	b := small.Bounds()
	big := image.NewGray(image.Rect(0, 0, 6*b.Dx(), 6*b.Dy()))
	draw.CatmullRom.Scale(big, big.Rect, small, b, draw.Src, nil)
	if big.Rect.Dx() <= sourceSide {
		t.Fatalf("test image %v, want wider than %d", big.Rect, sourceSide)
	}
	got, err := (&Reader{Scene: s}).Read(context.Background(), big)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Text != "Large photo text" {
		t.Fatalf("Read()=%+v, want the one line", got)
	}
	// The text starts one font size (40 px, 240 px enlarged) in from the left.
	if box := got[0].Box; box.Min.X < 180 || box.Min.X > 270 || box.Max.X < big.Rect.Dx()-300 || !box.In(big.Rect) {
		t.Errorf("Box=%v, want from about x=240 to 240 px in from the right of %v", box, big.Rect)
	}
	if w, h := big.Rect.Dx(), big.Rect.Dy(); s.Memory(w, h) > 4*int64(sourceSide*sourceSide) {
		t.Errorf("Memory(%d, %d)=%d, want less than a copy of %d px a side", w, h, s.Memory(w, h), sourceSide)
	}
}
