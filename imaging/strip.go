package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"

	"github.com/pixpool/pixpool"
)

// Stripped is an image without its metadata, and what that metadata said.
type Stripped struct {
	// Data is the image to serve: the upload's bytes less the metadata
	// blocks, with the pixels' encoding untouched. It is the upload itself
	// (the same slice) when there was nothing to remove.
	Data []byte
	// Metadata is what the removed EXIF said, and Stripped and Kept in
	// words.
	Metadata pixpool.ImageMetadata
}

// What Strip reports removing and keeping, in words.
const (
	removedExif      = "EXIF (camera, settings, time)"
	removedGPS       = "GPS position"
	removedXMP       = "XMP"
	removedIPTC      = "IPTC / Photoshop data"
	removedComment   = "comments"
	removedText      = "text (author, description, software)"
	removedTime      = "modification time"
	removedOther     = "other application data"
	removedTrailer   = "data after the end of the image"
	removedThumbnail = "embedded thumbnail"
	keptICC          = "ICC colour profile"
	keptOrientation  = pixpool.KeptOrientation
	keptAnimation    = "animation settings"
	maxMetadataBlock = 1 << 20 // EXIF read for the owner at most
)

// errStrip marks an image whose structure Strip cannot follow.
var errStrip = errors.New("imaging: strip: damaged structure")

// Strip removes from an image (JPEG, PNG, GIF or WebP, already checked by
// a Decoder) the metadata that may say who took it, where and with what:
// EXIF (with its GPS position and embedded thumbnail), XMP, IPTC,
// comments, text chunks and data after the image's end. It keeps what the
// image's look depends on: ICC colour profiles, JFIF and Adobe colour
// transform markers, and a non-upright EXIF orientation, rewritten as a
// minimal EXIF block holding only that, so browsers still turn the photo.
// Nothing is decoded or re-encoded: the pixels are exactly the upload's.
//
// The input is hostile: every length is checked. Strip fails (EINVALID)
// only on a structure it cannot follow; an image that Decoder accepted
// has none.
func Strip(data []byte) (*Stripped, error) {
	var (
		s   *Stripped
		err error
	)
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		s, err = stripJPEG(data)
	case bytes.HasPrefix(data, []byte(pngSignature)):
		s, err = stripPNG(data)
	case isGIF(data):
		s, err = stripGIF(data)
	case isWebP(data):
		s, err = stripWebP(data)
	default:
		return nil, pixpool.Errorf(pixpool.EUNSUPPORTED, "The file is not a JPEG, PNG, GIF or WebP image.")
	}
	if err != nil {
		return nil, pixpool.Errorf(pixpool.EINVALID, "The image's metadata could not be removed: its structure is damaged. Save it again with an image editor and upload that.")
	}
	if len(s.Metadata.Stripped) == 0 {
		s.Data = data
	}
	return s, nil
}

// strip notes that what was removed, once.
func (s *Stripped) strip(what string) {
	if !slices.Contains(s.Metadata.Stripped, what) {
		s.Metadata.Stripped = append(s.Metadata.Stripped, what)
	}
}

// keep notes that what was kept, once.
func (s *Stripped) keep(what string) {
	if !slices.Contains(s.Metadata.Kept, what) {
		s.Metadata.Kept = append(s.Metadata.Kept, what)
	}
}

// exif reads removed EXIF data for the owner (the first block only) and
// returns the orientation to keep, 0 if none.
func (s *Stripped) exif(b []byte, seen *bool) int {
	s.strip(removedExif)
	if *seen || len(b) > maxMetadataBlock {
		return 0
	}
	*seen = true
	ParseExif(b, &s.Metadata)
	if s.Metadata.GPS != nil {
		s.strip(removedGPS)
	}
	if o := s.Metadata.Orientation; o > 1 {
		s.keep(keptOrientation)
		return o
	}
	return 0
}

