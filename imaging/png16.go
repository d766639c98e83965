package imaging

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
)

// pngHeader is what a PNG's chunks before the pixels say.
type pngHeader struct {
	width, height int
	depth         byte // bits a sample
	colorType     byte // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
	interlaced    bool
	trns          []byte // the tRNS chunk's data, if any
}

// PNG color types.
const (
	pngGray      = 0
	pngRGB       = 2
	pngPaletted  = 3
	pngGrayAlpha = 4
	pngRGBA      = 6
)

var errPNGHeader = errors.New("png: no IHDR")

// readPNGHeader reads the IHDR chunk and looks for tRNS before the first
// IDAT. It checks no CRCs: that is decoding's job.
func readPNGHeader(b []byte) (pngHeader, error) {
	var h pngHeader
	p := 8
	for first := true; p+8 <= len(b); first = false {
		n := int(binary.BigEndian.Uint32(b[p:]))
		kind := string(b[p+4 : p+8])
		if n < 0 || p+12+n > len(b) {
			break
		}
		d := b[p+8 : p+8+n]
		switch {
		case first && kind == "IHDR" && n == 13:
			h.width = int(binary.BigEndian.Uint32(d[0:]))
			h.height = int(binary.BigEndian.Uint32(d[4:]))
			h.depth, h.colorType, h.interlaced = d[8], d[9], d[12] == 1
		case first:
			return h, errPNGHeader
		case kind == "tRNS":
			h.trns = d
		case kind == "IDAT":
			return h, nil
		}
		p += 12 + n
	}
	if h.width == 0 {
		return h, errPNGHeader
	}
	return h, nil
}

