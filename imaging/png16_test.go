package imaging

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"

	"github.com/pixpool/pixpool"
)

// png16 writes a w×h PNG of 16 bits a sample of the given color type,
// interlaced or not, with an optional tRNS chunk. Each row gets one of the
// five filters in turn, so decoding exercises all of them. sample returns
// the samples of pixel (x, y).
func png16(w, h int, colorType byte, interlaced bool, trns []byte, sample func(x, y int) []uint16) []byte {
	channels := map[byte]int{pngGray: 1, pngRGB: 3, pngGrayAlpha: 2, pngRGBA: 4}[colorType]
	bpp := 2 * channels
	var raw bytes.Buffer
	type pass struct{ x0, y0, dx, dy int }
	passes := []pass{{0, 0, 1, 1}}
	if interlaced {
		passes = []pass{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	}
	n := 0
	for _, ps := range passes {
		pw := (w - ps.x0 + ps.dx - 1) / ps.dx
		ph := (h - ps.y0 + ps.dy - 1) / ps.dy
		if pw <= 0 || ph <= 0 {
			continue
		}
		prev := make([]byte, bpp*pw)
		for y := range ph {
			cur := make([]byte, 0, bpp*pw)
			for x := range pw {
				for _, s := range sample(ps.x0+x*ps.dx, ps.y0+y*ps.dy) {
					cur = binary.BigEndian.AppendUint16(cur, s)
				}
			}
			f := byte(n % 5)
			n++
			raw.WriteByte(f)
			out := make([]byte, len(cur))
			for i := range cur {
				var a, b, c byte
				if i >= bpp {
					a, c = cur[i-bpp], prev[i-bpp]
				}
				b = prev[i]
				switch f {
				case 0:
					out[i] = cur[i]
				case 1:
					out[i] = cur[i] - a
				case 2:
					out[i] = cur[i] - b
				case 3:
					out[i] = cur[i] - byte((int(a)+int(b))/2)
				case 4:
					out[i] = cur[i] - paeth(a, b, c)
				}
			}
			raw.Write(out)
			prev = cur
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()

	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	il := byte(0)
	if interlaced {
		il = 1
	}
	ihdr = append(ihdr, 16, colorType, 0, 0, il)
	writeChunk(&b, "IHDR", ihdr)
	if trns != nil {
		writeChunk(&b, "tRNS", trns)
	}
	writeChunk(&b, "IDAT", z.Bytes())
	writeChunk(&b, "IEND", nil)
	return b.Bytes()
}

// sample16 returns samples that differ in their low bytes and hit the
// transparent key (0x1234 gray, 0x1234 0x5678 0x9abc RGB) now and then.
func sample16(channels int) func(x, y int) []uint16 {
	return func(x, y int) []uint16 {
		if (x+y)%7 == 0 {
			return []uint16{0x1234, 0x5678, 0x9abc, 0x8000}[:channels]
		}
		s := make([]uint16, channels)
		for i := range s {
			s[i] = uint16(x*977 + y*131 + i*7919)
		}
		return s
	}
}

// high8 converts a 16-bit image from image/png to the 8-bit one that
// decodePNG16 should return: the high byte of every sample, alpha not
// premultiplied.
func high8(m image.Image) image.Image {
	b := m.Bounds()
	switch m := m.(type) {
	case *image.Gray16:
		g := image.NewGray(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g.SetGray(x, y, color.Gray{uint8(m.Gray16At(x, y).Y >> 8)})
			}
		}
		return g
	case *image.RGBA64:
		r := image.NewRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := m.RGBA64At(x, y)
				r.SetRGBA(x, y, color.RGBA{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8), uint8(c.A >> 8)})
			}
		}
		return r
	case *image.NRGBA64:
		r := image.NewNRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := m.NRGBA64At(x, y)
				r.SetNRGBA(x, y, color.NRGBA{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8), uint8(c.A >> 8)})
			}
		}
		return r
	}
	panic("high8: unexpected type")
}

