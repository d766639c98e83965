package service

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"testing"

	"github.com/gen2brain/webp"
	"github.com/pixpool/pixpool/imaging"
	"github.com/pixpool/pixpool/imaging/exiftest"
)

// TestImages_ThumbnailFollowsServedOrientation: a simple WebP (no VP8X
// header) with an EXIF chunk cannot keep its orientation once stripped,
// so browsers show the served bytes as stored; the thumbnail must not be
// turned either, or it shows the photo sideways beside its own image.
func TestImages_ThumbnailFollowsServedOrientation(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	var enc bytes.Buffer
	if err := webp.Encode(&enc, exiftest.Picture(80, 40), webp.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	upload := enc.Bytes()
	if string(upload[12:16]) != "VP8 " {
		t.Fatalf("encoder wrote %q first; want a simple WebP", upload[12:16])
	}
	p := exiftest.Sample
	p.Orientation = 6
	tiff := exiftest.TIFF(p)
	upload = append(upload, "EXIF"...)
	upload = binary.LittleEndian.AppendUint32(upload, uint32(len(tiff)))
	upload = append(upload, tiff...)
	if len(tiff)%2 == 1 {
		upload = append(upload, 0)
	}
	binary.LittleEndian.PutUint32(upload[4:], uint32(len(upload)-8))

	if _, err := f.images.Put(ctx, f.owner, "simple.webp", upload); err != nil {
		t.Fatal(err)
	}
	f.images.Wait() // the thumbnail made from the upload
	_, data, err := f.images.Get(ctx, f.owner, "simple.webp")
	if err != nil {
		t.Fatal(err)
	}
	if o := imaging.Orientation(data); o > 1 {
		t.Fatalf("served bytes keep orientation %d; this test needs a file that cannot keep it", o)
	}
	_, thumb, err := f.images.Thumbnail(ctx, f.owner, "simple.webp")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(thumb))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width <= cfg.Height {
		t.Fatalf("thumbnail %d×%d is turned; the served image shows 80×40, as stored", cfg.Width, cfg.Height)
	}
}
