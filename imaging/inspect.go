// Package imaging checks uploaded images and makes thumbnails of them, with
// the standard library's decoders and golang.org/x/image/webp.
package imaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"time"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/pixpool/pixpool"
)

// DefaultMaxPixels is the pixel limit when none is given: 64 million, a
// 8000×8000 image, above what cameras make (61 million). Decoded to 8 bits a
// sample, such an image takes 64 MB (gray) to 256 MB (color); see
// decodeCost.
const DefaultMaxPixels = 64_000_000

// Info describes an image that Inspect accepted.
type Info struct {
	ContentType string // image/jpeg, image/png, image/gif or image/webp
	Format      string // jpeg, png, gif or webp
	Width       int
	Height      int
}

// format is one image format that pixpool takes.
type format struct {
	name, contentType string
	magic             func([]byte) bool
	decodeConfig      func(io.Reader) (image.Config, error)
	decode            func(io.Reader) (image.Image, error)
}

// formats are called directly, after our own magic check, rather than
// through image.Decode's process-wide registry: what we sniffed is what
// decodes, whatever else a program links in.
var formats = []format{
	{"jpeg", "image/jpeg", hasPrefix("\xff\xd8\xff"), jpeg.DecodeConfig, jpeg.Decode},
	{"png", "image/png", hasPrefix("\x89PNG\r\n\x1a\n"), png.DecodeConfig, png.Decode},
	{"gif", "image/gif", isGIF, gif.DecodeConfig, gif.Decode},
	{"webp", "image/webp", isWebP, webp.DecodeConfig, webp.Decode},
}

func hasPrefix(magic string) func([]byte) bool {
	return func(b []byte) bool { return bytes.HasPrefix(b, []byte(magic)) }
}

func isGIF(b []byte) bool {
	return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
}

func isWebP(b []byte) bool {
	return len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP"
}

// Inspect checks that data is a whole JPEG, PNG, GIF or WebP image of at most
// maxPixels pixels (0 means DefaultMaxPixels), judging by content alone, and
// returns what it is together with the decoded image, so that a thumbnail
// needs no second decoding. For an animated GIF the image is the first frame.
// A PNG of 16 bits a sample is decoded to 8 bits a sample.
//
// Every error is a *pixpool.Error whose message can be shown to the user:
// EUNSUPPORTED for other formats, animated WebP and the rare JPEG and PNG
// features Go does not decode (arithmetic coding, 12-bit samples); EINVALID
// for an image that is too large, damaged or truncated.
//
// Inspect takes no memory budget; servers decode with a Decoder.
func Inspect(data []byte, maxPixels int) (Info, image.Image, error) {
	d, err := (&Decoder{MaxPixels: maxPixels}).Decode(context.Background(), data)
	if err != nil {
		return Info{}, nil, err
	}
	d.Release()
	return d.Info, d.Image, nil
}

// Decoder decodes images, as Inspect does, within a memory Budget.
type Decoder struct {
	// MaxPixels bounds width×height. If zero, DefaultMaxPixels.
	MaxPixels int
	// Budget bounds the decoded bytes that every decode sharing it holds
	// at once. If nil, decoding is not bounded.
	Budget *Budget
	// Wait is how long to wait for room in Budget. If zero, the Budget's
	// Wait; if negative, until the context ends.
	Wait time.Duration
	// Background decodes take only spare room in Budget, waiting until
	// the context ends, and at most half of it (Budget.AcquireSpare).
	Background bool
	// Extra, if set, returns the bytes the caller will allocate for a w×h
	// image on top of the decoded one (recognition's copies); they are
	// reserved with it.
	Extra func(w, h int) int64
}

// Decoded is a decoded image holding its share of a Budget until Release.
type Decoded struct {
	Info
	Image image.Image
	// Cost is the bytes reserved for it.
	Cost    int64
	release func()
}

// Release gives the image's share of the Budget back. The image must not
// be used afterwards. Calling it again does nothing.
func (d *Decoded) Release() {
	if d != nil && d.release != nil {
		d.release()
	}
}

// Decode checks and decodes data as Inspect does. Before decoding it
// reserves in the Budget what the decoding will allocate, judged from the
// headers (decodeCost); the caller must Release the result when done with
// the image. Besides Inspect's errors, it returns EINVALID for an image
// whose decoding needs more than the whole Budget, EUNAVAILABLE when the
// Budget had no room within Wait, and ctx's error.
func (d *Decoder) Decode(ctx context.Context, data []byte) (_ *Decoded, err error) {
	f, info, cost, err := d.prepare(data)
	if err != nil {
		return nil, err
	}
	out := &Decoded{Info: info, Cost: cost, release: func() {}}
	switch {
	case d.Budget != nil && d.Background:
		out.release, err = d.Budget.AcquireSpare(ctx, out.Cost)
	case d.Budget != nil:
		out.release, err = d.Budget.Acquire(ctx, out.Cost, d.Wait)
	}
	if err != nil {
		return nil, err
	}
	// Give the reservation back on every failure, panics included.
	defer func() {
		if err != nil || out.Image == nil {
			out.release()
		}
	}()

	// Decode it all: headers can be whole while the pixels are cut short.
	img, err := decodeFormat(f, data)
	if err != nil {
		return nil, damaged(err)
	}
	w, h := info.Width, info.Height
	if f.name == "gif" {
		// gif.Decode stops after the first frame; make sure the rest is
		// there too.
		if err := checkGIF(data); err != nil {
			return nil, damaged(err)
		}
		img = gifCanvas(img, w, h)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		return nil, damaged(fmt.Errorf("the header says %d×%d pixels but the image is %d×%d", w, h, b.Dx(), b.Dy()))
	}
	out.Image = img
	return out, nil
}

