package e2e

import (
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestVariantsSrcset: on the image page and in the gallery, the browser
// picks a variant from srcset that fits its layout width (not the 2000
// pixel original), loads it, and its bytes decode at the width named.
func TestVariantsSrcset(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped in -short mode")
	}
	execPath := findBrowser(t)
	base := startServer(t, &uploadRecorder{})
	browser := startBrowser(t, execPath)
	ctx, cancel := context.WithTimeout(browser, 3*stepTimeout)
	defer cancel()

	photo := filepath.Join(t.TempDir(), "photo.jpg")
	writeGradientJPEG(t, photo, 2000, 1500)

	// A window 800 CSS pixels wide at one device pixel per CSS pixel: the
	// image page lays the picture out 800 pixels wide (sizes says 100vw
	// below 52rem), so 1024w is the smallest candidate that covers it.
	do(t, ctx, "size the window", chromedp.EmulateViewport(800, 900))
	navigate(t, ctx, "open /signup", chromedp.Navigate(base+"/signup"))
	const pw = "correct horse battery staple"
	do(t, ctx, "fill the sign-up form",
		chromedp.SendKeys(chromedp.ID("first_name"), "Ada"),
		chromedp.SendKeys(chromedp.ID("last_name"), "Lovelace"),
		chromedp.SendKeys(chromedp.ID("username"), "ada"),
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.org"),
		chromedp.SendKeys(chromedp.ID("phone"), "+44 20 7946 0958"),
		chromedp.SetValue(chromedp.ID("birthday"), "1990-12-10"),
		chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.SendKeys(chromedp.ID("password_confirm"), pw),
	)
	navigate(t, ctx, "sign up", chromedp.Click(chromedp.CSS(`form[action="/signup"] button[type=submit]`)))
	if s := state(t, ctx); s.User != "ada" {
		t.Fatalf("after sign-up: %+v", s)
	}
	navigate(t, ctx, "open /upload", chromedp.Navigate(base+"/upload"))
	do(t, ctx, "fill the upload form",
		chromedp.SendKeys(chromedp.ID("key"), "holiday/photo 1"),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{photo}),
	)
	navigate(t, ctx, "upload", chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)))
	if s := state(t, ctx); s.Path != "/image" {
		t.Fatalf("after uploading: %+v; want the image page", s)
	}

	img := waitImage(t, ctx, ".image-frame img")
	t.Logf("image page: the browser chose %s (%d×%d)", img.Src, img.W, img.H)
	// naturalWidth is the variant's width over its density (1024 pixels
	// for 800 layout pixels): the layout width.
	if !strings.Contains(img.Src, "&w=1024") || img.W != 800 || img.H != 600 {
		t.Fatalf("image page loaded %s at %d×%d; want the 1024w variant, at 800×600 layout pixels", img.Src, img.W, img.H)
	}
	checkDecodes(t, ctx, img.Src, 1024)

	navigate(t, ctx, "open the gallery", chromedp.Navigate(base+"/images"))
	tile := waitImage(t, ctx, ".grid .tile img")
	t.Logf("gallery tile: the browser chose %s (%d×%d)", tile.Src, tile.W, tile.H)
	u, err := url.Parse(tile.Src)
	if err != nil {
		t.Fatal(err)
	}
	side, _ := strconv.Atoi(u.Query().Get("w"))
	if u.Path != "/raw" || u.Query().Get("h") != u.Query().Get("w") || side == 0 || side > 640 {
		t.Fatalf("gallery tile loaded %s; want a square-box variant", tile.Src)
	}
	checkDecodes(t, ctx, tile.Src, side) // a landscape photo fills its box's width
}

// checkDecodes fetches src in the page and decodes the bytes, as an
// image would be, and checks the width.
func checkDecodes(t *testing.T, ctx context.Context, src string, width int) {
	t.Helper()
	evalJS[bool](t, ctx, `(() => {
		window.e2eDecoded = null;
		fetch(`+jsString(src)+`)
			.then(r => r.ok ? r.blob() : Promise.reject("status " + r.status))
			.then(createImageBitmap)
			.then(b => { window.e2eDecoded = b.width; }, e => { window.e2eDecoded = "failed: " + e; });
		return true;
	})()`)
	v := waitJS[any](t, ctx, "decoding "+src, `window.e2eDecoded`)
	got, ok := v.(float64)
	if !ok {
		t.Fatalf("%s does not decode: %v", src, v)
	}
	if int(got) != width {
		t.Fatalf("%s decodes %v pixels wide, want %d", src, got, width)
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// writeGradientJPEG writes a w×h photo-like JPEG to path.
func writeGradientJPEG(t *testing.T, path string, w, h int) {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, m, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
}
