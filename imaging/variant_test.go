package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
	"time"

	"golang.org/x/image/webp"
)

func TestVariantGeometry(t *testing.T) {
	tests := []struct {
		name   string
		w, h   int
		o      int
		box    Box
		vw, vh int
		crop   image.Rectangle
	}{
		{"WidthOnly", 4000, 3000, 1, Box{Width: 1024}, 1024, 768, image.Rect(0, 0, 4000, 3000)},
		{"HeightOnly", 4000, 3000, 1, Box{Height: 300}, 400, 300, image.Rect(0, 0, 4000, 3000)},
		{"InsideTallBox", 4000, 3000, 1, Box{Width: 640, Height: 640}, 640, 480, image.Rect(0, 0, 4000, 3000)},
		{"InsideHeightBinds", 4000, 3000, 1, Box{Width: 1000, Height: 300}, 400, 300, image.Rect(0, 0, 4000, 3000)},
		{"NeverEnlarges", 300, 200, 1, Box{Width: 640}, 300, 200, image.Rect(0, 0, 300, 200)},
		{"Portrait", 3000, 4000, 1, Box{Width: 640, Height: 640}, 480, 640, image.Rect(0, 0, 3000, 4000)},
		{"Turned", 4000, 3000, 6, Box{Width: 300}, 300, 400, image.Rect(0, 0, 3000, 4000)},
		{"Cover", 4000, 3000, 1, Box{Width: 320, Height: 320, Cover: true}, 320, 320, image.Rect(500, 0, 3500, 3000)},
		{"CoverTall", 3000, 4000, 1, Box{Width: 300, Height: 100, Cover: true}, 300, 100, image.Rect(0, 1500, 3000, 2500)},
		{"CoverLargerThanImage", 300, 200, 1, Box{Width: 640, Height: 640, Cover: true}, 200, 200, image.Rect(50, 0, 250, 200)},
		{"CoverWiderThanImage", 300, 200, 1, Box{Width: 1200, Height: 400, Cover: true}, 300, 100, image.Rect(0, 50, 300, 150)},
		{"Tiny", 1, 1000, 1, Box{Width: 10, Height: 10}, 1, 10, image.Rect(0, 0, 1, 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vw, vh, crop := VariantGeometry(tt.w, tt.h, tt.o, tt.box)
			if vw != tt.vw || vh != tt.vh || crop != tt.crop {
				t.Fatalf("VariantGeometry(%d, %d, %d, %+v)=%d×%d %v, want %d×%d %v", tt.w, tt.h, tt.o, tt.box, vw, vh, crop, tt.vw, tt.vh, tt.crop)
			}
		})
	}
}