// stripJPEG copies a JPEG's segments but the metadata ones. Kept: APP0
// JFIF (pixel density, and the colour space of a 3-component image), APP2
// ICC_PROFILE, APP14 Adobe (the colour transform decoders follow); the
// scans are copied as they are, up to EOI. Removed: every other APPn (EXIF
// and XMP in APP1, FlashPix and MPF in APP2, IPTC in APP13, ...), COM, and
// anything after EOI (phones append depth maps, videos and vendor
// trailers).
func stripJPEG(b []byte) (*Stripped, error) {
	s := &Stripped{}
	out := make([]byte, 0, len(b))
	out = append(out, 0xff, 0xd8)
	var (
		orientation int
		exifSeen    bool
		insertAt    = 2 // where a kept orientation goes: after SOI and JFIF
	)
	p := 2
	for {
		// A marker: one or more 0xff, then its code. Bytes before it are
		// junk that decoders skip (Go's and libjpeg's do): dropped.
		for p < len(b) && b[p] != 0xff {
			p++
		}
		for p < len(b) && b[p] == 0xff {
			p++
		}
		if p >= len(b) {
			return nil, errStrip
		}
		m := b[p]
		p++
		switch {
		case m == 0xd9: // EOI
			out = append(out, 0xff, 0xd9)
			if p < len(b) {
				s.strip(removedTrailer)
			}
			if orientation > 1 {
				out = slices.Insert(out, insertAt, jpegExifSegment(orientation)...)
			}
			s.Data = out
			return s, nil
		case m == 0x01 || (m >= 0xd0 && m <= 0xd7) || m == 0x00: // no length
			out = append(out, 0xff, m)
			continue
		}
		if p+2 > len(b) {
			return nil, errStrip
		}
		n := int(binary.BigEndian.Uint16(b[p:]))
		if n < 2 || p+n > len(b) {
			return nil, errStrip
		}
		seg := b[p+2 : p+n]
		end := p + n
		keep := true
		switch {
		case m == 0xe0:
			keep = bytes.HasPrefix(seg, []byte("JFIF\x00"))
			if !keep {
				s.strip(removedOther)
			}
		case m == 0xe1:
			keep = false
			switch {
			case bytes.HasPrefix(seg, []byte(exifPrefix)):
				if o := s.exif(seg[len(exifPrefix):], &exifSeen); o > 1 && orientation == 0 {
					orientation = o
				}
			case bytes.HasPrefix(seg, []byte("http://ns.adobe.com/")):
				s.strip(removedXMP)
			default:
				s.strip(removedOther)
			}
		case m == 0xe2:
			keep = bytes.HasPrefix(seg, []byte("ICC_PROFILE\x00"))
			if keep {
				s.keep(keptICC)
			} else {
				s.strip(removedOther)
			}
		case m == 0xed:
			keep = false
			s.strip(removedIPTC)
		case m == 0xee:
			keep = bytes.HasPrefix(seg, []byte("Adobe"))
			if !keep {
				s.strip(removedOther)
			}
		case m >= 0xe3 && m <= 0xef:
			keep = false
			s.strip(removedOther)
		case m == 0xfe:
			keep = false
			s.strip(removedComment)
		}
		if keep {
			before := len(out)
			if m == 0xe0 && len(seg) > jfifHeader {
				// A JFIF thumbnail (width, height, then RGB pixels)
				// shows what the photo was when it was written, before
				// a crop perhaps: the header is kept without it.
				s.strip(removedThumbnail)
				out = append(out, 0xff, 0xe0, 0, 2+jfifHeader)
				out = append(out, seg[:jfifHeader-2]...)
				out = append(out, 0, 0)
			} else {
				out = append(out, b[p-2:end]...)
			}
			if m == 0xe0 && before == 2 {
				insertAt = len(out)
			}
		}
		p = end
		if m == 0xda { // SOS: entropy-coded data up to the next marker
			q := p
			for {
				i := bytes.IndexByte(b[q:], 0xff)
				if i < 0 {
					return nil, errStrip // no EOI
				}
				q += i
				if q+1 >= len(b) {
					return nil, errStrip
				}
				if c := b[q+1]; c == 0x00 || (c >= 0xd0 && c <= 0xd7) || c == 0xff {
					q++ // stuffed byte, restart marker or fill: still data
					if c != 0xff {
						q++
					}
					continue
				}
				break
			}
			out = append(out, b[p:q]...)
			p = q
		}
	}
}

// jfifHeader is the length of a JFIF APP0 segment's data up to its
// thumbnail: "JFIF\0", version, units, densities, thumbnail size.
const jfifHeader = 14

