package imaging

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/draw"
	"image/gif"
	"reflect"
	"slices"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging/exiftest"
)

// secrets are strings of the test photos' metadata that must not survive.
var secrets = []string{"Exif\x00\x00II", "secret iptc", "TestCam", "Model X", "Jane Secret", "2024:05:01", "xmpmeta", "tEXt", "tIME", "comment"}

// checkStripped checks that stripped decodes to exactly the pixels of
// orig and holds none of the secrets.
func checkStripped(t *testing.T, orig, stripped []byte) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(stripped, []byte(s)) {
			t.Errorf("stripped image still holds %q", s)
		}
	}
	_, want, err := Inspect(orig, 0)
	if err != nil {
		t.Fatalf("original: %v", err)
	}
	_, got, err := Inspect(stripped, 0)
	if err != nil {
		t.Fatalf("stripped image does not decode: %v", err)
	}
	if !samePixels(got, want) {
		t.Fatal("stripped image's pixels differ from the original's")
	}
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	ra, rb := image.NewNRGBA(a.Bounds()), image.NewNRGBA(b.Bounds())
	draw.Draw(ra, ra.Bounds(), a, a.Bounds().Min, draw.Src)
	draw.Draw(rb, rb.Bounds(), b, b.Bounds().Min, draw.Src)
	return bytes.Equal(ra.Pix, rb.Pix)
}

func TestStrip_JPEG(t *testing.T) {
	icc := exiftest.Segment(0xe2, []byte("ICC_PROFILE\x00\x01\x01fake profile bytes"))
	adobe := exiftest.Segment(0xee, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01"))
	jfif := exiftest.Segment(0xe0, []byte("JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00"))
	orig := exiftest.InsertJPEG(exiftest.JPEG(40, 30, exiftest.Sample),
		jfif, exiftest.Segment(0xed, []byte("Photoshop 3.0\x008BIM secret iptc")), icc)
	orig = append(orig, "trailing vendor data"...)

	s, err := Strip(orig)
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, orig, s.Data)
	if !bytes.HasPrefix(s.Data, append([]byte{0xff, 0xd8}, jfif...)) {
		t.Error("stripped JPEG does not start with SOI and JFIF")
	}
	if !bytes.Contains(s.Data, icc) {
		t.Error("ICC profile not kept")
	}
	if !bytes.HasSuffix(s.Data, []byte{0xff, 0xd9}) {
		t.Error("stripped JPEG does not end at EOI")
	}
	m := s.Metadata
	if m.Make != "TestCam" || m.Model != "Model X" || m.Lens != "TestCam 24mm" || m.Taken != "2024-05-01T12:34:56" ||
		m.ExposureTime != "1/250" || m.FNumber != 1.8 || m.ISO != 200 || m.Orientation != 1 {
		t.Errorf("metadata %+v", m)
	}
	if m.GPS == nil || m.GPS.Latitude != 46.519654 || m.GPS.Longitude != 6.632273 || m.GPS.Altitude == nil || *m.GPS.Altitude != 495.5 {
		t.Errorf("GPS %+v", m.GPS)
	}
	for _, want := range []string{removedExif, removedGPS, removedXMP, removedIPTC, removedComment, removedTrailer} {
		if !slices.Contains(m.Stripped, want) {
			t.Errorf("Stripped=%q, want %q in it", m.Stripped, want)
		}
	}
	if !slices.Equal(m.Kept, []string{keptICC}) {
		t.Errorf("Kept=%q, want the ICC profile only", m.Kept)
	}

	t.Run("Adobe", func(t *testing.T) {
		orig := exiftest.InsertJPEG(exiftest.JPEG(16, 16, exiftest.Sample), adobe)
		s, err := Strip(orig)
		if err != nil {
			t.Fatal(err)
		}
		checkStripped(t, orig, s.Data)
		if !bytes.Contains(s.Data, adobe) {
			t.Error("Adobe segment not kept")
		}
	})
}

func TestStrip_JPEGOrientation(t *testing.T) {
	p := exiftest.Sample
	p.Orientation = 6
	orig := exiftest.JPEG(40, 30, p)
	s, err := Strip(orig)
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, orig, s.Data)
	if got := Orientation(s.Data); got != 6 {
		t.Errorf("stripped JPEG's orientation %d, want 6", got)
	}
	if !slices.Contains(s.Metadata.Kept, keptOrientation) || s.Metadata.Orientation != 6 {
		t.Errorf("metadata %+v", s.Metadata)
	}
	// The kept EXIF says nothing but the orientation.
	var left pixpool.ImageMetadata
	i := bytes.Index(s.Data, []byte("Exif\x00\x00"))
	ParseExif(s.Data[i:], &left)
	if !reflect.DeepEqual(left, pixpool.ImageMetadata{Orientation: 6}) {
		t.Errorf("kept EXIF says %+v, want only orientation 6", left)
	}
}

