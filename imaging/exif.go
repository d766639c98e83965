package imaging

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pixpool/pixpool"
)

// A small reader of EXIF's TIFF structure, for the few tags an owner wants
// to see (ParseExif) and the orientation the served bytes keep. The input
// is hostile: every offset and count is checked against the data, an IFD
// holds at most maxIFDEntries entries, only IFD0 and the two IFDs it points
// to (Exif, GPS) are read, and strings are cut at maxExifString bytes. A
// library (rwcarlsen/goexif, dsoprea/go-exif) would read more tags than
// pixpool shows and bring more code to trust with hostile input than the
// 200 lines here.

const (
	maxIFDEntries = 1000
	maxExifString = 200
)

// TIFF tags read.
const (
	tagMake             = 0x010f
	tagModel            = 0x0110
	tagOrientation      = 0x0112
	tagSoftware         = 0x0131
	tagDateTime         = 0x0132
	tagExifIFD          = 0x8769
	tagGPSIFD           = 0x8825
	tagExposureTime     = 0x829a
	tagFNumber          = 0x829d
	tagISO              = 0x8827
	tagDateTimeOriginal = 0x9003
	tagOffsetOriginal   = 0x9011
	tagFocalLength      = 0x920a
	tagLensMake         = 0xa433
	tagLensModel        = 0xa434
	gpsLatitudeRef      = 1
	gpsLatitude         = 2
	gpsLongitudeRef     = 3
	gpsLongitude        = 4
	gpsAltitudeRef      = 5
	gpsAltitude         = 6
)

// tiff is EXIF data: a TIFF header and its IFDs.
type tiff struct {
	b  []byte
	bo binary.ByteOrder
}

// ifdEntry is one entry of an IFD, its value not read yet.
type ifdEntry struct {
	typ   uint16
	count uint32
	val   []byte // the value's bytes, checked to lie within the data
}

// typeSizes are the bytes of one value of each TIFF type.
var typeSizes = map[uint16]int{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}

// exifPrefix starts an APP1 segment (and some WebP EXIF chunks) holding EXIF.
const exifPrefix = "Exif\x00\x00"

// newTIFF checks b's TIFF header. A leading "Exif\0\0" is skipped.
func newTIFF(b []byte) (*tiff, bool) {
	b = []byte(strings.TrimPrefix(string(b), exifPrefix))
	if len(b) < 8 {
		return nil, false
	}
	t := &tiff{b: b}
	switch string(b[:2]) {
	case "II":
		t.bo = binary.LittleEndian
	case "MM":
		t.bo = binary.BigEndian
	default:
		return nil, false
	}
	if t.bo.Uint16(b[2:]) != 42 {
		return nil, false
	}
	return t, true
}

// ifd reads the IFD at off into a map by tag; nil if it is out of bounds.
func (t *tiff) ifd(off uint32) map[uint16]ifdEntry {
	if off < 8 || uint64(off)+2 > uint64(len(t.b)) {
		return nil
	}
	n := int(t.bo.Uint16(t.b[off:]))
	p := int(off) + 2
	if n > maxIFDEntries || p+12*n > len(t.b) {
		return nil
	}
	m := make(map[uint16]ifdEntry, n)
	for i := range n {
		e := t.b[p+12*i : p+12*i+12]
		typ, count := t.bo.Uint16(e[2:]), t.bo.Uint32(e[4:])
		size, ok := typeSizes[typ]
		if !ok || uint64(count)*uint64(size) > uint64(len(t.b)) {
			continue
		}
		n := int(count) * size
		var val []byte
		if n <= 4 {
			val = e[8 : 8+n]
		} else {
			o := uint64(t.bo.Uint32(e[8:]))
			if o+uint64(n) > uint64(len(t.b)) {
				continue
			}
			val = t.b[o : o+uint64(n)]
		}
		m[t.bo.Uint16(e)] = ifdEntry{typ, count, val}
	}
	return m
}

// uint returns the entry's first value as an unsigned integer (BYTE,
// SHORT or LONG).
func (t *tiff) uint(e ifdEntry) (uint32, bool) {
	switch {
	case len(e.val) == 0:
		return 0, false
	case e.typ == 1 || e.typ == 7:
		return uint32(e.val[0]), true
	case e.typ == 3:
		return uint32(t.bo.Uint16(e.val)), true
	case e.typ == 4:
		return t.bo.Uint32(e.val), true
	}
	return 0, false
}

// rational returns the entry's i-th value as a RATIONAL's numerator and
// denominator.
func (t *tiff) rational(e ifdEntry, i int) (num, den uint32, ok bool) {
	if e.typ != 5 || len(e.val) < 8*(i+1) {
		return 0, 0, false
	}
	v := e.val[8*i:]
	return t.bo.Uint32(v), t.bo.Uint32(v[4:]), true
}

// float returns the entry's i-th RATIONAL as a number; false for 0/0 and
// x/0, which cameras write for unknown.
func (t *tiff) float(e ifdEntry, i int) (float64, bool) {
	num, den, ok := t.rational(e, i)
	if !ok || den == 0 {
		return 0, false
	}
	return float64(num) / float64(den), true
}