// jpegExifSegment is an APP1 segment of EXIF holding only orientation o.
func jpegExifSegment(o int) []byte {
	t := orientationExif(o)
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(exifPrefix)+len(t)))
	seg = append(seg, exifPrefix...)
	return append(seg, t...)
}

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngKeep are the ancillary PNG chunks kept: those that change how the
// pixels look (colour, transparency, gamma, density, HDR) or move (APNG's
// animation). Critical chunks (an upper-case first letter) are always kept.
var pngKeep = map[string]bool{
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "sBIT": true,
	"pHYs": true, "bKGD": true, "hIST": true, "cICP": true, "mDCV": true, "mDCv": true,
	"cLLI": true, "cLLi": true, "acTL": true, "fcTL": true, "fdAT": true,
}

// stripPNG copies a PNG's chunks but the metadata ones (eXIf, tEXt, zTXt,
// iTXt, tIME and any ancillary chunk not in pngKeep), up to IEND.
func stripPNG(b []byte) (*Stripped, error) {
	s := &Stripped{}
	out := make([]byte, 0, len(b))
	out = append(out, pngSignature...)
	var exifSeen bool
	p := len(pngSignature)
	for {
		if p+12 > len(b) {
			return nil, errStrip
		}
		n := binary.BigEndian.Uint32(b[p:])
		if uint64(n) > uint64(len(b)-p-12) {
			return nil, errStrip
		}
		end := p + 12 + int(n)
		typ := string(b[p+4 : p+8])
		data := b[p+8 : p+8+int(n)]
		switch {
		case typ[0]&0x20 == 0 || pngKeep[typ]: // critical, or kept
			out = append(out, b[p:end]...)
			switch typ {
			case "iCCP":
				s.keep(keptICC)
			case "acTL", "fcTL":
				s.keep(keptAnimation)
			}
		case typ == "eXIf":
			if o := s.exif(data, &exifSeen); o > 1 {
				out = appendPNGChunk(out, "eXIf", orientationExif(o))
			}
		case typ == "tEXt" || typ == "zTXt" || typ == "iTXt":
			if bytes.HasPrefix(data, []byte("XML:com.adobe.xmp\x00")) {
				s.strip(removedXMP)
			} else {
				s.strip(removedText)
			}
		case typ == "tIME":
			s.strip(removedTime)
		default:
			s.strip(removedOther)
		}
		p = end
		if typ == "IEND" {
			if p < len(b) {
				s.strip(removedTrailer)
			}
			s.Data = out
			return s, nil
		}
	}
}

// appendPNGChunk appends a chunk of type typ holding data, with its CRC.
func appendPNGChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	start := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
}

// stripGIF copies a GIF's blocks but comment extensions and application
// extensions other than looping (NETSCAPE2.0, ANIMEXTS1.0) and ICC
// profiles (ICCRGBG1), up to the trailer.
func stripGIF(b []byte) (*Stripped, error) {
	s := &Stripped{}
	const header = 6 + 7 // "GIF89a", logical screen descriptor
	if len(b) < header {
		return nil, errStrip
	}
	p := header + colorTableLen(b[10])
	if p > len(b) {
		return nil, errStrip
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:p]...)
	for {
		if p >= len(b) {
			return nil, errStrip
		}
		start := p
		keep := true
		switch b[p] {
		case 0x21: // extension: label, then data sub-blocks
			if p+2 > len(b) {
				return nil, errStrip
			}
			switch b[p+1] {
			case 0xfe:
				keep = false
				s.strip(removedComment)
			case 0xff:
				// The application's name is the first sub-block's 11 bytes.
				name := ""
				if p+3+11 <= len(b) && b[p+2] == 11 {
					name = string(b[p+3 : p+3+11])
				}
				switch name {
				case "NETSCAPE2.0", "ANIMEXTS1.0":
					s.keep(keptAnimation)
				case "ICCRGBG1012":
					s.keep(keptICC)
				case "XMP DataXMP":
					keep = false
					s.strip(removedXMP)
				default:
					keep = false
					s.strip(removedOther)
				}
			}
			p = skipSubBlocks(b, p+2)
		case 0x2c: // image descriptor, local color table, LZW code size, data
			p += 10
			if p > len(b) {
				return nil, errStrip
			}
			p += colorTableLen(b[p-1]) + 1
			p = skipSubBlocks(b, p)
		case 0x3b: // trailer
			out = append(out, 0x3b)
			if p+1 < len(b) {
				s.strip(removedTrailer)
			}
			s.Data = out
			return s, nil
		default:
			return nil, errStrip
		}
		if p < 0 || p > len(b) {
			return nil, errStrip
		}
		if keep {
			out = append(out, b[start:p]...)
		}
	}
}