func TestStrip_Progressive(t *testing.T) {
	orig := exiftest.InsertJPEG(progressiveJPEG(t), exiftest.Segment(0xe1, append([]byte("Exif\x00\x00"), exiftest.TIFF(exiftest.Sample)...)))
	s, err := Strip(orig)
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, orig, s.Data)
}

func TestStrip_Clean(t *testing.T) {
	for name, b := range map[string][]byte{
		"jpeg": encodeJPEG(t, testImage(8, 8), 80),
		"png":  encodePNG(t, testImage(8, 8)),
		"gif":  encodeGIF(t, 8, 8, 1),
		"webp": webpAlpha1x1,
	} {
		s, err := Strip(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if &s.Data[0] != &b[0] || len(s.Data) != len(b) || !s.Metadata.Empty() {
			t.Errorf("%s: a clean image changed: %+v", name, s.Metadata)
		}
	}
}

// pngWith inserts chunks into a PNG right after IHDR, and appends extra.
func pngWith(t *testing.T, chunks map[string][]byte, order []string) []byte {
	b := encodePNG(t, testImage(20, 10))
	ihdrEnd := 8 + 8 + 13 + 4
	var buf bytes.Buffer
	buf.Write(b[:ihdrEnd])
	for _, typ := range order {
		writeChunk(&buf, typ, chunks[typ])
	}
	buf.Write(b[ihdrEnd:])
	return buf.Bytes()
}

func TestStrip_PNG(t *testing.T) {
	chunks := map[string][]byte{
		"gAMA": {0, 0, 0xb1, 0x8f},
		"eXIf": exiftest.TIFF(exiftest.Photo{Make: "TestCam", Orientation: 3, Lat: 1, Lon: 2}),
		"tEXt": []byte("Author\x00Jane Secret"),
		"iTXt": []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00" + exiftest.XMP),
		"tIME": {0x07, 0xe8, 5, 1, 12, 0, 0},
		"zzZz": []byte("private"),
	}
	orig := pngWith(t, chunks, []string{"gAMA", "eXIf", "tEXt", "iTXt", "tIME", "zzZz"})
	s, err := Strip(orig)
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, orig, s.Data)
	if !bytes.Contains(s.Data, []byte("gAMA")) {
		t.Error("gAMA not kept")
	}
	if !bytes.Contains(s.Data, []byte("eXIf")) {
		t.Error("no eXIf chunk holding the orientation")
	}
	m := s.Metadata
	if m.Make != "TestCam" || m.Orientation != 3 || m.GPS == nil {
		t.Errorf("metadata %+v", m)
	}
	for _, want := range []string{removedExif, removedGPS, removedXMP, removedText, removedTime, removedOther} {
		if !slices.Contains(m.Stripped, want) {
			t.Errorf("Stripped=%q, want %q in it", m.Stripped, want)
		}
	}
}

func TestStrip_WebP(t *testing.T) {
	// webpAlpha1x1 with EXIF and XMP chunks after its image, flags set.
	orig := bytes.Clone(webpAlpha1x1)
	orig[20] |= vp8xExif | vp8xXMP
	p := exiftest.Sample
	p.Orientation = 8
	tiff := exiftest.TIFF(p)
	orig = append(orig, "EXIF"...)
	orig = binary.LittleEndian.AppendUint32(orig, uint32(len(tiff)))
	orig = append(orig, tiff...)
	if len(tiff)%2 == 1 {
		orig = append(orig, 0)
	}
	orig = append(orig, "XMP "...)
	orig = binary.LittleEndian.AppendUint32(orig, uint32(len(exiftest.XMP)))
	orig = append(orig, exiftest.XMP...)
	if len(exiftest.XMP)%2 == 1 {
		orig = append(orig, 0)
	}
	binary.LittleEndian.PutUint32(orig[4:], uint32(len(orig)-8))

	s, err := Strip(orig)
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, orig, s.Data)
	if got, want := s.Data[20], byte(0x10|vp8xExif); got != want {
		t.Errorf("VP8X flags %#x, want %#x (alpha, EXIF for the orientation)", got, want)
	}
	if got := binary.LittleEndian.Uint32(s.Data[4:]); int(got) != len(s.Data)-8 {
		t.Errorf("RIFF size %d, want %d", got, len(s.Data)-8)
	}
	if s.Metadata.Orientation != 8 || s.Metadata.GPS == nil || !slices.Contains(s.Metadata.Stripped, removedXMP) {
		t.Errorf("metadata %+v", s.Metadata)
	}
}

