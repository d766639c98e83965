package loadgen

import (
	"bytes"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"testing"
)

func TestImage(t *testing.T) {
	for _, format := range []string{"jpeg", "png"} {
		for _, size := range []int{4 << 10, 100 << 10, 300 << 10} {
			b, err := Image(format, size, 7)
			if err != nil {
				t.Fatal(err)
			}
			if d := absDiff(len(b), size); d > size/20 {
				t.Errorf("%s %d: got %d bytes, more than 5%% off", format, size, len(b))
			}
			_, got, err := image.Decode(bytes.NewReader(b))
			if err != nil || got != format {
				t.Errorf("%s %d: decodes as %q, %v", format, size, got, err)
			}
			other, err := Image(format, size, 8)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(b, other) {
				t.Errorf("%s %d: seeds 7 and 8 give the same image", format, size)
			}
		}
	}
	if _, err := Image("gif", 100<<10, 1); err == nil {
		t.Error(`Image("gif") succeeded`)
	}
	if _, err := Image("jpeg", 10, 1); err == nil {
		t.Error(`Image("jpeg", 10) succeeded`)
	}
}
