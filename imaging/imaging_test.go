package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

func TestInspect(t *testing.T) {
	m := testImage(300, 200)
	pngData := encodePNG(t, m)
	jpegData := encodeJPEG(t, m, 90)
	gifData := encodeGIF(t, 300, 200, 1)
	animData := encodeGIF(t, 60, 40, 3)
	webpData := checkerWebP(120, 80)
	progressive := progressiveJPEG(t)

	type want struct {
		format        string
		width, height int
	}
	for _, tt := range []struct {
		name      string
		data      []byte
		maxPixels int
		want      want   // for valid images
		code      string // for refused ones
		msg       string // the start of the message, if set
	}{
		{name: "PNG", data: pngData, want: want{"png", 300, 200}},
		{name: "JPEG", data: jpegData, want: want{"jpeg", 300, 200}},
		{name: "JPEGProgressive", data: progressive, want: want{"jpeg", 150, 103}},
		{name: "GIF", data: gifData, want: want{"gif", 300, 200}},
		{name: "GIFAnimated", data: animData, want: want{"gif", 60, 40}},
		{name: "WebPLossless", data: webpData, want: want{"webp", 120, 80}},
		{name: "WebPLossless1x1", data: webpLossless1x1, want: want{"webp", 1, 1}},
		{name: "WebPLossy1x1", data: webpLossy1x1, want: want{"webp", 1, 1}},
		{name: "WebPAlpha1x1", data: webpAlpha1x1, want: want{"webp", 1, 1}},
		{name: "PNGWithTrailingBytes", data: append(bytes.Clone(pngData), "trailing"...), want: want{"png", 300, 200}},
		{name: "AtMaxPixels", data: pngData, maxPixels: 300 * 200, want: want{"png", 300, 200}},

		{name: "Empty", data: nil, code: pixpool.EUNSUPPORTED, msg: "The file is not a JPEG, PNG, GIF or WebP image."},
		{name: "Text", data: []byte("hello"), code: pixpool.EUNSUPPORTED},
		{name: "PDF", data: []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"), code: pixpool.EUNSUPPORTED},
		{name: "HTML", data: []byte("<!DOCTYPE html>\n<html><body><img src=x onerror=alert(1)></body></html>\n"), code: pixpool.EUNSUPPORTED},
		{name: "SVG", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`), code: pixpool.EUNSUPPORTED},
		{name: "BMP", data: append([]byte("BM"), make([]byte, 60)...), code: pixpool.EUNSUPPORTED},
		{name: "RIFFWave", data: []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), code: pixpool.EUNSUPPORTED},
		{name: "PNGSignatureOnly", data: pngData[:8], code: pixpool.EINVALID, msg: "The image is damaged or truncated: "},
		{name: "PNGAfterJunk", data: append([]byte("junk"), pngData...), code: pixpool.EUNSUPPORTED},

		{name: "PNGHalf", data: half(pngData), code: pixpool.EINVALID, msg: "The image is damaged or truncated: "},
		{name: "PNGNoIEND", data: cut(pngData, 12), code: pixpool.EINVALID},
		{name: "PNGBadCRC", data: flip(pngData, len(pngData)/2), code: pixpool.EINVALID},
		{name: "JPEGHalf", data: half(jpegData), code: pixpool.EINVALID, msg: "The image is damaged or truncated: "},
		{name: "JPEGNoEOI", data: cut(jpegData, 2), code: pixpool.EINVALID},
		{name: "JPEGProgressiveHalf", data: half(progressive), code: pixpool.EINVALID},
		{name: "GIFHalf", data: half(gifData), code: pixpool.EINVALID},
		{name: "GIFNoTrailer", data: cut(gifData, 1), code: pixpool.EINVALID},
		{name: "GIFAnimatedHalf", data: half(animData), code: pixpool.EINVALID},
		{name: "GIFAnimatedNoTrailer", data: cut(animData, 1), code: pixpool.EINVALID},
		{name: "WebPHalf", data: half(webpData), code: pixpool.EINVALID},
		{name: "WebPLossyHalf", data: half(webpLossy1x1), code: pixpool.EINVALID},
		{name: "WebPAlphaHalf", data: half(webpAlpha1x1), code: pixpool.EINVALID},
		{name: "WebPHeaderOnly", data: webpData[:12], code: pixpool.EINVALID},

		{name: "JPEGArithmetic", data: sof(t, jpegData, 0xc9), code: pixpool.EUNSUPPORTED, msg: "The image uses a JPEG feature that is not supported: "},
		{name: "WebPAnimated", data: animatedWebP(), code: pixpool.EUNSUPPORTED, msg: "Animated WebP images are not supported."},

		{name: "PNGHuge", data: hugePNG(60000, 60000), code: pixpool.EINVALID, msg: "The image is too large: 60000×60000 pixels (at most 64 million)."},
		{name: "PNGOverMax", data: pngData, maxPixels: 300*200 - 1, code: pixpool.EINVALID, msg: "The image is too large: 300×200 pixels (at most 59999 pixels)."},
		{name: "PNGOverMaxMillions", data: hugePNG(3000, 1000), maxPixels: 2_500_000, code: pixpool.EINVALID, msg: "The image is too large: 3000×1000 pixels (at most 2.5 million)."},
		{name: "PNGZeroWidth", data: hugePNG(0, 10), code: pixpool.EINVALID},
		{name: "JPEGHuge", data: hugeJPEG(t, 60000, 60000), code: pixpool.EINVALID, msg: "The image is too large: "},
		{name: "GIFHuge", data: hugeGIF(t, 65535, 65535), code: pixpool.EINVALID, msg: "The image is too large: "},
		{name: "WebPHuge", data: hugeWebP(16384, 16384), code: pixpool.EINVALID, msg: "The image is too large: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, img, err := Inspect(tt.data, tt.maxPixels)
			if tt.code != "" {
				if got := pixpool.ErrorCode(err); got != tt.code {
					t.Fatalf("Inspect returned %v (code %q), want code %q", err, got, tt.code)
				}
				if !strings.HasPrefix(pixpool.ErrorMessage(err), tt.msg) {
					t.Fatalf("message %q, want it to start with %q", pixpool.ErrorMessage(err), tt.msg)
				}
				if img != nil || info != (Info{}) {
					t.Fatalf("Inspect returned %+v and an image along with an error", info)
				}
				return
			}
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			wantInfo := Info{ContentType: "image/" + tt.want.format, Format: tt.want.format, Width: tt.want.width, Height: tt.want.height}
			if info != wantInfo {
				t.Fatalf("Inspect=%+v, want %+v", info, wantInfo)
			}
			if got, want := img.Bounds(), image.Rect(0, 0, tt.want.width, tt.want.height); got != want {
				t.Fatalf("image bounds %v, want %v", got, want)
			}
		})
	}
}

// Images that claim a huge size are refused from their header, before
// decoding allocates for them.
func TestInspect_BombIsCheap(t *testing.T) {
	for name, data := range map[string][]byte{
		"PNG":  hugePNG(60000, 60000),
		"JPEG": hugeJPEG(t, 60000, 60000),
		"GIF":  hugeGIF(t, 65535, 65535),
		"WebP": hugeWebP(16384, 16384),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, _, err := Inspect(data, 0)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if pixpool.ErrorCode(err) != pixpool.EINVALID {
				t.Fatalf("Inspect returned %v, want code %s", err, pixpool.EINVALID)
			}
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(1<<20); got > limit {
				t.Errorf("Inspect allocated %d bytes, want at most %d", got, limit)
			}
			if limit := 100 * time.Millisecond; elapsed > limit {
				t.Errorf("Inspect took %v, want at most %v", elapsed, limit)
			}
		})
	}
}

// A GIF whose first frame covers part of the screen comes back on the
// whole screen, transparent around the frame.
func TestInspect_GIFPartialFrame(t *testing.T) {
	g := encodeGIF(t, 40, 30, 1)
	// Make the screen larger than the frame: 50×40.
	g[6], g[8] = 50, 40
	info, img, err := Inspect(g, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds(), image.Rect(0, 0, 50, 40); got != want || info.Width != 50 || info.Height != 40 {
		t.Fatalf("got %+v with bounds %v, want 50×40", info, got)
	}
	if _, _, _, a := img.At(45, 35).RGBA(); a != 0 {
		t.Errorf("outside the frame alpha=%d, want 0", a)
	}
	if _, _, _, a := img.At(5, 5).RGBA(); a == 0 {
		t.Error("inside the frame the image is transparent")
	}
}

// The hand-made WebP encoder of the tests writes what it means to.
func TestEncodeWebP(t *testing.T) {
	a, b := color.NRGBA{1, 2, 3, 255}, color.NRGBA{250, 2, 30, 40}
	isB := func(x, y int) bool { return x > y }
	_, img, err := Inspect(encodeWebP(9, 5, a, b, isB), 0)
	if err != nil {
		t.Fatal(err)
	}
	for y := range 5 {
		for x := range 9 {
			want := a
			if isB(x, y) {
				want = b
			}
			if got := color.NRGBAModel.Convert(img.At(x, y)); got != want {
				t.Fatalf("At(%d, %d)=%v, want %v", x, y, got, want)
			}
		}
	}
}

func TestThumbnail(t *testing.T) {
	for _, tt := range []struct {
		name          string
		w, h, maxSide int
		wantW, wantH  int
	}{
		{"Landscape", 1000, 500, 256, 256, 128},
		{"Portrait", 500, 1000, 256, 128, 256},
		{"Square", 300, 300, 256, 256, 256},
		{"Rounding", 1000, 667, 256, 256, 171},
		{"Small", 100, 50, 256, 100, 50},
		{"Exact", 256, 100, 256, 256, 100},
		{"OneOver", 257, 257, 256, 256, 256},
		{"Thin", 5000, 3, 256, 256, 1},
		{"Tall", 3, 5000, 64, 1, 64},
		{"OnePixel", 1, 1, 256, 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Thumbnail(testImage(tt.w, tt.h), tt.maxSide)
			if err != nil {
				t.Fatalf("Thumbnail: %v", err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("the thumbnail is not a JPEG: %v", err)
			}
			if cfg.Width != tt.wantW || cfg.Height != tt.wantH {
				t.Fatalf("thumbnail is %d×%d, want %d×%d", cfg.Width, cfg.Height, tt.wantW, tt.wantH)
			}
		})
	}
}

// Thumbnails work from whatever Inspect decodes.
func TestThumbnail_Formats(t *testing.T) {
	m := testImage(400, 300)
	for name, data := range map[string][]byte{
		"PNG":         encodePNG(t, m),
		"JPEG":        encodeJPEG(t, m, 90),
		"GIF":         encodeGIF(t, 400, 300, 2),
		"WebP":        checkerWebP(400, 300),
		"WebPLossy":   webpLossy1x1,
		"WebPAlpha":   webpAlpha1x1,
		"Gray":        encodePNG(t, image.NewGray16(image.Rect(0, 0, 400, 300))),
		"Paletted":    encodePNG(t, image.NewPaletted(image.Rect(0, 0, 400, 300), color.Palette{color.Black, color.White})),
		"Progressive": progressiveJPEG(t),
	} {
		t.Run(name, func(t *testing.T) {
			info, img, err := Inspect(data, 0)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Thumbnail(img, 200)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			wantW, wantH := fit(info.Width, info.Height, 200)
			if cfg.Width != wantW || cfg.Height != wantH {
				t.Fatalf("thumbnail is %d×%d, want %d×%d", cfg.Width, cfg.Height, wantW, wantH)
			}
		})
	}
}

// Transparent pixels become white, not black.
func TestThumbnail_Transparency(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 600, 400)) // all transparent black
	for y := range 400 {
		for x := range 300 {
			m.SetNRGBA(x, y, color.NRGBA{0, 0, 255, 255}) // the left half opaque blue
		}
	}
	for _, maxSide := range []int{100, 1000} { // scaled and not
		b, err := Thumbnail(m, maxSide)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		bw := img.Bounds().Dx()
		if r, g, bl, _ := img.At(bw*7/8, 10).RGBA(); r>>8 < 245 || g>>8 < 245 || bl>>8 < 245 {
			t.Errorf("maxSide %d: the transparent part is (%d, %d, %d), want white", maxSide, r>>8, g>>8, bl>>8)
		}
		if r, g, bl, _ := img.At(bw/8, 10).RGBA(); r>>8 > 10 || g>>8 > 10 || bl>>8 < 245 {
			t.Errorf("maxSide %d: the opaque part is (%d, %d, %d), want blue", maxSide, r>>8, g>>8, bl>>8)
		}
	}
}

// A pattern finer than the thumbnail's pixels averages out to grey instead
// of turning into moiré.
func TestThumbnail_NoAliasing(t *testing.T) {
	for _, size := range []int{2000, 2003} { // with and without partial blocks
		m := image.NewGray(image.Rect(0, 0, size, size))
		for i := range m.Pix {
			if (i%size+i/size)%2 == 0 {
				m.Pix[i] = 255
			}
		}
		b, err := Thumbnail(m, 100)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for y := range 100 {
			for x := range 100 {
				if g := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y; g < 118 || g > 138 {
					t.Fatalf("size %d: pixel (%d, %d) is %d, want about 128", size, x, y, g)
				}
			}
		}
	}
}

// boxShrinkYCbCr gives what boxShrink gives, within rounding, for every
// subsampling and for images whose origin is not at (0, 0).
func TestBoxShrinkYCbCr(t *testing.T) {
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		for _, r := range []image.Rectangle{image.Rect(0, 0, 37, 23), image.Rect(3, 5, 40, 28)} {
			m := image.NewYCbCr(image.Rect(0, 0, 48, 32), ratio)
			var seed uint32 = 7
			for j, p := range [][]byte{m.Y, m.Cb, m.Cr} {
				for i := range p {
					seed = seed*1664525 + 1013904223
					// Colours well inside the gamut, which no conversion
					// clamps.
					if j == 0 {
						p[i] = uint8(64 + seed>>26)
					} else {
						p[i] = uint8(112 + seed>>27)
					}
				}
			}
			sub := m.SubImage(r).(*image.YCbCr)
			for _, k := range []int{2, 3, 5} {
				got, want := boxShrinkYCbCr(sub, k), boxShrink(sub, k)
				if got.Bounds() != want.Bounds() {
					t.Fatalf("%v %v k=%d: bounds %v, want %v", ratio, r, k, got.Bounds(), want.Bounds())
				}
				for i := range got.Pix {
					if d := int(got.Pix[i]) - int(want.Pix[i]); d < -2 || d > 2 {
						t.Fatalf("%v %v k=%d: byte %d is %d, want %d", ratio, r, k, i, got.Pix[i], want.Pix[i])
					}
				}
			}
		}
	}
}

func TestBoxShrink(t *testing.T) {
	// 5×3 with an offset origin, shrunk by 2: blocks of 2×2, 1×2, 2×1, 1×1.
	m := image.NewNRGBA(image.Rect(10, 20, 15, 23))
	for y := range 3 {
		for x := range 5 {
			m.SetNRGBA(10+x, 20+y, color.NRGBA{uint8(10 * (x + 5*y)), 0, 0, 255})
		}
	}
	m.SetNRGBA(14, 22, color.NRGBA{200, 0, 0, 0}) // transparent: no colour
	got := boxShrink(m, 2)
	if got, want := got.Bounds(), image.Rect(0, 0, 3, 2); got != want {
		t.Fatalf("bounds %v, want %v", got, want)
	}
	for _, tt := range []struct {
		x, y int
		want color.RGBA
	}{
		{0, 0, color.RGBA{30, 0, 0, 255}},  // (0+10+50+60)/4
		{2, 0, color.RGBA{65, 0, 0, 255}},  // (40+90)/2
		{1, 1, color.RGBA{125, 0, 0, 255}}, // (120+130)/2
		{2, 1, color.RGBA{0, 0, 0, 0}},     // the transparent pixel alone
	} {
		if c := got.RGBAAt(tt.x, tt.y); c != tt.want {
			t.Errorf("At(%d, %d)=%v, want %v", tt.x, tt.y, c, tt.want)
		}
	}
}

func TestThumbnail_Errors(t *testing.T) {
	if _, err := Thumbnail(testImage(10, 10), 0); err == nil {
		t.Error("Thumbnail with maxSide 0 succeeded")
	}
	if _, err := Thumbnail(image.NewRGBA(image.Rectangle{}), 10); err == nil {
		t.Error("Thumbnail of an empty image succeeded")
	}
}

func FuzzInspect(f *testing.F) {
	m := testImage(24, 16)
	for _, b := range [][]byte{
		encodePNG(f, m),
		encodeJPEG(f, m, 75),
		progressiveJPEG(f),
		encodeGIF(f, 24, 16, 2),
		checkerWebP(24, 16),
		webpLossless1x1,
		webpLossy1x1,
		webpAlpha1x1,
		hugePNG(60000, 60000),
		hugeJPEG(f, 60000, 60000),
		hugeWebP(16384, 16384),
		animatedWebP(),
		png16(24, 16, pngRGBA, false, nil, sample16(4)),
		png16(24, 16, pngRGB, true, []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}, sample16(3)),
		[]byte("hello"),
	} {
		f.Add(b)
		f.Add(half(b))
	}
	const maxPixels = 1 << 20 // keeps each run fast and small
	f.Fuzz(func(t *testing.T, data []byte) {
		info, img, err := Inspect(data, maxPixels)
		if err != nil {
			if code := pixpool.ErrorCode(err); code != pixpool.EINVALID && code != pixpool.EUNSUPPORTED {
				t.Fatalf("Inspect returned %v with code %q", err, code)
			}
			if pixpool.ErrorMessage(err) == "" {
				t.Fatalf("Inspect returned %v without a message", err)
			}
			return
		}
		if img == nil || info.Width*info.Height > maxPixels || info.Width <= 0 || info.Height <= 0 {
			t.Fatalf("Inspect=%+v, %v", info, img)
		}
		if got, want := img.Bounds(), image.Rect(0, 0, info.Width, info.Height); got != want {
			t.Fatalf("image bounds %v, want %v", got, want)
		}
		if _, err := Thumbnail(img, 32); err != nil {
			t.Fatalf("Thumbnail of an accepted image: %v", err)
		}
	})
}

func BenchmarkInspect100KB(b *testing.B) {
	// A 512×384 photo-like JPEG of about 100 KB: gradient plus noise.
	m := testImage(512, 384)
	var seed uint32 = 1
	for i := range m.Pix {
		seed = seed*1664525 + 1013904223
		m.Pix[i] += uint8(seed >> 27)
	}
	data := encodeJPEG(b, m, 92)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := Inspect(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkThumbnail(b *testing.B) {
	// A 12-megapixel camera photo, decoded, to a 256-pixel thumbnail.
	_, img, err := Inspect(encodeJPEG(b, testImage(4000, 3000), 85), 0)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Thumbnail(img, 256); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThumbnailUpload makes the gallery thumbnail (320 pixels) of a
// typical 100 KB upload: a 928×696 photo-like JPEG, decoded.
func BenchmarkThumbnailUpload(b *testing.B) {
	m := testImage(928, 696)
	var seed uint32 = 1
	for i := range m.Pix {
		seed = seed*1664525 + 1013904223
		m.Pix[i] += uint8(seed >> 29)
	}
	_, img, err := Inspect(encodeJPEG(b, m, 85), 0)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Thumbnail(img, 320); err != nil {
			b.Fatal(err)
		}
	}
}

// sof returns a JPEG with its SOF0 (baseline) marker changed to marker.
func sof(t testing.TB, b []byte, marker byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	b[i+1] = marker
	return b
}

// animatedWebP returns webpAlpha1x1 with the animation flag set in its
// VP8X header.
func animatedWebP() []byte {
	b := bytes.Clone(webpAlpha1x1)
	b[20] |= 0x02
	return b
}

// flip returns b with the byte at i inverted.
func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0xff
	return b
}

// progressiveJPEG returns a 150×103 progressive JPEG. Go encodes only
// baseline JPEGs, so this one is Go's own test file
// src/image/testdata/video-001.q50.420.progressive.jpeg.
func progressiveJPEG(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/progressive.jpg")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