// A 16-bit PNG decodes to 8 bits a sample, exactly the high bytes of what
// image/png decodes, and so to the same thumbnail, at half the memory (or
// less) of image/png's result.
func TestDecodePNG16(t *testing.T) {
	for _, tc := range []struct {
		name       string
		colorType  byte
		channels   int
		trns       []byte
		wantType   string
		bytesPixel int
	}{
		{"Gray", pngGray, 1, nil, "*image.Gray", 1},
		{"GrayKey", pngGray, 1, []byte{0x12, 0x34}, "*image.NRGBA", 4},
		{"RGB", pngRGB, 3, nil, "*image.RGBA", 4},
		{"RGBKey", pngRGB, 3, []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}, "*image.NRGBA", 4},
		{"GrayAlpha", pngGrayAlpha, 2, nil, "*image.NRGBA", 4},
		{"RGBA", pngRGBA, 4, nil, "*image.NRGBA", 4},
	} {
		for _, interlaced := range []bool{false, true} {
			name := tc.name
			if interlaced {
				name += "/Interlaced"
			}
			t.Run(name, func(t *testing.T) {
				const w, h = 75, 41 // not multiples of 8: partial Adam7 passes
				data := png16(w, h, tc.colorType, interlaced, tc.trns, sample16(tc.channels))
				want, err := png.Decode(bytes.NewReader(data))
				if err != nil {
					t.Fatalf("image/png: %v", err)
				}
				info, got, err := Inspect(data, 0)
				if err != nil {
					t.Fatalf("Inspect: %v", err)
				}
				if info.Width != w || info.Height != h || info.Format != "png" {
					t.Fatalf("Inspect=%+v", info)
				}
				if typ := typeName(got); typ != tc.wantType {
					t.Fatalf("decoded to %s, want %s", typ, tc.wantType)
				}
				want8 := high8(want)
				for y := range h {
					for x := range w {
						if g, w := color.NRGBAModel.Convert(got.At(x, y)), color.NRGBAModel.Convert(want8.At(x, y)); g != w {
							t.Fatalf("pixel (%d,%d)=%v, want %v", x, y, g, w)
						}
					}
				}
				// The same thumbnail as from the 8-bit conversion of
				// image/png's result.
				thumb, err := Thumbnail(got, 32)
				if err != nil {
					t.Fatal(err)
				}
				if ref, _ := Thumbnail(want8, 32); !bytes.Equal(thumb, ref) {
					t.Errorf("thumbnail differs from the 8-bit conversion's")
				}
				// And of a photo-like (smooth) image, the same as from the
				// 16-bit result itself but for rounding: that one is
				// scaled with 16-bit precision.
				smooth := png16(300, 200, tc.colorType, interlaced, tc.trns, func(x, y int) []uint16 {
					return []uint16{uint16(x * 218), uint16(y * 327), uint16((x + y) * 131), uint16(65535 - y*100)}[:tc.channels]
				})
				got, _ = png.Decode(bytes.NewReader(smooth))
				_, mine, err := Inspect(smooth, 0)
				if err != nil {
					t.Fatal(err)
				}
				a, _ := Thumbnail(mine, 32)
				b, _ := Thumbnail(got, 32)
				limit := 2
				if tc.channels%2 == 0 {
					limit = 6 // and alpha is premultiplied at 8 bits: 2% at most
				}
				if d := maxDiff(t, a, b); d > limit {
					t.Errorf("thumbnail differs from image/png's by up to %d, want at most %d", d, limit)
				}
				d, err := (&Decoder{}).Decode(t.Context(), data)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := d.Cost, int64(tc.bytesPixel*w*h); got != want {
					t.Errorf("Cost=%d, want %d", got, want)
				}
			})
		}
	}
}

// maxDiff returns the largest difference of a sample between two JPEGs.
func maxDiff(t *testing.T, a, b []byte) int {
	t.Helper()
	ma, err := jpeg.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ma.Bounds() != mb.Bounds() {
		t.Fatalf("thumbnails of %v and %v", ma.Bounds(), mb.Bounds())
	}
	d := 0
	r := ma.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := ma.At(x, y).RGBA()
			r2, g2, b2, _ := mb.At(x, y).RGBA()
			for _, v := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				d = max(d, v, -v)
			}
		}
	}
	return d
}

func typeName(m image.Image) string {
	switch m.(type) {
	case *image.Gray:
		return "*image.Gray"
	case *image.RGBA:
		return "*image.RGBA"
	case *image.NRGBA:
		return "*image.NRGBA"
	}
	return "other"
}

