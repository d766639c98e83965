package imaging

import (
	"encoding/binary"
	"image/color"
)

// decodeCost returns the bytes that decoding a w×h image of format f
// allocates, from its headers alone, so that a Budget can be asked for
// them before any are taken. It follows what the decoders allocate:
//
//   - PNG: 1 byte a pixel for gray and paletted images, 4 for color or
//     alpha (16-bit samples are decoded to 8 bits by decodePNG16);
//     image/png decodes an interlaced image pass by pass into images of
//     their own before it assembles them, twice the memory.
//   - JPEG: one byte a sample of each component, counted in whole blocks
//     (1.5 bytes a pixel for the usual 4:2:0 color); a progressive JPEG
//     also keeps every coefficient (4 bytes a sample) until the last
//     scan; CMYK and RGB add their 4-byte-a-pixel result.
//   - GIF: the paletted first frame, and a 4-byte-a-pixel canvas when the
//     frame covers only part of the screen.
//   - WebP: 2.5 bytes a pixel for lossy (4:2:0 and alpha); lossless
//     decodes to 4-byte ARGB words and then to NRGBA, 8 bytes a pixel.
func decodeCost(f *format, data []byte, w, h int, model color.Model) int64 {
	px := int64(w) * int64(h)
	switch f.name {
	case "png":
		hd, err := readPNGHeader(data)
		if err != nil {
			return 8 * px
		}
		bpp := int64(4)
		if hd.colorType == pngPaletted || hd.colorType == pngGray && hd.trns == nil {
			bpp = 1
		}
		if hd.interlaced && hd.depth != 16 {
			bpp *= 2
		}
		return bpp * px
	case "jpeg":
		return jpegCost(data, w, h)
	case "gif":
		return 5 * px
	case "webp":
		// The color model DecodeConfig reports is not enough: a VP8X
		// container says YCbCr for a lossless (VP8L) image without alpha.
		if model == color.NRGBAModel || webpLossless(data) {
			return 8 * px
		}
		return 5 * px / 2
	}
	return 8 * px
}

// webpLossless reports whether a WebP file holds a lossless (VP8L)
// bitstream, or cannot be read far enough to tell: its RIFF chunks are
// walked for one, up to the first lossy (VP8) one.
func webpLossless(b []byte) bool {
	const header = 12 // "RIFF", size, "WEBP"
	for p := header; ; {
		if p+8 > len(b) {
			return true
		}
		switch string(b[p : p+4]) {
		case "VP8L":
			return true
		case "VP8 ":
			return false
		}
		n := int64(binary.LittleEndian.Uint32(b[p+4:]))
		next := int64(p) + 8 + n + n&1 // chunks are padded to even sizes
		if next > int64(len(b)) {
			return true
		}
		p = int(next)
	}
}

// jpegCost returns what image/jpeg allocates for a w×h JPEG, from its
// frame header; 15 bytes a pixel (progressive 4:4:4) if that is missing.
func jpegCost(b []byte, w, h int) int64 {
	worst := 15 * int64(w) * int64(h)
	adobeRGB := false // an APP14 "Adobe" segment says the samples are RGB
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xff {
			return worst
		}
		m := b[p+1]
		if m == 0xff { // fill byte
			p++
			continue
		}
		if m == 0xd8 || m == 0x01 || m >= 0xd0 && m <= 0xd7 { // no length
			p += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(b[p+2:]))
		if n < 2 {
			return worst
		}
		seg := b[p+4 : min(p+2+n, len(b))]
		if m == 0xee && len(seg) >= 12 && string(seg[:5]) == "Adobe" {
			adobeRGB = seg[11] == 0
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			// SOFn: precision, height, width, components, then 3 bytes
			// each: id, sampling factors (h<<4|v), quantization table.
			if len(seg) < 6 {
				return worst
			}
			nc := int(seg[5])
			if nc < 1 || len(seg) < 6+3*nc {
				return worst
			}
			maxH, maxV := 1, 1
			for i := range nc {
				f := seg[6+3*i+1]
				maxH, maxV = max(maxH, int(f>>4)), max(maxV, int(f&15))
			}
			mxx := int64((w + 8*maxH - 1) / (8 * maxH))
			myy := int64((h + 8*maxV - 1) / (8 * maxV))
			var samples int64
			for i := range nc {
				f := seg[6+3*i+1]
				samples += mxx * int64(f>>4) * myy * int64(f&15) * 64
			}
			cost := samples
			if m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce { // progressive
				cost += 4 * samples
			}
			rgb := nc == 3 && (adobeRGB || seg[6] == 'R' && seg[9] == 'G' && seg[12] == 'B')
			if nc == 4 || rgb { // converted to CMYK or RGBA
				cost += 4 * int64(w) * int64(h)
			}
			return cost
		}
		p += 2 + n
	}
	return worst
}
