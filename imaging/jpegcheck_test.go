package imaging

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// sampleJPEGs returns the files made by testdata/jpegcheck/make.sh, by name.
func sampleJPEGs(t testing.TB) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob("testdata/jpegcheck/*.jpg")
	if err != nil || len(names) == 0 {
		t.Fatalf("no sample JPEGs: %v", err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(n), ".jpg")] = b
	}
	return out
}

// decodes reports whether image/jpeg decodes b.
func decodes(b []byte) error {
	_, err := jpeg.Decode(bytes.NewReader(b))
	return err
}

func TestCheckJPEGSamples(t *testing.T) {
	notSure := map[string]bool{"progressive": true, "arithmetic": true}
	for name, b := range sampleJPEGs(t) {
		t.Run(name, func(t *testing.T) {
			err := checkJPEG(b)
			if notSure[name] {
				if err == nil {
					t.Fatal("checker vouched for a file it must leave to image/jpeg")
				}
				return
			}
			if err != nil {
				t.Fatalf("checker not sure of a plain sequential JPEG: %v", err)
			}
			if err := decodes(b); err != nil {
				t.Fatalf("checker vouched, image/jpeg refuses: %v", err)
			}
		})
	}
	// What image/jpeg itself writes (4:2:0 and gray).
	for _, q := range []int{1, 50, 100} {
		if err := checkJPEG(encodeJPEG(t, testImage(33, 17), q)); err != nil {
			t.Errorf("quality %d: %v", q, err)
		}
	}
	if err := checkJPEG(progressiveJPEG(t)); err == nil {
		t.Error("checker vouched for testdata/progressive.jpg")
	}
}

// tinyJPEG builds an 8×8 gray baseline JPEG whose one block is coded by
// bits ("0101..."), with a DC table whose 2-bit codes 00, 01, 10 mean
// categories 0, 1 and 17 (11 is undefined), and an AC table: 00 EOB, 01
// ZRL, 10 run 0 size 1, 110 EOB run 1 (progressive only), 1110 run 14
// size 1 (1111 undefined). ri, if not 0, is the restart interval.
func tinyJPEG(bits string, w, h int, ri int) []byte {
	dc := append([]byte{0, 3}, make([]byte, 14)...)
	return tinyJPEGWith(append(dc, 0, 1, 17), bits, w, h, ri)
}

// tinyJPEGWith is tinyJPEG with another DC table: 16 counts, then the
// symbols.
func tinyJPEGWith(dcTable []byte, bits string, w, h int, ri int) []byte {
	b := newJPEGBuilder()
	seg := b.seg
	seg(0xc0, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)
	seg(0xc4, append([]byte{0x00}, dcTable...)...)
	ac := append([]byte{0x10, 0, 3, 1, 1}, make([]byte, 12)...)
	ac = append(ac, 0x00, 0xf0, 0x01, 0x10, 0xe1)
	seg(0xc4, ac...)
	if ri > 0 {
		seg(0xdd, byte(ri>>8), byte(ri))
	}
	seg(0xda, 1, 1, 0x00, 0, 63, 0)
	b.Write(packBits(bits))
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

// packBits packs "0101..." into bytes, padding with 1s and stuffing a 0
// after each 0xFF; "|n" inserts restart marker n at a byte boundary.
func packBits(bits string) []byte {
	var out []byte
	var cur byte
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		cur = cur<<(8-n) | byte(0xff>>n)
		out = append(out, cur)
		if cur == 0xff {
			out = append(out, 0)
		}
		cur, n = 0, 0
	}
	for i := 0; i < len(bits); i++ {
		switch c := bits[i]; c {
		case '0', '1':
			cur = cur<<1 | (c - '0')
			n++
			if n == 8 {
				out = append(out, cur)
				if cur == 0xff {
					out = append(out, 0)
				}
				cur, n = 0, 0
			}
		case '|':
			flush()
			i++
			out = append(out, 0xff, 0xd0+bits[i]-'0')
		}
	}
	flush()
	return out
}