// checkCost is what Check reserves in the Budget when it checks a JPEG
// without decoding it: the checker's Huffman tables and state.
const checkCost = 32 << 10

// Check checks data as Decode does, with the same errors, but makes no
// image when it can avoid it: a JPEG that the checker (checkJPEG) vouches
// for is only entropy-decoded, reserving a few kilobytes in the Budget.
// Any other image, and any JPEG the checker is not sure of, is decoded in
// full as Decode does, within the Budget, and let go at once. An image
// whose decoding would need more than the whole Budget is refused as
// Decode refuses it, since nothing could make its thumbnail later.
func (d *Decoder) Check(ctx context.Context, data []byte) (Info, error) {
	f, info, cost, err := d.prepare(data)
	if err != nil {
		return Info{}, err
	}
	// The fast path only where Decode's own reservation would be granted
	// (all of the Budget, half in the background), and the checker's too:
	// elsewhere Decode gives the verdict and its error.
	limit := int64(0)
	if d.Budget != nil {
		limit = d.Budget.Size()
		if d.Background {
			limit /= 2
		}
	}
	if f.name == "jpeg" && (d.Budget == nil || cost <= limit && checkCost <= limit) {
		var release func()
		switch {
		case d.Budget != nil && d.Background:
			release, err = d.Budget.AcquireSpare(ctx, checkCost)
		case d.Budget != nil:
			release, err = d.Budget.Acquire(ctx, checkCost, d.Wait)
		default:
			release = func() {}
		}
		if err != nil {
			return Info{}, err
		}
		verdict := func() error {
			defer release() // panics included, as in Decode
			return checkJPEG(data)
		}()
		if verdict == nil {
			return info, nil
		}
	}
	dec, err := d.Decode(ctx, data)
	if err != nil {
		return Info{}, err
	}
	dec.Release()
	return dec.Info, nil
}

// prepare finds data's format, reads its size from the headers, refuses
// what Decode refuses before decoding, and returns what decoding will cost.
func (d *Decoder) prepare(data []byte) (*format, Info, int64, error) {
	maxPixels := d.MaxPixels
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	var f *format
	for i := range formats {
		if formats[i].magic(data) {
			f = &formats[i]
			break
		}
	}
	if f == nil {
		return nil, Info{}, 0, pixpool.Errorf(pixpool.EUNSUPPORTED, "The file is not a JPEG, PNG, GIF or WebP image.")
	}

	// The header alone tells the size; refuse large images before decoding
	// allocates for them, so a small file claiming a huge size (a
	// decompression bomb) costs nothing.
	cfg, err := f.decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, Info{}, 0, damaged(err)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return nil, Info{}, 0, pixpool.Errorf(pixpool.EINVALID, "The image is empty: %d×%d pixels.", w, h)
	}
	if int64(w)*int64(h) > int64(maxPixels) {
		return nil, Info{}, 0, pixpool.Errorf(pixpool.EINVALID, "The image is too large: %d×%d pixels (at most %s).", w, h, pixels(maxPixels))
	}

	if f.name == "webp" && isAnimatedWebP(data) {
		// x/image/webp decodes still images only.
		return nil, Info{}, 0, pixpool.Errorf(pixpool.EUNSUPPORTED, "Animated WebP images are not supported.")
	}
	info := Info{ContentType: f.contentType, Format: f.name, Width: w, Height: h}
	cost := decodeCost(f, data, w, h, cfg.ColorModel)
	if d.Extra != nil {
		cost += d.Extra(w, h)
	}
	return f, info, cost, nil
}

// decodeFormat decodes data, a PNG of 16 bits a sample to 8 bits.
func decodeFormat(f *format, data []byte) (image.Image, error) {
	if f.name == "png" {
		if h, err := readPNGHeader(data); err == nil && h.depth == 16 && h.colorType != pngPaletted {
			return decodePNG16(data)
		}
	}
	return f.decode(bytes.NewReader(data))
}

// gifCanvas returns a GIF's first frame on the full logical screen. A frame
// may cover only part of the screen; the rest is transparent.
func gifCanvas(frame image.Image, w, h int) image.Image {
	screen := image.Rect(0, 0, w, h)
	if frame.Bounds() == screen {
		return frame
	}
	m := image.NewNRGBA(screen)
	draw.Draw(m, frame.Bounds(), frame, frame.Bounds().Min, draw.Src)
	return m
}

// isAnimatedWebP reports whether a WebP file has an extended header (VP8X)
// with the animation flag set.
func isAnimatedWebP(b []byte) bool {
	return len(b) > 20 && string(b[12:16]) == "VP8X" && b[20]&0x02 != 0
}

// damaged returns the error for an image that does not decode: EUNSUPPORTED
// if the decoder does not know a feature, else EINVALID.
func damaged(err error) error {
	var ju jpeg.UnsupportedError
	if errors.As(err, &ju) {
		return pixpool.Errorf(pixpool.EUNSUPPORTED, "The image uses a JPEG feature that is not supported: %s.", string(ju))
	}
	var pu png.UnsupportedError
	if errors.As(err, &pu) {
		return pixpool.Errorf(pixpool.EUNSUPPORTED, "The image uses a PNG feature that is not supported: %s.", string(pu))
	}
	reason := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		reason = "the file ends too early"
	}
	return pixpool.Errorf(pixpool.EINVALID, "The image is damaged or truncated: %s.", reason)
}

// pixels formats a pixel count for people: "100 million", "2.5 million",
// "4096 pixels".
func pixels(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%d million", n/1_000_000)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1f million", float64(n)/1e6)
	}
	return fmt.Sprintf("%d pixels", n)
}
