package loadgen

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
)

// Image returns a valid JPEG or PNG ("jpeg" or "png") of about size bytes
// (within a few percent for sizes over a few KiB), different for each
// seed. Its pixels are smooth gradients overlaid with noise, so it does
// not compress away: the size is reached with few enough pixels that a
// server's pixel limits never refuse it (100 KiB is about 190x190).
func Image(format string, size int, seed uint64) ([]byte, error) {
	if size < 1024 {
		return nil, fmt.Errorf("loadgen: image size %d: want at least 1 KiB", size)
	}
	enc, ok := encoders[format]
	if !ok {
		return nil, fmt.Errorf("loadgen: image format %q: want jpeg or png", format)
	}
	// Noise costs about the same bytes per pixel at every size: encode,
	// measure, rescale the side, a few times.
	side := int(math.Sqrt(float64(size) / 2))
	var best []byte
	for range 6 {
		side = min(max(side, 8), 1<<14)
		b, err := enc(noise(side, side, seed))
		if err != nil {
			return nil, fmt.Errorf("loadgen: encode %s: %w", format, err)
		}
		if best == nil || absDiff(len(b), size) < absDiff(len(best), size) {
			best = b
		}
		if absDiff(len(b), size) <= size/50 {
			break
		}
		side = int(float64(side) * math.Sqrt(float64(size)/float64(len(b))))
	}
	return best, nil
}

var encoders = map[string]func(image.Image) ([]byte, error){
	"jpeg": func(m image.Image) ([]byte, error) {
		var b bytes.Buffer
		err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90})
		return b.Bytes(), err
	},
	"png": func(m image.Image) ([]byte, error) {
		var b bytes.Buffer
		err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, m)
		return b.Bytes(), err
	},
}

func absDiff(a, b int) int {
	if a > b {
		return a - b
	}
	return b - a
}

// noise draws an opaque w x h image: a colour gradient that depends on
// seed, with uniform noise on every channel.
func noise(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	base := [3]int{r.IntN(256), r.IntN(256), r.IntN(256)}
	for y := range h {
		for x := range w {
			c := color.RGBA{A: 255}
			for i, p := range []*uint8{&c.R, &c.G, &c.B} {
				v := base[i] + (x*97/w+y*61/h)*(i+1) + r.IntN(96) - 48
				*p = uint8(min(max(v, 0), 255))
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}