// webpKeep are the WebP chunks kept: the image, its alpha, colour profile
// and animation. EXIF and XMP go, and any unknown chunk.
var webpKeep = map[string]bool{
	"VP8 ": true, "VP8L": true, "VP8X": true, "ALPH": true, "ICCP": true, "ANIM": true, "ANMF": true,
}

// VP8X flags telling that EXIF and XMP chunks follow.
const (
	vp8xExif = 0x08
	vp8xXMP  = 0x04
)

// stripWebP copies a WebP's chunks but EXIF, XMP and unknown ones, and
// clears the VP8X flags announcing them; the RIFF size is rewritten.
func stripWebP(b []byte) (*Stripped, error) {
	s := &Stripped{}
	if len(b) < 12 {
		return nil, errStrip
	}
	// Decoders read the chunks they need and no further, so a RIFF size
	// past the end of the file is not an error: the chunks that are
	// there are read.
	riffEnd := min(8+int64(binary.LittleEndian.Uint32(b[4:])), int64(len(b)))
	if riffEnd < 12 {
		return nil, errStrip // a RIFF too short to hold "WEBP"
	}
	if riffEnd < int64(len(b)) {
		s.strip(removedTrailer)
	}
	body := b[12:riffEnd]
	out := make([]byte, 12, len(b))
	copy(out, "RIFF\x00\x00\x00\x00WEBP")
	var (
		exifSeen    bool
		orientation int
		vp8x        = -1 // offset of VP8X's flags in out
	)
	for p := 0; p < len(body); {
		if p+8 > len(body) {
			s.strip(removedTrailer) // a cut chunk header: nothing to read
			break
		}
		typ := string(body[p : p+4])
		n := int64(binary.LittleEndian.Uint32(body[p+4:]))
		end := int64(p) + 8 + n + n&1 // chunks are padded to an even size
		if end > int64(len(body)) {
			if int64(p)+8+n > int64(len(body)) {
				// A cut chunk: gone with the metadata if it is some,
				// else the image is damaged.
				if webpKeep[typ] {
					return nil, errStrip
				}
				s.strip(removedTrailer)
				break
			}
			end = int64(len(body)) // a last odd chunk without its padding
		}
		data := body[p+8 : int64(p)+8+n]
		switch {
		case webpKeep[typ]:
			if typ == "VP8X" && vp8x < 0 && n >= 1 {
				vp8x = len(out) + 8
			}
			if typ == "ICCP" {
				s.keep(keptICC)
			}
			out = append(out, body[p:end]...)
		case typ == "EXIF":
			if o := s.exif(data, &exifSeen); o > 1 {
				orientation = o
			}
		case typ == "XMP ":
			s.strip(removedXMP)
		default:
			s.strip(removedOther)
		}
		p = int(end)
	}
	if vp8x >= 0 {
		out[vp8x] &^= vp8xExif | vp8xXMP
		if orientation > 1 {
			// EXIF comes after the image data (and before XMP, gone).
			out[vp8x] |= vp8xExif
			t := orientationExif(orientation)
			out = append(out, "EXIF"...)
			out = binary.LittleEndian.AppendUint32(out, uint32(len(t)))
			out = append(out, t...) // even length: no padding
		}
	} else if orientation > 1 {
		s.Metadata.Kept = slices.DeleteFunc(s.Metadata.Kept, func(k string) bool { return k == keptOrientation })
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	s.Data = out
	return s, nil
}

// KeptOrientation is the EXIF orientation Data keeps (2 to 8), so that
// browsers turn it; 0 if none. It differs from Metadata.Orientation, what
// the upload said, when that is 1 or could not be kept (a simple WebP has
// no VP8X header to announce EXIF).
func (s *Stripped) KeptOrientation() int {
	return s.Metadata.ServedOrientation()
}

// Orientation returns the EXIF orientation that browsers apply to an
// image once stripped (2 to 8), 0 if none: what a thumbnail must apply to
// look like the image in a browser.
func Orientation(data []byte) int {
	s, err := Strip(data)
	if err != nil {
		return 0
	}
	return s.KeptOrientation()
}
