package imaging

import (
	"bytes"
	"encoding/binary"
	"image"
)

// Orientation is the EXIF orientation of an image (1 to 8): how its
// stored pixels must be turned to be upright. Cameras store portraits
// sideways and say so here; browsers honour it when they show the
// original, so a variant that did not would come out turned.
type Orientation int

// Upright is the orientation of pixels stored as they are seen.
const Upright Orientation = 1

// ReadOrientation returns the EXIF orientation of a JPEG (APP1), PNG
// (eXIf) or WebP (EXIF chunk) file, or Upright if it has none or cannot
// be read. It reads only the metadata, a few kilobytes at most.
func ReadOrientation(data []byte) Orientation {
	var tiff []byte
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		tiff = jpegEXIF(data)
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		tiff = chunkEXIF(data[8:], "eXIf", binary.BigEndian, 4, true)
	case isWebP(data):
		tiff = chunkEXIF(data[12:], "EXIF", binary.LittleEndian, 0, false)
		tiff, _ = bytes.CutPrefix(tiff, []byte("Exif\x00\x00")) // some writers keep the JPEG marker
	}
	if o := tiffOrientation(tiff); o >= 1 && o <= 8 {
		return Orientation(o)
	}
	return Upright
}

// jpegEXIF returns the TIFF data of a JPEG's Exif APP1 segment, walking
// the segments before the image data.
func jpegEXIF(b []byte) []byte {
	for p := 2; p+4 <= len(b); {
		if b[p] != 0xff {
			return nil
		}
		marker := b[p+1]
		if marker == 0xff { // fill byte
			p++
			continue
		}
		if marker == 0xda || marker == 0xd9 { // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[p+2:]))
		if n < 2 || p+2+n > len(b) {
			return nil
		}
		seg := b[p+4 : p+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		p += 2 + n
	}
	return nil
}

// chunkEXIF returns the body of the chunk named name in a PNG's (lengths
// big-endian, before the name, with a CRC after) or a RIFF's (name first,
// lengths little-endian, padded to even) list of chunks.
func chunkEXIF(b []byte, name string, order binary.ByteOrder, crc int, lengthFirst bool) []byte {
	for len(b) >= 8 {
		var n uint32
		var id string
		if lengthFirst {
			n, id = order.Uint32(b), string(b[4:8])
		} else {
			id, n = string(b[:4]), order.Uint32(b[4:])
		}
		if uint64(n) > uint64(len(b)-8) {
			return nil
		}
		if id == name {
			return b[8 : 8+n]
		}
		if id == "IDAT" || id == "VP8 " || id == "VP8L" {
			return nil // metadata comes before the pixels in practice
		}
		next := 8 + int(n) + crc
		if !lengthFirst {
			next += int(n & 1)
		}
		if next > len(b) {
			return nil
		}
		b = b[next:]
	}
	return nil
}

// tiffOrientation returns the Orientation tag (0x0112) of the first IFD
// of TIFF data, or 0.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var order binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 0
	}
	ifd := order.Uint32(t[4:])
	if uint64(ifd)+2 > uint64(len(t)) {
		return 0
	}
	n := int(order.Uint16(t[ifd:]))
	for i := range n {
		e := int(ifd) + 2 + 12*i
		if e+12 > len(t) {
			return 0
		}
		if order.Uint16(t[e:]) == 0x0112 && order.Uint16(t[e+2:]) == 3 { // SHORT
			return int(order.Uint16(t[e+8:]))
		}
	}
	return 0
}

// swapsSides reports whether o turns the image a quarter: the upright
// image's width is the stored height.
func (o Orientation) swapsSides() bool { return o >= 5 && o <= 8 }

// orient returns m turned upright from orientation o: a new image,
// or m itself if o is Upright.
func orient(m *image.RGBA, o Orientation) *image.RGBA {
	if o <= Upright || o > 8 {
		return m
	}
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o.swapsSides() {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		src := m.Pix[y*m.Stride : y*m.Stride+4*w]
		for x := range w {
			// Where stored pixel (x, y) goes in the upright image; see
			// the EXIF specification's table of the 8 orientations.
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // turned 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // mirrored along the main diagonal
				dx, dy = y, x
			case 6: // turned 90° counter-clockwise: turn clockwise
				dx, dy = h-1-y, x
			case 7: // mirrored along the other diagonal
				dx, dy = h-1-y, w-1-x
			case 8: // turned 90° clockwise: turn counter-clockwise
				dx, dy = y, w-1-x
			}
			copy(dst.Pix[dy*dst.Stride+4*dx:dy*dst.Stride+4*dx+4], src[4*x:4*x+4])
		}
	}
	return dst
}