// quadrants returns a w×h image whose quarters are red (top left), green
// (top right), blue (bottom left) and white, so a turn shows.
func quadrants(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 0, 0, 255}
			switch {
			case x >= w/2 && y < h/2:
				c = color.RGBA{0, 255, 0, 255}
			case x < w/2 && y >= h/2:
				c = color.RGBA{0, 0, 255, 255}
			case x >= w/2 && y >= h/2:
				c = color.RGBA{255, 255, 255, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// near reports whether c is within 40 of want in each channel.
func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { v := int(a>>8) - int(b); return v > -40 && v < 40 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

// TestRenderOrientation stores the quadrants as each orientation would
// store them and checks that every variant comes out upright.
func TestRenderOrientation(t *testing.T) {
	upright := quadrants(80, 40)
	red, green, blue, white := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{255, 255, 255, 255}
	for o := 1; o <= 8; o++ {
		// The stored image is the upright one turned back: the inverse
		// of orient. Applying orient to each candidate finds it.
		stored := invertOrient(upright, o)
		data, w, h, err := Render(stored, o, Box{Width: 40}, "png")
		if err != nil {
			t.Fatalf("Render(o=%d)=%v", o, err)
		}
		if w != 40 || h != 20 {
			t.Fatalf("Render(o=%d) size %d×%d, want 40×20", o, w, h)
		}
		m, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			x, y int
			want color.RGBA
		}{{5, 5, red}, {35, 5, green}, {5, 15, blue}, {35, 15, white}} {
			if got := m.At(c.x, c.y); !near(got, c.want) {
				t.Errorf("o=%d: pixel (%d,%d)=%v, want %v", o, c.x, c.y, got, c.want)
			}
		}
	}
}

// invertOrient returns the image that orient turns into m.
func invertOrient(m *image.RGBA, o int) *image.RGBA {
	inverse := map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
	return orient(m, inverse[o])
}

// TestRenderFormats renders each format and checks that it decodes at
// the size said, and that cover crops the centre.
func TestRenderFormats(t *testing.T) {
	src := testImage(400, 300)
	for _, tt := range []struct {
		format string
		decode func([]byte) (image.Image, error)
	}{
		{"jpeg", func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }},
		{"png", func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }},
		{"webp", func(b []byte) (image.Image, error) { return webp.Decode(bytes.NewReader(b)) }},
	} {
		for _, box := range []Box{{Width: 160}, {Width: 100, Height: 100, Cover: true}} {
			data, w, h, err := Render(src, 1, box, tt.format)
			if err != nil {
				t.Fatalf("Render(%s, %+v)=%v", tt.format, box, err)
			}
			m, err := tt.decode(data)
			if err != nil {
				t.Fatalf("%s variant does not decode: %v", tt.format, err)
			}
			if b := m.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Fatalf("%s variant is %v, Render said %d×%d", tt.format, b, w, h)
			}
			if box.Cover && (w != 100 || h != 100) {
				t.Fatalf("%s cover variant is %d×%d, want 100×100", tt.format, w, h)
			}
			// Decode it with the upload checker too: a variant must be
			// an image pixpool itself takes.
			if _, _, err := Inspect(data, 0); err != nil {
				t.Fatalf("Inspect(%s variant)=%v", tt.format, err)
			}
		}
	}
	if _, _, _, err := Render(src, 1, Box{Width: 10}, "gif"); err == nil {
		t.Fatal("Render(gif) succeeded, want an error")
	}
}

// TestRenderCrop: a cover variant of a YCbCr image (the JPEG decoder's),
// cropped from the middle, shows the middle.
func TestRenderCrop(t *testing.T) {
	m, err := jpeg.Decode(bytes.NewReader(encodeJPEG(t, quadrants(600, 200), 95)))
	if err != nil {
		t.Fatal(err)
	}
	// The middle third of a 600×200 image, 200×200, holds the border of
	// red and green at its centre.
	data, _, _, err := Render(m, 1, Box{Width: 50, Height: 50, Cover: true}, "png")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := png.Decode(bytes.NewReader(data))
	if !near(v.At(5, 5), color.RGBA{255, 0, 0, 255}) || !near(v.At(45, 5), color.RGBA{0, 255, 0, 255}) {
		t.Fatalf("cover crop corners %v %v, want red and green", v.At(5, 5), v.At(45, 5))
	}
}

func TestRenderCost(t *testing.T) {
	small := RenderCost(4000, 3000, 1, Box{Width: 160}, "jpeg")
	large := RenderCost(4000, 3000, 1, Box{Width: 2048}, "webp")
	if small <= 0 || large <= small {
		t.Fatalf("RenderCost: 160 px jpeg %d, 2048 px webp %d; want positive and growing", small, large)
	}
	if max := int64(64 << 20); large > max*2 {
		t.Fatalf("RenderCost(2048 px webp)=%d, more than twice %d: too pessimistic", large, max)
	}
}

// BenchmarkRender1024 renders a 1024-pixel variant of a 12 MP photo-like
// JPEG (decoded once) in each format.
func BenchmarkRender1024(b *testing.B) {
	src, err := jpeg.Decode(bytes.NewReader(encodeJPEG(b, testImage(4000, 3000), 90)))
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{"jpeg", "webp", "png"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				if _, _, _, err := Render(src, 1, Box{Width: 1024}, format); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	_ = time.Second
}
