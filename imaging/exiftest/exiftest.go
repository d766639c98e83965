// Package exiftest makes photos carrying metadata (EXIF with a GPS
// position, XMP, a comment) for tests of metadata stripping, without
// tools such as exiftool.
package exiftest

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"sort"
)

// Photo is what a test photo's EXIF says. Zero fields are left out; GPS is
// written when Lat or Lon is not zero.
type Photo struct {
	Make, Model  string
	Orientation  int
	Taken        string // EXIF form: "2024:05:01 12:34:56"
	ExposureTime [2]uint32
	FNumber      [2]uint32
	ISO          int
	Lens         string
	Lat, Lon     float64 // decimal degrees, north and east positive
	Alt          float64 // metres
}

// Sample is a photo with every field set: a phone in Lausanne.
var Sample = Photo{
	Make: "TestCam", Model: "Model X", Orientation: 1, Taken: "2024:05:01 12:34:56",
	ExposureTime: [2]uint32{1, 250}, FNumber: [2]uint32{18, 10}, ISO: 200, Lens: "TestCam 24mm",
	Lat: 46.519654, Lon: 6.632273, Alt: 495.5,
}

type entry struct {
	tag, typ uint16
	count    uint32
	val      []byte
}

var le = binary.LittleEndian

func ascii(tag uint16, s string) entry {
	return entry{tag, 2, uint32(len(s) + 1), append([]byte(s), 0)}
}

func short(tag uint16, v int) entry {
	return entry{tag, 3, 1, le.AppendUint16(nil, uint16(v))}
}

func long(tag uint16, v int) entry { return entry{tag, 4, 1, le.AppendUint32(nil, uint32(v))} }

func rationals(tag uint16, v ...[2]uint32) entry {
	var b []byte
	for _, r := range v {
		b = le.AppendUint32(le.AppendUint32(b, r[0]), r[1])
	}
	return entry{tag, 5, uint32(len(v)), b}
}

// ifdSize is the bytes an IFD of es takes with its values.
func ifdSize(es []entry) int {
	n := 2 + 12*len(es) + 4
	for _, e := range es {
		if len(e.val) > 4 {
			n += len(e.val) + len(e.val)&1
		}
	}
	return n
}

// appendIFD appends an IFD of es, which starts at offset base of the TIFF.
func appendIFD(b []byte, base int, es []entry) []byte {
	sort.Slice(es, func(i, j int) bool { return es[i].tag < es[j].tag })
	b = le.AppendUint16(b, uint16(len(es)))
	data := base + 2 + 12*len(es) + 4
	var tail []byte
	for _, e := range es {
		b = le.AppendUint16(b, e.tag)
		b = le.AppendUint16(b, e.typ)
		b = le.AppendUint32(b, e.count)
		if len(e.val) <= 4 {
			b = append(b, e.val...)
			b = append(b, make([]byte, 4-len(e.val))...)
			continue
		}
		b = le.AppendUint32(b, uint32(data+len(tail)))
		tail = append(tail, e.val...)
		if len(e.val)&1 == 1 {
			tail = append(tail, 0)
		}
	}
	b = le.AppendUint32(b, 0)
	return append(b, tail...)
}

func dms(v float64) [][2]uint32 {
	v = math.Abs(v)
	d := math.Floor(v)
	m := math.Floor((v - d) * 60)
	s := ((v-d)*60 - m) * 60
	return [][2]uint32{{uint32(d), 1}, {uint32(m), 1}, {uint32(math.Round(s * 10000)), 10000}}
}

// TIFF returns p as EXIF data (little-endian TIFF, without "Exif\0\0").
func TIFF(p Photo) []byte {
	var ifd0, exif, gps []entry
	if p.Make != "" {
		ifd0 = append(ifd0, ascii(0x010f, p.Make))
	}
	if p.Model != "" {
		ifd0 = append(ifd0, ascii(0x0110, p.Model))
	}
	if p.Orientation != 0 {
		ifd0 = append(ifd0, short(0x0112, p.Orientation))
	}
	if p.Taken != "" {
		exif = append(exif, ascii(0x9003, p.Taken))
	}
	if p.ExposureTime[1] != 0 {
		exif = append(exif, rationals(0x829a, p.ExposureTime))
	}
	if p.FNumber[1] != 0 {
		exif = append(exif, rationals(0x829d, p.FNumber))
	}
	if p.ISO != 0 {
		exif = append(exif, short(0x8827, p.ISO))
	}
	if p.Lens != "" {
		exif = append(exif, ascii(0xa434, p.Lens))
	}
	if p.Lat != 0 || p.Lon != 0 {
		ns, ew := "N", "E"
		if p.Lat < 0 {
			ns = "S"
		}
		if p.Lon < 0 {
			ew = "W"
		}
		gps = append(gps, ascii(1, ns), rationals(2, dms(p.Lat)...), ascii(3, ew), rationals(4, dms(p.Lon)...),
			entry{5, 1, 1, []byte{0}}, rationals(6, [2]uint32{uint32(math.Round(p.Alt * 10)), 10}))
	}
	// Layout: header, IFD0, Exif IFD, GPS IFD.
	n0 := len(ifd0)
	if len(exif) > 0 {
		n0++
	}
	if len(gps) > 0 {
		n0++
	}
	size0 := ifdSize(ifd0) + 12*(n0-len(ifd0))
	exifAt := 8 + size0
	gpsAt := exifAt
	if len(exif) > 0 {
		ifd0 = append(ifd0, long(0x8769, exifAt))
		gpsAt += ifdSize(exif)
	}
	if len(gps) > 0 {
		ifd0 = append(ifd0, long(0x8825, gpsAt))
	}
	b := []byte("II\x2a\x00\x08\x00\x00\x00")
	b = appendIFD(b, 8, ifd0)
	if len(exif) > 0 {
		b = appendIFD(b, exifAt, exif)
	}
	if len(gps) > 0 {
		b = appendIFD(b, gpsAt, gps)
	}
	return b
}

// Picture returns a w×h gradient, something for encoders to work on.
func Picture(w, h int) image.Image {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) & 0xff), 255})
		}
	}
	return m
}

// XMP is an XMP packet naming a creator, as editors write it.
const XMP = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Jane Secret</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>`

// JPEG returns a w×h JPEG carrying p's EXIF, an XMP packet and a comment
// (all after the JFIF header, as cameras and editors place them).
func JPEG(w, h int, p Photo) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, Picture(w, h), &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return InsertJPEG(b.Bytes(),
		Segment(0xe1, append([]byte("Exif\x00\x00"), TIFF(p)...)),
		Segment(0xe1, append([]byte("http://ns.adobe.com/xap/1.0/\x00"), XMP...)),
		Segment(0xfe, []byte("shot by Jane Secret")))
}

// Segment returns a JPEG segment of marker m holding data.
func Segment(m byte, data []byte) []byte {
	return append([]byte{0xff, m, byte((len(data) + 2) >> 8), byte(len(data) + 2)}, data...)
}

// InsertJPEG inserts segments into a JPEG right after SOI.
func InsertJPEG(j []byte, segs ...[]byte) []byte {
	out := append([]byte{}, j[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, j[2:]...)
}