// str returns an ASCII entry as text: up to the first NUL, without
// surrounding spaces, control characters and invalid UTF-8 dropped, cut at
// maxExifString bytes.
func str(e ifdEntry) string {
	if e.typ != 2 {
		return ""
	}
	v := e.val
	if i := strings.IndexByte(string(v), 0); i >= 0 {
		v = v[:i]
	}
	if len(v) > maxExifString {
		v = v[:maxExifString]
	}
	s := strings.ToValidUTF8(string(v), "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// exifOrientation returns the orientation EXIF data records, 0 if none or
// out of range.
func exifOrientation(b []byte) int {
	t, ok := newTIFF(b)
	if !ok {
		return 0
	}
	e, ok := t.ifd(t.bo.Uint32(t.b[4:]))[tagOrientation]
	if !ok {
		return 0
	}
	o, ok := t.uint(e)
	if !ok || o < 1 || o > 8 {
		return 0
	}
	return int(o)
}

// ParseExif reads what an owner wants to know from EXIF data (a TIFF
// header and IFDs, with or without a leading "Exif\0\0") into m. Damaged
// or missing parts are skipped: it reads what it can and never fails.
func ParseExif(b []byte, m *pixpool.ImageMetadata) {
	t, ok := newTIFF(b)
	if !ok {
		return
	}
	ifd0 := t.ifd(t.bo.Uint32(t.b[4:]))
	if ifd0 == nil {
		return
	}
	m.Make = str(ifd0[tagMake])
	m.Model = str(ifd0[tagModel])
	m.Software = str(ifd0[tagSoftware])
	if o, ok := t.uint(ifd0[tagOrientation]); ok && o >= 1 && o <= 8 {
		m.Orientation = int(o)
	}
	taken := exifTime(str(ifd0[tagDateTime]))
	if off, ok := t.uint(ifd0[tagExifIFD]); ok {
		ex := t.ifd(off)
		if s := exifTime(str(ex[tagDateTimeOriginal])); s != "" {
			taken = s
			if z := str(ex[tagOffsetOriginal]); validOffset(z) {
				taken += z
			}
		}
		if num, den, ok := t.rational(ex[tagExposureTime], 0); ok && num > 0 && den > 0 {
			m.ExposureTime = fraction(num, den)
		}
		if f, ok := t.float(ex[tagFNumber], 0); ok && f > 0 && f < 1000 {
			m.FNumber = round(f, 1)
		}
		if iso, ok := t.uint(ex[tagISO]); ok && iso > 0 {
			m.ISO = int(iso)
		}
		if f, ok := t.float(ex[tagFocalLength], 0); ok && f > 0 && f < 100000 {
			m.FocalLength = round(f, 1)
		}
		m.Lens = str(ex[tagLensModel])
		if mk := str(ex[tagLensMake]); mk != "" && !strings.HasPrefix(m.Lens, mk) {
			m.Lens = strings.TrimSpace(mk + " " + m.Lens)
		}
	}
	m.Taken = taken
	if off, ok := t.uint(ifd0[tagGPSIFD]); ok {
		m.GPS = t.gps(t.ifd(off))
	}
}

// gps reads a GPS IFD's position; nil without a valid latitude and
// longitude.
func (t *tiff) gps(g map[uint16]ifdEntry) *pixpool.GPSPosition {
	lat, ok1 := t.degrees(g[gpsLatitude])
	lon, ok2 := t.degrees(g[gpsLongitude])
	if !ok1 || !ok2 || lat > 90 || lon > 180 {
		return nil
	}
	if strings.EqualFold(str(g[gpsLatitudeRef]), "S") {
		lat = -lat
	}
	if strings.EqualFold(str(g[gpsLongitudeRef]), "W") {
		lon = -lon
	}
	p := &pixpool.GPSPosition{Latitude: round(lat, 6), Longitude: round(lon, 6)}
	if alt, ok := t.float(g[gpsAltitude], 0); ok && alt < 1e6 {
		if ref, ok := t.uint(g[gpsAltitudeRef]); ok && ref == 1 {
			alt = -alt
		}
		alt = round(alt, 1)
		p.Altitude = &alt
	}
	return p
}

// degrees reads degrees, minutes and seconds (three RATIONALs) as degrees.
func (t *tiff) degrees(e ifdEntry) (float64, bool) {
	d, ok := t.float(e, 0)
	if !ok {
		return 0, false
	}
	// Minutes and seconds may be missing or 0/0 (some phones write
	// decimal degrees in the first value).
	mi, _ := t.float(e, 1)
	s, _ := t.float(e, 2)
	v := d + mi/60 + s/3600
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// exifTime turns EXIF's "2006:01:02 15:04:05" into "2006-01-02T15:04:05";
// "" for anything else (cameras write spaces or zeros for unknown).
func exifTime(s string) string {
	if len(s) < 19 || s[4] != ':' || s[7] != ':' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return ""
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	if s[:4] == "0000" {
		return ""
	}
	return s[:4] + "-" + s[5:7] + "-" + s[8:10] + "T" + s[11:19]
}

// validOffset reports whether s is an EXIF time offset such as "+02:00".
func validOffset(s string) bool {
	return len(s) == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':' &&
		strings.Trim(s[1:3]+s[4:6], "0123456789") == ""
}

// fraction writes an exposure time: "1/250" for short ones, "2" or "0.5"
// for the others.
func fraction(num, den uint32) string {
	if num < den && num > 0 && den%num == 0 {
		return fmt.Sprintf("1/%d", den/num)
	}
	return strconv.FormatFloat(round(float64(num)/float64(den), 3), 'f', -1, 64)
}

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// orientationExif returns EXIF data (TIFF, without "Exif\0\0") holding
// only an orientation: what the served bytes keep so that browsers still
// show a photo upright.
func orientationExif(o int) []byte {
	b := []byte("MM\x00\x2a\x00\x00\x00\x08" + // header, IFD0 at 8
		"\x00\x01" + // one entry
		"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00" + // Orientation, SHORT, 1
		"\x00\x00\x00\x00") // no next IFD
	binary.BigEndian.PutUint16(b[18:], uint16(o))
	return b
}