// TestCheckJPEGRefusals gives the checker each kind of flaw: it must not
// vouch for any, and the combined check (the checker, then image/jpeg when
// it is not sure) must give image/jpeg's verdict.
func TestCheckJPEGRefusals(t *testing.T) {
	s420 := sampleJPEGs(t)["s420"]
	gray := sampleJPEGs(t)["gray"]
	restart := sampleJPEGs(t)["restart-mcus"]
	sosAt := func(b []byte) int { return bytes.Index(b, []byte{0xff, 0xda}) }
	edit := func(b []byte, f func(b []byte)) []byte {
		b = bytes.Clone(b)
		f(b)
		return b
	}
	regular := map[string]bool{"DC category 16 behind a 16-bit code": true, "tiny valid": true, "tiny with coefficients": true, "restart markers in order": true, "trailing bytes after EOI": true}
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool // image/jpeg decodes it
	}{
		{"tiny valid", tinyJPEG("00"+"00", 8, 8, 0), true},
		{"tiny with coefficients", tinyJPEG("01"+"1"+"10"+"0"+"01"+"1110"+"1"+"00", 8, 8, 0), true},
		{"undefined DC code", tinyJPEG("1111111111111111"+"1111111111111111", 8, 8, 0), false},
		{"undefined AC code", tinyJPEG("00"+"1111111111111111"+"1111111111111111", 8, 8, 0), false},
		// The longest DC code (16 bits, all ones) and the largest category:
		// 32 bits for one difference.
		{"DC category 16 behind a 16-bit code", tinyJPEGWith(longDC(), strings.Repeat("1", 16)+strings.Repeat("0", 16)+"00", 8, 8, 0), true},
		{"DC category 17", tinyJPEG("10"+"00000000000000000"+"00", 8, 8, 0), false},
		{"data ends in a block", tinyJPEG("0010", 8, 8, 0), false},
		{"too few blocks", tinyJPEG("0000", 16, 8, 0), false},
		// image/jpeg ends the block quietly: the checker leaves it to it.
		{"coefficient past the block", tinyJPEG("00"+strings.Repeat("1110"+"1", 5)+"00", 8, 8, 0), true},
		{"end-of-band run in a sequential scan", tinyJPEG("00"+"110"+"0"+"00", 16, 8, 0), true},
		{"restart markers in order", tinyJPEG("0000|0"+"0000|1"+"0000", 24, 8, 1), true},
		{"restart marker missing", tinyJPEG("0000"+"0000|1"+"0000", 24, 8, 1), false},
		{"restart marker out of order", tinyJPEG("0000|1"+"0000|0"+"0000", 24, 8, 1), false},
		{"restart marker after the last MCU", tinyJPEG("0000|0"+"0000|1"+"0000|2", 24, 8, 1), true},
		{"uninitialised table", edit(gray, func(b []byte) { b[sosAt(b)+6] = 0x11 }), false},
		{"bad table number in a baseline DHT", edit(s420, func(b []byte) {
			i := bytes.Index(b, []byte{0xff, 0xc4})
			b[i+4] = 0x02
		}), false},
		{"12-bit samples", edit(s420, func(b []byte) { b[bytes.Index(b, []byte{0xff, 0xc0})+4] = 12 }), false},
		{"missing EOI", s420[:len(s420)-2], false},
		{"truncated", half(s420), false},
		{"trailing bytes after EOI", append(bytes.Clone(s420), "trailer"...), true},
		{"bytes between segments", edit(append(append(bytes.Clone(s420[:2]), 0x00), s420[2:]...), func([]byte) {}), true},
		{"fill bytes before a marker", append(append(bytes.Clone(s420[:2]), 0xff), s420[2:]...), true},
		{"scan data cut, RST kept", edit(restart, func(b []byte) {
			i := bytes.Index(b, []byte{0xff, 0xd1})
			copy(b[i-4:], b[i:]) // the next bytes shift onto the interval's end
		}), false},
		{"not a prefix code", edit(s420, func(b []byte) {
			i := bytes.Index(b, []byte{0xff, 0xc4})
			b[i+5] = 0xff // 255 codes of length 1
		}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkJPEG(tc.data); err == nil {
				if derr := decodes(tc.data); derr != nil {
					t.Fatalf("checker vouched, image/jpeg refuses: %v", derr)
				}
				if !tc.ok {
					t.Fatal("checker vouched for a flawed file")
				}
				if !regular[tc.name] {
					t.Fatal("checker vouched for an irregular file")
				}
			} else if regular[tc.name] {
				t.Fatalf("checker not sure of a regular file: %v", err)
			}
			derr := decodes(tc.data)
			if (derr == nil) != tc.ok {
				// The case itself is wrong: say what image/jpeg thinks.
				t.Fatalf("image/jpeg: %v, case expects ok=%v", derr, tc.ok)
			}
			// The combined check gives image/jpeg's verdict and message.
			dec := &Decoder{}
			_, cerr := dec.Check(context.Background(), tc.data)
			_, ferr := dec.Decode(context.Background(), tc.data)
			if !sameError(cerr, ferr) {
				t.Fatalf("Check: %v; Decode: %v", cerr, ferr)
			}
		})
	}
}

// longDC returns a DC table with one code of each length 1 to 15 (for
// categories 0 to 14) and two of 16 bits (15 and 16, the last all ones).
func longDC() []byte {
	t := bytes.Repeat([]byte{1}, 15)
	t = append(t, 2)
	for c := range 17 {
		t = append(t, byte(c))
	}
	return t
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error()
}