// decodePNG16 decodes a PNG of 16 bits a sample straight to 8 bits a
// sample, keeping each sample's high byte, as converting image/png's
// result would, without its 16-bit image: that takes 8 bytes a pixel for
// color (RGBA64, NRGBA64), twice what the 8-bit one takes, and is only
// ever shown, thumbnailed or analysed at 8 bits.
//
// The result is an *image.Gray (opaque gray), *image.RGBA (opaque color)
// or *image.NRGBA (with alpha). It checks what image/png checks: chunk
// CRCs, the zlib stream and its checksum, the filters, and that the data
// ends with IEND.
func decodePNG16(b []byte) (image.Image, error) {
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return nil, errors.New("png: not a PNG file")
	}
	var (
		h        pngHeader
		idat     []io.Reader
		idatDone bool // a chunk other than IDAT came after IDATs
		seenIEND bool
	)
	p := 8
	for first := true; !seenIEND; first = false {
		if p+8 > len(b) {
			return nil, io.ErrUnexpectedEOF
		}
		n := int(binary.BigEndian.Uint32(b[p:]))
		kind := string(b[p+4 : p+8])
		if n < 0 || n > len(b) || p+12+n > len(b) {
			return nil, io.ErrUnexpectedEOF
		}
		d := b[p+8 : p+8+n]
		if crc32.ChecksumIEEE(b[p+4:p+8+n]) != binary.BigEndian.Uint32(b[p+8+n:]) {
			return nil, png.FormatError("invalid checksum")
		}
		p += 12 + n
		switch {
		case first:
			if kind != "IHDR" || n != 13 {
				return nil, png.FormatError("missing IHDR")
			}
			h.width = int(binary.BigEndian.Uint32(d[0:]))
			h.height = int(binary.BigEndian.Uint32(d[4:]))
			h.depth, h.colorType = d[8], d[9]
			switch {
			case d[10] != 0:
				return nil, png.UnsupportedError("compression method")
			case d[11] != 0:
				return nil, png.UnsupportedError("filter method")
			case d[12] > 1:
				return nil, png.FormatError("invalid interlace method")
			}
			h.interlaced = d[12] == 1
		case kind == "IHDR":
			return nil, png.FormatError("chunk out of order")
		case kind == "tRNS":
			if len(idat) > 0 {
				return nil, png.FormatError("chunk out of order")
			}
			h.trns = d
		case kind == "IDAT":
			if idatDone {
				return nil, png.FormatError("chunk out of order")
			}
			idat = append(idat, bytes.NewReader(d))
		case kind == "IEND":
			seenIEND = true
		}
		if kind != "IDAT" && len(idat) > 0 {
			idatDone = true
		}
	}
	if h.depth != 16 || (h.colorType != pngGray && h.colorType != pngRGB && h.colorType != pngGrayAlpha && h.colorType != pngRGBA) {
		return nil, fmt.Errorf("png: decodePNG16: bit depth %d, color type %d", h.depth, h.colorType)
	}
	if len(idat) == 0 {
		return nil, png.FormatError("no image data")
	}
	if h.width <= 0 || h.height <= 0 || int64(h.width)*int64(h.height) > 1<<40 {
		return nil, png.FormatError("invalid image size")
	}
	var key []uint16 // the one transparent color of a gray or RGB image
	switch {
	case h.trns == nil:
	case h.colorType == pngGray && len(h.trns) == 2:
		key = []uint16{binary.BigEndian.Uint16(h.trns)}
	case h.colorType == pngRGB && len(h.trns) == 6:
		key = []uint16{binary.BigEndian.Uint16(h.trns), binary.BigEndian.Uint16(h.trns[2:]), binary.BigEndian.Uint16(h.trns[4:])}
	default:
		return nil, png.FormatError("bad tRNS length")
	}

	zr, err := zlib.NewReader(io.MultiReader(idat...))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	channels := map[byte]int{pngGray: 1, pngRGB: 3, pngGrayAlpha: 2, pngRGBA: 4}[h.colorType]
	bpp := 2 * channels
	w, ht := h.width, h.height
	rect := image.Rect(0, 0, w, ht)
	var (
		gray *image.Gray
		rgba *image.RGBA
		nrgb *image.NRGBA
	)
	switch {
	case h.colorType == pngGray && key == nil:
		gray = image.NewGray(rect)
	case h.colorType == pngRGB && key == nil:
		rgba = image.NewRGBA(rect)
	default:
		nrgb = image.NewNRGBA(rect)
	}
	// put stores the samples of one row (16 bits each, big-endian) at
	// pixels x0, x0+dx, ... of row y.
	put := func(row []byte, y, x0, dx int) {
		switch {
		case gray != nil:
			o := y*gray.Stride + x0
			for i := 0; i < len(row); i += 2 {
				gray.Pix[o] = row[i]
				o += dx
			}
		case rgba != nil:
			o := y*rgba.Stride + 4*x0
			for i := 0; i < len(row); i += 6 {
				px := rgba.Pix[o : o+4 : o+4]
				px[0], px[1], px[2], px[3] = row[i], row[i+2], row[i+4], 0xff
				o += 4 * dx
			}
		default:
			o := y*nrgb.Stride + 4*x0
			for i := 0; i < len(row); i += bpp {
				px := nrgb.Pix[o : o+4 : o+4]
				s := row[i : i+bpp : i+bpp]
				switch h.colorType {
				case pngGray:
					px[0], px[1], px[2], px[3] = s[0], s[0], s[0], 0xff
					if binary.BigEndian.Uint16(s) == key[0] {
						px[3] = 0
					}
				case pngRGB:
					px[0], px[1], px[2], px[3] = s[0], s[2], s[4], 0xff
					if binary.BigEndian.Uint16(s) == key[0] && binary.BigEndian.Uint16(s[2:]) == key[1] && binary.BigEndian.Uint16(s[4:]) == key[2] {
						px[3] = 0
					}
				case pngGrayAlpha:
					px[0], px[1], px[2], px[3] = s[0], s[0], s[0], s[2]
				case pngRGBA:
					px[0], px[1], px[2], px[3] = s[0], s[2], s[4], s[6]
				}
				o += 4 * dx
			}
		}
	}
	type pass struct{ x0, y0, dx, dy int }
	passes := []pass{{0, 0, 1, 1}}
	if h.interlaced {
		passes = []pass{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	}
	cr := make([]byte, 1+bpp*w)
	pr := make([]byte, 1+bpp*w)
	for _, ps := range passes {
		pw := (w - ps.x0 + ps.dx - 1) / ps.dx
		ph := (ht - ps.y0 + ps.dy - 1) / ps.dy
		if pw <= 0 || ph <= 0 {
			continue
		}
		n := 1 + bpp*pw
		cur, prev := cr[:n], pr[:n]
		clear(prev)
		for y := range ph {
			if _, err := io.ReadFull(zr, cur); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
			if err := unfilter(cur, prev, bpp); err != nil {
				return nil, err
			}
			put(cur[1:], ps.y0+y*ps.dy, ps.x0, ps.dx)
			cur, prev = prev, cur
		}
	}
	// Read to the end, so that the zlib checksum is checked, and refuse
	// pixels beyond the image.
	var extra [1]byte
	if n, err := io.ReadFull(zr, extra[:]); n > 0 {
		return nil, png.FormatError("too much pixel data")
	} else if err != io.EOF {
		return nil, err
	}
	switch {
	case gray != nil:
		return gray, nil
	case rgba != nil:
		return rgba, nil
	}
	return nrgb, nil
}

// unfilter undoes a row's PNG filter in place: cur[0] names the filter,
// cur[1:] are the filtered bytes and prev[1:] the previous row, unfiltered.
func unfilter(cur, prev []byte, bpp int) error {
	c, p := cur[1:], prev[1:]
	switch cur[0] {
	case 0: // none
	case 1: // sub
		for i := bpp; i < len(c); i++ {
			c[i] += c[i-bpp]
		}
	case 2: // up
		for i, v := range p {
			c[i] += v
		}
	case 3: // average
		for i := range bpp {
			c[i] += p[i] / 2
		}
		for i := bpp; i < len(c); i++ {
			c[i] += uint8((int(c[i-bpp]) + int(p[i])) / 2)
		}
	case 4: // Paeth
		for i := range bpp {
			c[i] += paeth(0, p[i], 0)
		}
		for i := bpp; i < len(c); i++ {
			c[i] += paeth(c[i-bpp], p[i], p[i-bpp])
		}
	default:
		return png.FormatError("bad filter type")
	}
	return nil
}

// paeth is the Paeth predictor of a (left), b (above) and c (above left).
func paeth(a, b, c uint8) uint8 {
	pc := int(c)
	pa := int(b) - pc
	pb := int(a) - pc
	pcd := pa + pb
	pa, pb, pcd = absInt(pa), absInt(pb), absInt(pcd)
	if pa <= pb && pa <= pcd {
		return a
	} else if pb <= pcd {
		return b
	}
	return c
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
