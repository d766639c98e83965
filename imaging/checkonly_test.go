package imaging

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// CheckOnly judges a JPEG as decoding it does, without making the image,
// and holds none of the budget afterwards; other formats still decode.
func TestDecoder_CheckOnly(t *testing.T) {
	ctx := context.Background()
	good := encodeJPEG(t, testImage(300, 200), 90)
	budget := &Budget{Bytes: 64 << 20, Wait: 10 * time.Millisecond}
	check := &Decoder{Budget: budget, CheckOnly: true}
	full := &Decoder{Budget: budget}

	t.Run("JPEG", func(t *testing.T) {
		d, err := check.Decode(ctx, good)
		if err != nil {
			t.Fatal(err)
		}
		if d.Image != nil {
			t.Fatal("CheckOnly made the image")
		}
		if got, want := d.Info, (Info{"image/jpeg", "jpeg", 300, 200}); got != want {
			t.Fatalf("Info=%+v, want %+v", got, want)
		}
		// Nothing held, before Release too: the whole budget is free.
		release, err := budget.Acquire(ctx, budget.Size(), 0)
		if err != nil {
			t.Fatalf("the budget is not all free after a check: %v", err)
		}
		release()
		d.Release()
	})
	t.Run("SameVerdicts", func(t *testing.T) {
		for name, data := range map[string][]byte{
			"Good":        good,
			"Progressive": progressiveJPEG(t),
			"Truncated":   half(good),
			"CutShort":    cut(good, 20),
			"Flipped":     flip(good, len(good)/2),
			"Arithmetic":  sof(t, good, 0xc9),
			"Huge":        hugeJPEG(t, 10000, 10000),
		} {
			_, cerr := check.Decode(ctx, data)
			fd, ferr := full.Decode(ctx, data)
			fd.Release()
			if fmt.Sprint(cerr) != fmt.Sprint(ferr) || pixpool.ErrorCode(cerr) != pixpool.ErrorCode(ferr) {
				t.Errorf("%s: CheckOnly says %v, decoding says %v", name, cerr, ferr)
			}
		}
	})
	t.Run("PNGDecodes", func(t *testing.T) {
		d, err := check.Decode(ctx, encodePNG(t, testImage(30, 20)))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Release()
		if d.Image == nil || d.Image.Bounds().Dx() != 30 {
			t.Fatalf("PNG under CheckOnly: image %v", d.Image)
		}
	})
}
