package service

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"testing"

	"github.com/pixpool/pixpool"
)

// noiseJPEG is a w×h picture of noise, which JPEG compresses worst: its
// thumbnail is larger than the 64 KiB estimate.
func noiseJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImages_QuotaReplaceLargeThumbnail: a replace counts the new
// thumbnail at the old one's real size even when that is over the 64 KiB
// estimate. Counting the estimate instead let a user at their quota
// replace an image by a larger one, the difference hidden in the
// thumbnail's, which then took them over it.
func TestImages_QuotaReplaceLargeThumbnail(t *testing.T) {
	f := open(t, t.TempDir())
	f.images.ThumbSide = 640
	ctx := t.Context()
	data := noiseJPEG(t, 640, 640)
	if _, err := f.images.Put(ctx, f.owner, "a", data); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	old, err := f.store.Image(ctx, f.owner, "a")
	if err != nil {
		t.Fatal(err)
	}
	larger := noiseJPEG(t, 640, 650)
	grown := int64(len(larger) - len(data))
	if old.ThumbSize <= thumbEstimate(old.Size) || grown <= 0 || grown >= old.ThumbSize-thumbEstimate(old.Size) {
		t.Fatalf("thumbnail of %d bytes, larger image by %d: the test needs a thumbnail over the %d estimate by more than that",
			old.ThumbSize, grown, thumbEstimate(old.Size))
	}
	f.withPolicy(t, pixpool.Policy{QuotaBytes: f.usage(t).Bytes, TrashDays: 30})
	_, err = f.images.Put(ctx, f.owner, "a", larger)
	wantQuotaError(t, err)
	// The same image still replaces itself at the quota.
	if _, err := f.images.Put(ctx, f.owner, "a", data); err != nil {
		t.Fatalf("Put(a) again at the quota=%v, want the same image to replace itself", err)
	}
}
