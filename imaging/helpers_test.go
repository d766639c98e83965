package imaging

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Tiny valid WebP files: 1×1 lossless (VP8L), lossy (VP8) and lossy with
// alpha (VP8X, ALPH, VP8), as browsers' WebP feature checks use them.
var (
	webpLossless1x1 = []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
	webpLossy1x1    = []byte("RIFF\x22\x00\x00\x00WEBPVP8 \x16\x00\x00\x00\x30\x01\x00\x9d\x01\x2a\x01\x00\x01\x00\x0e\xc0\xfe\x25\xa4\x00\x03\x70\x00\x00\x00\x00")
	webpAlpha1x1    = []byte("RIFF\x4a\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"ALPH\x0c\x00\x00\x00\x11\x07\x10\x11\xfd\x0f\x44\x44\xff\x03\x00\x00" +
		"VP8 \x18\x00\x00\x00\x14\x01\x00\x9d\x01\x2a\x01\x00\x01\x00\x00\x00\xfe\x00\x00\x0d\xc0\x00\xfe\xe6\xb5\x00\x00\x00")
)

// testImage returns a w×h picture: a colour gradient with a half-transparent
// band, so that encoders have something to work on.
func testImage(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if y > h/3 && y < h/2 {
				a = 128
			}
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) & 0xff), a})
		}
	}
	return m
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image, quality int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encodeGIF returns a w×h GIF of the given number of frames, each a
// different diagonal pattern, so that an animation has distinct frames.
func encodeGIF(t testing.TB, w, h, frames int) []byte {
	t.Helper()
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.NRGBA{uint8(i), uint8(255 - i), uint8(i * 7), 255}
	}
	g := &gif.GIF{}
	for f := range frames {
		p := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for y := range h {
			for x := range w {
				p.Pix[y*p.Stride+x] = uint8(x + y + 16*f)
			}
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encodeWebP returns a lossless WebP of a w×h image in two colours: b where
// isB says so, a elsewhere. The standard library has no WebP encoder and this
// is about the smallest one there is: VP8L with no transforms and, per
// channel, a "simple" prefix code of one or two literal symbols.
func encodeWebP(w, h int, a, b color.NRGBA, isB func(x, y int) bool) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // VP8L signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	if a.A != 255 || b.A != 255 {
		bw.write(1, 1) // alpha is used
	} else {
		bw.write(0, 1)
	}
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // one set of prefix codes for the whole image
	// The five prefix codes, in stream order: green, red, blue, alpha,
	// distance (unused: there are no back-references).
	chans := [4][2]uint8{{a.G, b.G}, {a.R, b.R}, {a.B, b.B}, {a.A, b.A}}
	for _, c := range chans {
		bw.simpleCode(c[0], c[1])
	}
	bw.simpleCode(0, 0)
	for y := range h {
		for x := range w {
			bit := uint32(0)
			if isB(x, y) {
				bit = 1
			}
			for _, c := range chans {
				if c[0] != c[1] {
					bw.write(bit, 1) // a 2-symbol code: a's value is 0, b's is 1
				}
			}
		}
	}
	data := bw.bytes()

	var out bytes.Buffer
	pad := len(data) & 1
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(4+8+len(data)+pad))
	out.WriteString("WEBPVP8L")
	binary.Write(&out, binary.LittleEndian, uint32(len(data)))
	out.Write(data)
	if pad == 1 {
		out.WriteByte(0)
	}
	return out.Bytes()
}

// bitWriter writes VP8L's least-significant-bit-first bit stream.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) write(v uint32, n uint) {
	w.acc |= uint64(v) << w.n
	w.n += n
	for w.n >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// simpleCode writes a simple prefix code of s0 alone (0 bits a symbol) if
// s0 == s1, else of s0 (code 0) and s1 (code 1).
func (w *bitWriter) simpleCode(s0, s1 uint8) {
	w.write(1, 1) // simple code
	if s0 == s1 {
		w.write(0, 1) // one symbol
		w.write(1, 1) // of 8 bits
		w.write(uint32(s0), 8)
		return
	}
	w.write(1, 1) // two symbols
	w.write(1, 1) // the first of 8 bits
	w.write(uint32(s0), 8)
	w.write(uint32(s1), 8)
}

func (w *bitWriter) bytes() []byte {
	if w.n > 0 {
		return append(w.buf, byte(w.acc))
	}
	return w.buf
}

// checkerWebP returns a w×h lossless WebP checkerboard of 8-pixel squares.
func checkerWebP(w, h int) []byte {
	return encodeWebP(w, h,
		color.NRGBA{200, 30, 30, 255}, color.NRGBA{30, 30, 200, 255},
		func(x, y int) bool { return (x/8+y/8)%2 == 1 })
}

// hugePNG returns a PNG whose header claims w×h pixels (with a correct CRC)
// but whose data is a few bytes: a decompression bomb's claim without the
// bomb.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, deflate, no filter, no interlace
	writeChunk(&b, "IHDR", ihdr)
	writeChunk(&b, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	writeChunk(&b, "IEND", nil)
	return b.Bytes()
}

func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.Write(b, binary.BigEndian, crc.Sum32())
}

// hugeJPEG returns a valid JPEG with the size in its frame header changed to
// w×h.
func hugeJPEG(t testing.TB, w, h uint16) []byte {
	t.Helper()
	b := bytes.Clone(encodeJPEG(t, testImage(16, 16), 75))
	i := bytes.Index(b, []byte{0xff, 0xc0}) // SOF0: length(2), precision(1), height(2), width(2)
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// hugeGIF returns a valid GIF whose logical screen is changed to w×h.
func hugeGIF(t testing.TB, w, h uint16) []byte {
	t.Helper()
	b := bytes.Clone(encodeGIF(t, 16, 16, 1))
	binary.LittleEndian.PutUint16(b[6:], w)
	binary.LittleEndian.PutUint16(b[8:], h)
	return b
}

// hugeWebP returns a lossless WebP whose header claims w×h pixels.
func hugeWebP(w, h int) []byte {
	b := checkerWebP(16, 16)
	// The 32 header bits after the signature byte at 20: 14 bits of width-1,
	// 14 of height-1, then alpha and version.
	v := binary.LittleEndian.Uint32(b[21:])
	v = v&^(1<<28-1) | uint32(w-1) | uint32(h-1)<<14
	binary.LittleEndian.PutUint32(b[21:], v)
	return b
}

// half returns the first half of b.
func half(b []byte) []byte { return b[:len(b)/2] }

// cut returns b without its last n bytes.
func cut(b []byte, n int) []byte { return b[:len(b)-n] }