func TestStrip_GIF(t *testing.T) {
	b := encodeGIF(t, 12, 12, 3) // animated: has NETSCAPE2.0
	p := 13 + colorTableLen(b[10])
	ext := []byte("\x21\xfe\x09a comment\x00")
	ext = append(ext, "\x21\xff\x0bXMP DataXMP\x05xmpme\x00"...)
	orig := append(append(append([]byte{}, b[:p]...), ext...), b[p:]...)
	s, err := Strip(orig)
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, orig, s.Data)
	if !bytes.Contains(s.Data, []byte("NETSCAPE2.0")) {
		t.Error("looping extension not kept")
	}
	g1, err1 := gif.DecodeAll(bytes.NewReader(orig))
	g2, err2 := gif.DecodeAll(bytes.NewReader(s.Data))
	if err1 != nil || err2 != nil || len(g1.Image) != len(g2.Image) || g1.LoopCount != g2.LoopCount {
		t.Fatalf("animation changed: %v %v", err1, err2)
	}
	for i := range g1.Image {
		if !samePixels(g1.Image[i], g2.Image[i]) || g1.Delay[i] != g2.Delay[i] {
			t.Errorf("frame %d changed", i)
		}
	}
}

func TestStrip_Damaged(t *testing.T) {
	full := exiftest.JPEG(16, 16, exiftest.Sample)
	for name, b := range map[string][]byte{
		"jpeg cut in a segment": full[:30],
		"jpeg without EOI":      full[:len(full)-2],
		"png cut":               half(pngWith(t, map[string][]byte{"tEXt": []byte("a\x00b")}, []string{"tEXt"})),
		"gif cut":               half(encodeGIF(t, 8, 8, 2)),
		"not an image":          []byte("hello"),
	} {
		if _, err := Strip(b); err == nil || pixpool.ErrorMessage(err) == "" {
			t.Errorf("%s: Strip error %v, want one with a message", name, err)
		}
	}
}

func TestParseExif_Hostile(t *testing.T) {
	tiff := exiftest.TIFF(exiftest.Sample)
	for i := range tiff {
		var m pixpool.ImageMetadata
		ParseExif(tiff[:i], &m) // must not panic
		b := bytes.Clone(tiff)
		b[i] ^= 0xff
		ParseExif(b, &m)
	}
}

func FuzzStrip(f *testing.F) {
	p := exiftest.Sample
	p.Orientation = 6
	for _, b := range [][]byte{
		exiftest.JPEG(16, 8, p),
		exiftest.InsertJPEG(progressiveJPEG(f), exiftest.Segment(0xfe, []byte("c"))),
		encodePNG(f, testImage(8, 8)),
		encodeGIF(f, 8, 8, 2),
		webpAlpha1x1,
		webpLossy1x1,
		exiftest.TIFF(p),
	} {
		f.Add(b)
		f.Add(half(b))
	}
	const maxPixels = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Strip(data)
		if err != nil {
			if pixpool.ErrorMessage(err) == "" {
				t.Fatalf("Strip returned %v without a message", err)
			}
		}
		var m pixpool.ImageMetadata
		ParseExif(data, &m)
		_, want, ierr := Inspect(data, maxPixels)
		if ierr != nil {
			return
		}
		// What the server accepts, it can strip, and the pixels stay.
		if err != nil {
			t.Fatalf("Inspect accepts the image but Strip fails: %v", err)
		}
		_, got, err := Inspect(s.Data, maxPixels)
		if err != nil {
			t.Fatalf("stripped image does not decode: %v", err)
		}
		if !samePixels(got, want) {
			t.Fatal("stripped image's pixels differ")
		}
	})
}

// BenchmarkStrip strips a 12-megapixel-sized camera JPEG's metadata.
func BenchmarkStrip(b *testing.B) {
	p := exiftest.Sample
	p.Orientation = 6
	data := exiftest.JPEG(4000, 3000, p)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Strip(data); err != nil {
			b.Fatal(err)
		}
	}
}
