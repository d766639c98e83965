package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/pixpool/pixpool"
	pixhttp "github.com/pixpool/pixpool/http"
	"github.com/pixpool/pixpool/imaging"
	"github.com/pixpool/pixpool/imaging/exiftest"
	"github.com/pixpool/pixpool/pixpooltest"
)

// TestPrivacy uploads a phone photo with a GPS position, turned on its
// side (EXIF orientation 6), through the upload page, and checks in the
// browser that the bytes served hold no metadata yet still show the photo
// upright, that the image page shows its owner where it was taken, and
// that the original downloads while the policy keeps originals.
func TestPrivacy(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped in -short mode")
	}
	execPath := findBrowser(t)
	env := pixpooltest.New(t)
	if err := env.Images.Policies.Set(context.Background(), pixpool.Policy{TrashDays: 30, KeepOriginals: true}); err != nil {
		t.Fatal(err)
	}
	srv := &pixhttp.Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	base := ts.URL
	browser := startBrowser(t, execPath)
	shots := screenshotDir(t)

	const w, h = 120, 80
	p := exiftest.Sample
	p.Orientation = 6 // the camera was held upright: show it 80×120
	photo := exiftest.JPEG(w, h, p)
	path := filepath.Join(t.TempDir(), "lake.jpg")
	if err := os.WriteFile(path, photo, 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "holiday/lake.jpg"

	step := stepper(t, browser, shots, "failed-privacy-")

	step("signup", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open /signup", chromedp.Navigate(base+"/signup"))
		for id, v := range map[string]string{"first_name": "Ada", "last_name": "Lovelace", "username": "ada",
			"email": "ada@example.org", "phone": "+44 20 7946 0958"} {
			do(t, ctx, "type "+id, chromedp.SendKeys(chromedp.ID(id), v))
		}
		do(t, ctx, "fill the form",
			chromedp.SetValue(chromedp.ID("birthday"), "1990-12-10"),
			chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
			chromedp.SendKeys(chromedp.ID("password_confirm"), "correct horse battery staple"),
		)
		navigate(t, ctx, "submit", chromedp.Click(chromedp.CSS(`form[action="/signup"] button[type=submit]`)))
		if s := state(t, ctx); s.User != "ada" {
			t.Fatalf("after sign-up: %+v", s)
		}
	})

	step("upload", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open Upload", chromedp.Navigate(base+"/upload"))
		do(t, ctx, "fill the upload form",
			chromedp.SendKeys(chromedp.ID("key"), key),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{path}),
		)
		navigate(t, ctx, "upload", chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)))
		if s := state(t, ctx); s.Path != "/image" || s.Query != key {
			t.Fatalf("after uploading: %+v", s)
		}
	})

	step("served bytes", func(t *testing.T, ctx context.Context) {
		// The image shows upright: the browser turned it by the
		// orientation the stripped bytes kept.
		if got := waitImage(t, ctx, ".image-frame img"); got.W != h || got.H != w {
			t.Errorf("image shown %d×%d, want %d×%d (turned by its orientation)", got.W, got.H, h, w)
		}
		// Fetched by the page, with its session, as a visitor's browser
		// gets it; read back here as base64.
		evalJS[bool](t, ctx, `(window.e2eServed = null, (async () => {
			const img = document.querySelector(".image-frame img");
			const b = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
			return btoa(Array.from(b, c => String.fromCharCode(c)).join(""));
		})().then(v => window.e2eServed = v), true)`)
		served, err := base64.StdEncoding.DecodeString(waitJS[string](t, ctx, "the served bytes", `window.e2eServed`))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("uploaded %d bytes, served %d", len(photo), len(served))
		// What EXIF the served bytes still have says only the orientation.
		st, err := imaging.Strip(served)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Metadata; m.GPS != nil || m.Make != "" || m.Taken != "" || m.Orientation != 6 || bytes.Contains(served, []byte("Jane Secret")) {
			t.Errorf("served bytes still say %+v; want only orientation 6", m)
		}
	})

	step("metadata shown", func(t *testing.T, ctx context.Context) {
		meta := strings.Join(texts(t, ctx, "section.privacy"), " ")
		for _, want := range []string{"TestCam Model X", "2024-05-01T12:34:56", "46.519654, 6.632273", "495.5 m", "GPS position"} {
			if !strings.Contains(meta, want) {
				t.Errorf("metadata section %q lacks %q", meta, want)
			}
		}
		screenshot(t, ctx, shots, "privacy-image-page")
	})

	step("original", func(t *testing.T, ctx context.Context) {
		type download struct {
			Status      int    `json:"status"`
			Disposition string `json:"disposition"`
			Size        int    `json:"size"`
			Camera      bool   `json:"camera"`
		}
		evalJS[bool](t, ctx, `(window.e2eOriginal = null, (async () => {
			const a = document.getElementById("download-original");
			if (!a) return {status: -1};
			const r = await fetch(a.href);
			const b = new Uint8Array(await r.arrayBuffer());
			return {status: r.status, disposition: r.headers.get("Content-Disposition") || "", size: b.length,
				camera: Array.from(b, c => String.fromCharCode(c)).join("").includes("TestCam")};
		})().then(v => window.e2eOriginal = v), true)`)
		got := waitJS[download](t, ctx, "the original", `window.e2eOriginal`)
		if got.Status != 200 || got.Size != len(photo) || !got.Camera || !strings.HasPrefix(got.Disposition, "attachment") {
			t.Errorf("original: %+v; want the %d bytes uploaded as an attachment", got, len(photo))
		}
	})
}