// TestCheckBudget: Check reserves only a few kilobytes for a JPEG it
// vouches for, and refuses what Decode refuses as too large for the Budget.
func TestCheckBudget(t *testing.T) {
	b := encodeJPEG(t, testImage(200, 100), 75) // decoding takes 30 KB
	budget := &Budget{Bytes: 64 << 10, Wait: 10 * time.Millisecond}
	hold, err := budget.Acquire(context.Background(), 64<<10-checkCost, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	d := &Decoder{Budget: budget}
	info, err := d.Check(context.Background(), b)
	if err != nil || info.Width != 200 || info.Height != 100 || info.Format != "jpeg" {
		t.Fatalf("Check = %+v, %v", info, err)
	}
	if _, err := d.Decode(context.Background(), b); pixpool.ErrorCode(err) != pixpool.EUNAVAILABLE {
		t.Fatalf("Decode with 16 KiB free: %v", err)
	}
	// A JPEG the checker is not sure of is decoded in full.
	if _, err := d.Check(context.Background(), sampleJPEGs(t)["progressive"]); pixpool.ErrorCode(err) != pixpool.EUNAVAILABLE {
		t.Fatalf("Check of a progressive JPEG with 16 KiB free: %v", err)
	}
	hold()

	tooSmall := &Decoder{Budget: &Budget{Bytes: 1000}}
	_, cerr := tooSmall.Check(context.Background(), b)
	_, derr := tooSmall.Decode(context.Background(), b)
	if cerr == nil || !sameError(cerr, derr) {
		t.Fatalf("Check: %v; Decode: %v", cerr, derr)
	}
}

// FuzzJPEGCheck holds the checker to its promise: whenever it vouches for
// an input, image/jpeg decodes it; and the combined check (Decoder.Check)
// answers as Decoder.Decode does, error message included.
func FuzzJPEGCheck(f *testing.F) {
	var seeds [][]byte
	for _, b := range sampleJPEGs(f) {
		seeds = append(seeds, b)
	}
	seeds = append(seeds,
		progressiveJPEG(f),
		encodeJPEG(f, testImage(24, 16), 75),
		tinyJPEG("01"+"1"+"10"+"0"+"01"+"1110"+"1"+"00", 8, 8, 0),
		tinyJPEG("0000|0"+"0000|1"+"0000", 24, 8, 1),
	)
	for _, b := range seeds {
		f.Add(b)
		f.Add(half(b))
		for _, at := range []int{len(b) / 3, len(b) / 2, 2 * len(b) / 3, len(b) - 3} {
			flipped := bytes.Clone(b)
			flipped[at] ^= 0x10
			f.Add(flipped)
		}
	}
	const maxPixels = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := &Decoder{MaxPixels: maxPixels}
		_, cerr := dec.Check(context.Background(), data)
		_, derr := dec.Decode(context.Background(), data)
		if !sameError(cerr, derr) {
			t.Fatalf("Check: %v; Decode: %v", cerr, derr)
		}
		err := checkJPEG(data)
		if err == nil {
			cfg, cfgErr := jpeg.DecodeConfig(bytes.NewReader(data))
			if cfgErr != nil {
				t.Fatalf("checker vouched, DecodeConfig refuses: %v", cfgErr)
			}
			if cfg.Width*cfg.Height <= maxPixels {
				if derr := decodes(data); derr != nil {
					t.Fatalf("checker vouched, image/jpeg refuses: %v", derr)
				}
			}
		} else {
			var ns notSure
			if !errors.As(err, &ns) {
				t.Fatalf("checker error %v is not a notSure", err)
			}
		}
	})
}

// uploadLikeJPEG makes a photo-like JPEG as scripts/uploadbench jpeg does:
// gradients with noise, quality 85 (928×696 is the 100 KB upload).
func uploadLikeJPEG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	noise := make([]byte, w*h)
	rand.NewChaCha8([32]byte{1}).Read(noise)
	for y := range h {
		for x := range w {
			n := noise[y*w+x] / 24
			img.Set(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y)*127/(w+h)) + n, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkJPEGCheck compares the checker with image/jpeg's decoding, on
// the 100 KB upload image and on a 12-megapixel one.
func BenchmarkJPEGCheck(b *testing.B) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"upload928x696", 928, 696}, {"photo4000x3000", 4000, 3000}} {
		data := uploadLikeJPEG(b, size.w, size.h)
		if err := checkJPEG(data); err != nil {
			b.Fatal(err)
		}
		b.Run(size.name+"/check", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := checkJPEG(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := decodes(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/Decoder.Check", func(b *testing.B) {
			d := &Decoder{Budget: &Budget{}}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := d.Check(context.Background(), data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/Decoder.Decode", func(b *testing.B) {
			d := &Decoder{Budget: &Budget{}}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				dec, err := d.Decode(context.Background(), data)
				if err != nil {
					b.Fatal(err)
				}
				dec.Release()
			}
		})
	}
}

// jpegBuilder writes a JPEG segment by segment, for tests.
type jpegBuilder struct{ bytes.Buffer }

// newJPEGBuilder starts a JPEG: SOI, then quantization table 0 of ones.
func newJPEGBuilder() *jpegBuilder {
	b := &jpegBuilder{}
	b.Write([]byte{0xff, 0xd8})
	dqt := []byte{0x00}
	for range 64 {
		dqt = append(dqt, 1)
	}
	b.seg(0xdb, dqt...)
	return b
}

// seg writes a marker segment: marker m, its length, then body.
func (b *jpegBuilder) seg(m byte, body ...byte) {
	b.Write([]byte{0xff, m, byte((len(body) + 2) >> 8), byte(len(body) + 2)})
	b.Write(body)
}