// A damaged 16-bit PNG is refused as image/png refuses it: every
// truncation, and a changed byte anywhere in its chunks.
func TestDecodePNG16_Damaged(t *testing.T) {
	data := png16(20, 9, pngRGBA, false, nil, sample16(4))
	var cases [][]byte
	for n := 1; n < len(data)-8; n += 3 {
		cases = append(cases, data[:len(data)-n])
	}
	for i := 8; i < len(data); i += 5 {
		cases = append(cases, flip(data, i))
	}
	for _, b := range cases {
		_, stdErr := png.Decode(bytes.NewReader(b))
		_, _, err := Inspect(b, 0)
		if stdErr != nil && err == nil {
			t.Fatalf("image/png refuses %d bytes (%v), Inspect accepts them", len(b), stdErr)
		}
		if err != nil && pixpool.ErrorCode(err) != pixpool.EINVALID && pixpool.ErrorCode(err) != pixpool.EUNSUPPORTED {
			t.Fatalf("Inspect returned %v", err)
		}
	}
}

// decodeCost reserves at least what decoding allocates, for every kind of
// image, so that the Budget bounds real memory.
func TestDecodeCost(t *testing.T) {
	m := testImage(640, 480)
	gray := image.NewGray(m.Rect)
	pal := image.NewPaletted(m.Rect, color.Palette{color.Black, color.White})
	for name, data := range map[string][]byte{
		"PNG":            encodePNG(t, m),
		"PNGGray":        encodePNG(t, gray),
		"PNGPaletted":    encodePNG(t, pal),
		"PNG16":          png16(640, 480, pngRGBA, false, nil, sample16(4)),
		"PNG16Interlace": png16(640, 480, pngRGB, true, nil, sample16(3)),
		"JPEG":           encodeJPEG(t, m, 80),
		"JPEGGray":       encodeJPEG(t, gray, 80),
		"JPEGProgress":   progressiveJPEG(t),
		"GIF":            encodeGIF(t, 640, 480, 2),
		"WebP":           checkerWebP(640, 480),
		"WebPVP8X":       wrapVP8X(checkerWebP(640, 480), 640, 480),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			d, err := (&Decoder{}).Decode(t.Context(), data)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			// Decoders allocate a little besides the pixels (tables,
			// row buffers, readers): allow 64 KiB and 2% for those.
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(d.Cost)*102/100+64<<10; got > limit {
				t.Errorf("decoding %d×%d allocated %d bytes; Cost is %d", d.Width, d.Height, got, d.Cost)
			}
		})
	}
}

// wrapVP8X puts a simple WebP file's chunk into an extended (VP8X)
// container without the alpha flag, for which webp.DecodeConfig reports
// YCbCr even when the chunk is lossless.
func wrapVP8X(simple []byte, w, h int) []byte {
	vp8x := []byte("VP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	vp8x = append(vp8x, byte(w-1), byte((w-1)>>8), byte((w-1)>>16), byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	body := append(append([]byte("WEBP"), vp8x...), simple[12:]...)
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

// FuzzDecodePNG16 checks decodePNG16 against image/png: what image/png
// refuses, it refuses; what both accept decodes to the same pixels.
func FuzzDecodePNG16(f *testing.F) {
	for _, ct := range []byte{pngGray, pngRGB, pngGrayAlpha, pngRGBA} {
		ch := map[byte]int{pngGray: 1, pngRGB: 3, pngGrayAlpha: 2, pngRGBA: 4}[ct]
		f.Add(png16(9, 5, ct, false, nil, sample16(ch)))
		f.Add(png16(9, 5, ct, true, nil, sample16(ch)))
	}
	f.Add(png16(9, 5, pngRGB, true, []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}, sample16(3)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := readPNGHeader(data); err != nil || h.width*h.height > 1<<16 || h.width > 1<<16 || h.height > 1<<16 {
			return
		}
		want, stdErr := png.Decode(bytes.NewReader(data))
		got, err := decodePNG16(data)
		if stdErr != nil {
			if err == nil {
				t.Fatalf("image/png refuses it (%v); decodePNG16 accepts it", stdErr)
			}
			return
		}
		if err != nil {
			return // refusing more is safe (and rare: see the seeds)
		}
		want8 := high8(want)
		r := want8.Bounds()
		if got.Bounds() != r {
			t.Fatalf("bounds %v, want %v", got.Bounds(), r)
		}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if g, w := color.NRGBAModel.Convert(got.At(x, y)), color.NRGBAModel.Convert(want8.At(x, y)); g != w {
					t.Fatalf("pixel (%d,%d)=%v, want %v", x, y, g, w)
				}
			}
		}
	})
}
