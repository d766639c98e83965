package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

func TestOrient(t *testing.T) {
	// A 3×2 image whose top-left pixel is marked; where each orientation
	// shows it, as EXIF defines them.
	m := image.NewRGBA(image.Rect(0, 0, 3, 2))
	m.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
	for _, c := range []struct {
		o    int
		w, h int
		at   image.Point
	}{
		{1, 3, 2, image.Pt(0, 0)},
		{2, 3, 2, image.Pt(2, 0)},
		{3, 3, 2, image.Pt(2, 1)},
		{4, 3, 2, image.Pt(0, 1)},
		{5, 2, 3, image.Pt(0, 0)},
		{6, 2, 3, image.Pt(1, 0)},
		{7, 2, 3, image.Pt(1, 2)},
		{8, 2, 3, image.Pt(0, 2)},
		{9, 3, 2, image.Pt(0, 0)},
	} {
		got := orient(m, c.o)
		if b := got.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("orientation %d: %v, want %d×%d", c.o, b, c.w, c.h)
			continue
		}
		if got.RGBAAt(c.at.X, c.at.Y).R != 255 {
			t.Errorf("orientation %d: marked pixel not at %v", c.o, c.at)
		}
	}
}

func TestThumbnailOriented(t *testing.T) {
	b, err := ThumbnailOriented(testImage(64, 32), 16, 6)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width != 8 || cfg.Height != 16 {
		t.Fatalf("thumbnail %d×%d (%v), want 8×16", cfg.Width, cfg.Height, err)
	}
}
