package imaging

import (
	"bytes"
	"image/jpeg"
	"slices"
	"testing"

	"github.com/pixpool/pixpool/imaging/exiftest"
)

// TestStrip_JFIFThumbnail: a JFIF header may carry an uncompressed
// thumbnail, a picture of what the photo was when the header was
// written (before a crop, say). The header is kept, its thumbnail is not.
func TestStrip_JFIFThumbnail(t *testing.T) {
	thumb := bytes.Repeat([]byte("THUMBPIX"), 6) // 4×4 RGB
	jfif := exiftest.Segment(0xe0, append([]byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x04\x04"), thumb...))
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, exiftest.Picture(40, 30), nil); err != nil {
		t.Fatal(err)
	}
	orig := exiftest.InsertJPEG(enc.Bytes(), jfif)
	s, err := Strip(orig)
	if err != nil {
		t.Fatal(err)
	}
	checkStripped(t, orig, s.Data)
	if bytes.Contains(s.Data, thumb[:16]) {
		t.Fatal("the JFIF thumbnail survived")
	}
	want := exiftest.Segment(0xe0, []byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00"))
	if !bytes.HasPrefix(s.Data[2:], want) {
		t.Fatalf("stripped image starts % x; want SOI then the JFIF header without thumbnail % x", s.Data[:24], want)
	}
	if !slices.Contains(s.Metadata.Stripped, removedThumbnail) {
		t.Fatalf("Stripped = %q; want it to name the thumbnail", s.Metadata.Stripped)
	}

	// A JFIF header without a thumbnail is kept as it is: nothing to strip.
	plain := exiftest.InsertJPEG(enc.Bytes(), want)
	if s, err := Strip(plain); err != nil || !bytes.Equal(s.Data, plain) {
		t.Fatalf("plain JFIF: %v, changed %v", err, err == nil && !bytes.Equal(s.Data, plain))
	}
}

// TestStrip_WebPShortRIFF: a RIFF size too small to hold "WEBP" is a
// damaged file, not a panic (Strip's input is hostile; the decoders
// refuse such a file today, but Strip must not rely on running after
// them).
func TestStrip_WebPShortRIFF(t *testing.T) {
	for _, in := range []string{"RIFF\x00\x00\x00\x00WEBPVP8 ", "RIFF\x02\x00\x00\x00WEBP", "RIFF\x03\x00\x00\x00WEBPVP8L"} {
		if _, err := Strip([]byte(in)); err == nil {
			t.Errorf("%q: no error; want the damaged structure refused", in)
		}
	}
}
