package http

import (
	"bytes"
	"encoding/binary"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gen2brain/webp"
	"github.com/pixpool/pixpool/imaging"
	"github.com/pixpool/pixpool/imaging/exiftest"
)

// simpleWebP is a w×h WebP without a VP8X header, with an EXIF chunk
// saying orientation o: once stripped, its bytes cannot keep it.
func simpleWebP(t *testing.T, w, h, o int) []byte {
	t.Helper()
	var enc bytes.Buffer
	if err := webp.Encode(&enc, exiftest.Picture(w, h), webp.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	b := enc.Bytes()
	if string(b[12:16]) != "VP8 " {
		t.Fatalf("encoder wrote %q first; want a simple WebP", b[12:16])
	}
	p := exiftest.Sample
	p.Orientation = o
	tiff := exiftest.TIFF(p)
	b = append(b, "EXIF"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(tiff)))
	b = append(b, tiff...)
	if len(tiff)%2 == 1 {
		b = append(b, 0)
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// TestWeb_SrcsetOrientation: the image page's srcset gives each variant
// the width it is shown at. A JPEG turned a quarter by the orientation
// its served bytes keep is as wide as it is stored high; a simple WebP
// with the same orientation cannot keep it, so browsers show it as stored
// and its widths are the stored ones.
func TestWeb_SrcsetOrientation(t *testing.T) {
	p := exiftest.Sample
	p.Orientation = 6
	_, ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	for _, tt := range []struct {
		key  string
		data []byte
		want string
	}{
		{"turned.jpg", exiftest.JPEG(1200, 900, p), "/raw?key=turned.jpg&w=640 640w, /raw?key=turned.jpg 900w"},
		{"simple.webp", simpleWebP(t, 1200, 900, 6), "/raw?key=simple.webp&w=640 640w, /raw?key=simple.webp&w=1024 1024w, /raw?key=simple.webp 1200w"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			if resp, body := b.upload(b.csrf(), tt.key, tt.data); resp.StatusCode != 303 {
				t.Fatalf("upload: %d %s", resp.StatusCode, body)
			}
			_, body := b.get("/image?key=" + url.QueryEscape(tt.key))
			imgs := elements(parseHTML(t, body), "img")
			if len(imgs) == 0 {
				t.Fatal("no img on the image page")
			}
			set, _ := attrValue(imgs[0], "srcset")
			if set != tt.want {
				t.Fatalf("image page srcset=%q, want %q", set, tt.want)
			}
			for _, cand := range strings.Split(set, ", ") {
				u, w, _ := strings.Cut(cand, " ")
				if !strings.Contains(u, "&w=") {
					continue // the whole image: its bytes are stored unturned
				}
				resp, data := b.get(u)
				info, err := imaging.Dimensions([]byte(data))
				if resp.StatusCode != 200 || err != nil || strconv.Itoa(info.Width)+"w" != w {
					t.Fatalf("GET %s: %d %+v, %v; want %s wide", u, resp.StatusCode, info, err, w)
				}
			}
		})
	}
}
