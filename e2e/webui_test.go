package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestWebUI walks one user through the web UI in headless Chromium: sign
// up (with a validation error first), upload with the script's progress
// bar, the gallery, get by key, a refused upload, an upload with scripts
// off, deleting, logging out.
func TestWebUI(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped in -short mode")
	}
	execPath := findBrowser(t)
	rec := &uploadRecorder{}
	base := startServer(t, rec)
	browser := startBrowser(t, execPath)
	shots := screenshotDir(t)

	files := t.TempDir()
	const imgW, imgH = 400, 250 // 100,000 noisy pixels: a PNG of about 300 KB
	pngPath := filepath.Join(files, "beach.png")
	writeNoisePNG(t, pngPath, imgW, imgH)
	if fi, err := os.Stat(pngPath); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("test image: %d×%d, %d bytes", imgW, imgH, fi.Size())
	}
	textPath := filepath.Join(files, "notes.png") // text, named like an image
	if err := os.WriteFile(textPath, []byte("These are my holiday notes, not a picture.\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	const (
		username = "ada.l"
		key      = `trip/2024 #1 "beach" & <sun>`
		noJSKey  = `no script/ünïcode?.png`
		badKey   = "notes.png"
	)

	step := stepper(t, browser, shots, "failed-")

	step("home", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open /", chromedp.Navigate(base+"/"))
		if s := state(t, ctx); s.Path != "/" || s.User != "" || count(t, ctx, `.nav-user a[href="/login"]`) != 1 {
			t.Fatalf("logged-out home page: %+v; want a Log in link and no user", s)
		}
		navigate(t, ctx, "follow Create an account", chromedp.Click(chromedp.CSS(`.hero a[href="/signup"]`)))
		if s := state(t, ctx); s.Path != "/signup" || count(t, ctx, `form[action="/signup"]`) != 1 {
			t.Fatalf("after Create an account: %+v; want the sign-up form", s)
		}
	})

	step("signup", func(t *testing.T, ctx context.Context) {
		fields := map[string]string{
			"first_name": "Ada",
			"last_name":  "Lovelace",
			"username":   username,
			// Chrome's type=email check accepts a domain without a dot,
			// the server does not: this reaches the server's validation.
			"email": "ada@localhost",
			"phone": "+44 20 7946 0958",
		}
		const birthday = "1990-12-10" // a date input's value is always ISO, whatever the locale shows
		const pw = "correct horse battery staple"
		for _, id := range []string{"first_name", "last_name", "username", "email", "phone"} {
			do(t, ctx, "type "+id, chromedp.SendKeys(chromedp.ID(id), fields[id]))
		}
		do(t, ctx, "fill the form",
			chromedp.SetValue(chromedp.ID("birthday"), birthday),
			chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.SendKeys(chromedp.ID("password_confirm"), pw),
		)
		if got := value(t, ctx, "birthday"); got != birthday {
			t.Fatalf("the date input took %q as %q", birthday, got)
		}
		submit := chromedp.Click(chromedp.CSS(`form[action="/signup"] button[type=submit]`))
		resp := navigate(t, ctx, "submit sign-up with a bad email", submit)
		s := state(t, ctx)
		if resp.Status != 400 || s.Path != "/signup" || s.User != "" {
			t.Fatalf("bad email: status %d, page %+v; want 400 on /signup, logged out", resp.Status, s)
		}
		if want := "Email must be an address like name@example.org."; s.Error != want {
			t.Errorf("error shown: %q, want %q", s.Error, want)
		}
		for id, want := range fields {
			if got := value(t, ctx, id); got != want {
				t.Errorf("after the error, #%s = %q, want the typed %q kept", id, got, want)
			}
		}
		if got := value(t, ctx, "birthday"); got != birthday {
			t.Errorf("after the error, #birthday = %q, want %q kept", got, birthday)
		}
		if got := value(t, ctx, "password"); got != "" {
			t.Errorf("after the error the password field was re-filled: %q", got)
		}
		if t.Failed() {
			t.FailNow()
		}

		do(t, ctx, "fix the email and type the passwords again",
			chromedp.Clear(chromedp.ID("email")),
			chromedp.SendKeys(chromedp.ID("email"), "ada@example.org"),
			chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.SendKeys(chromedp.ID("password_confirm"), pw),
		)
		resp = navigate(t, ctx, "submit sign-up", submit)
		s = state(t, ctx)
		if resp.Status != 200 || s.Path != "/" || s.User != username || s.H1 != "Hello, Ada" {
			t.Fatalf("after sign-up: status %d, page %+v; want the dashboard of %s", resp.Status, s, username)
		}
	})

	step("upload with progress", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open Upload", chromedp.Click(chromedp.CSS(`.nav-links a[href="/upload"]`)))
		do(t, ctx, "fill the upload form",
			chromedp.SendKeys(chromedp.ID("key"), key),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{pngPath}),
		)
		if got := value(t, ctx, "key"); got != key {
			t.Fatalf("typed key %q, field has %q", key, got)
		}
		// On loopback the upload takes milliseconds and the page then
		// leaves, so watch the progress bar from inside the page and keep
		// what it showed in sessionStorage, which outlives the navigation.
		evalJS[bool](t, ctx, `(() => {
			const form = document.getElementById("upload-form");
			const status = document.getElementById("upload-status");
			const bar = document.getElementById("upload-progress");
			const text = document.getElementById("upload-progress-text");
			const seen = {shown: false, max: 0, barMax: bar.max, text: ""};
			new MutationObserver(() => {
				seen.shown = seen.shown || !status.hidden;
				seen.max = Math.max(seen.max, bar.value);
				seen.text = text.textContent;
				sessionStorage.setItem("e2e-progress", JSON.stringify(seen));
			}).observe(form, {attributes: true, childList: true, characterData: true, subtree: true});
			sessionStorage.removeItem("e2e-progress");
			return true;
		})()`)
		// The script posts with XMLHttpRequest and, when the answer comes,
		// assigns location: navigate waits for that page to load.
		resp := navigate(t, ctx, "upload", chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)))
		if n, xhr := rec.last(); n != 1 || !xhr {
			t.Errorf("uploads seen by the server: %d, last by XMLHttpRequest: %v; want 1 by the script", n, xhr)
		}
		s := state(t, ctx)
		if resp.Status != 200 || s.Path != "/image" || s.Query != key {
			t.Fatalf("after uploading: status %d, page %+v; want /image?key=%q", resp.Status, s, key)
		}
		type progress struct {
			Shown  bool    `json:"shown"`
			Max    float64 `json:"max"`
			BarMax float64 `json:"barMax"`
			Text   string  `json:"text"`
		}
		p := evalJS[progress](t, ctx, `JSON.parse(sessionStorage.getItem("e2e-progress") || "{}")`)
		t.Logf("progress bar seen: %+v", p)
		if !p.Shown || p.BarMax == 0 || p.Max != p.BarMax {
			t.Errorf("progress bar: %+v; want it shown and filled to its max", p)
		}
		if !strings.HasPrefix(p.Text, "Uploaded.") {
			t.Errorf("progress text at the end: %q, want Uploaded. …", p.Text)
		}

		// The image page.
		if s.H1 != key || s.Title != key+" · pixpool" {
			t.Errorf("image page heading %q, title %q; want the key %q", s.H1, s.Title, key)
		}
		if got := texts(t, ctx, ".meta dd.key"); !slices.Equal(got, []string{key}) {
			t.Errorf("image page key: %q, want %q", got, key)
		}
		img := waitImage(t, ctx, ".image-frame img")
		if img.W != imgW || img.H != imgH {
			t.Errorf("image page shows a %d×%d image (%s), want %d×%d", img.W, img.H, img.Src, imgW, imgH)
		}
		screenshot(t, ctx, shots, "image-page")
	})

	step("gallery", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open My images", chromedp.Click(chromedp.CSS(`.nav-links a[href="/images"]`)))
		if s := state(t, ctx); s.Path != "/images" || s.H1 != "My images" {
			t.Fatalf("My images: %+v", s)
		}
		if got := texts(t, ctx, ".grid .tile-key"); !slices.Equal(got, []string{key}) {
			t.Fatalf("gallery tiles: %q, want just %q", got, key)
		}
		thumb := waitImage(t, ctx, ".grid .tile img")
		t.Logf("thumbnail: %d×%d", thumb.W, thumb.H)
		if thumb.W <= 0 || thumb.W > imgW {
			t.Errorf("thumbnail is %d px wide", thumb.W)
		}
		screenshot(t, ctx, shots, "gallery")
	})

	step("get by key", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open Get by key", chromedp.Click(chromedp.CSS(`.nav-links a[href="/get"]`)))
		do(t, ctx, "type the key", chromedp.SendKeys(chromedp.ID("key"), key))
		navigate(t, ctx, "get", chromedp.Click(chromedp.CSS(`form[action="/get"] button[type=submit]`)))
		s := state(t, ctx)
		if s.Path != "/get" || s.Query != key || s.Error != "" {
			t.Fatalf("get by key: %+v", s)
		}
		if got := texts(t, ctx, ".meta dd.key"); !slices.Equal(got, []string{key}) {
			t.Errorf("get by key shows key %q, want %q", got, key)
		}
		if img := waitImage(t, ctx, ".image-frame img"); img.W != imgW {
			t.Errorf("get by key shows an image %d px wide, want %d", img.W, imgW)
		}
	})

	step("refused upload", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open Upload", chromedp.Click(chromedp.CSS(`.nav-links a[href="/upload"]`)))
		do(t, ctx, "upload a text file named .png",
			chromedp.SendKeys(chromedp.ID("key"), badKey),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{textPath}),
			chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
		)
		// The script shows the server's message in place; nothing loads.
		msg := waitJS[string](t, ctx, "the upload error", `(() => {
			const e = document.getElementById("upload-error");
			return !e.hidden && e.textContent;
		})()`)
		if want := "The file is not a JPEG, PNG, GIF or WebP image."; msg != want {
			t.Errorf("upload error: %q, want %q", msg, want)
		}
		if n, xhr := rec.last(); n != 2 || !xhr {
			t.Errorf("uploads seen by the server: %d, last by XMLHttpRequest: %v; want 2, by the script", n, xhr)
		}
		if s := state(t, ctx); s.Path != "/upload" {
			t.Errorf("after a refused upload the page is %+v, want still /upload", s)
		}
		if disabled := evalJS[bool](t, ctx, `document.querySelector("#upload-form button[type=submit]").disabled`); disabled {
			t.Errorf("the Upload button stays disabled after the error")
		}
		screenshot(t, ctx, shots, "upload-error")

		navigate(t, ctx, "open My images", chromedp.Click(chromedp.CSS(`.nav-links a[href="/images"]`)))
		if got := texts(t, ctx, ".grid .tile-key"); !slices.Equal(got, []string{key}) {
			t.Errorf("gallery after the refused upload: %q, want just %q", got, key)
		}
	})

	step("upload without JavaScript", func(t *testing.T, ctx context.Context) {
		// A second tab of the same browser shares the session cookie;
		// turning scripts off there leaves the first tab alone.
		tab, closeTab := chromedp.NewContext(ctx)
		defer closeTab()
		noScript := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		})
		do(t, tab, "turn scripts off", noScript)
		navigate(t, tab, "open /upload", chromedp.Navigate(base+"/upload"))
		do(t, tab, "fill the upload form",
			chromedp.SendKeys(chromedp.ID("key"), noJSKey),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{pngPath}),
		)
		resp := navigate(t, tab, "upload", chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)))
		if n, xhr := rec.last(); n != 3 || xhr {
			t.Errorf("uploads seen by the server: %d, last by XMLHttpRequest: %v; want 3, the last a plain form post", n, xhr)
		}
		s := state(t, tab)
		if resp.Status != 200 || s.Path != "/image" || s.Query != noJSKey || s.H1 != noJSKey {
			t.Fatalf("after uploading without scripts: status %d, page %+v; want the image page of %q", resp.Status, s, noJSKey)
		}
		if img := waitImage(t, tab, ".image-frame img"); img.W != imgW {
			t.Errorf("image page shows an image %d px wide, want %d", img.W, imgW)
		}
	})

	step("delete", func(t *testing.T, ctx context.Context) {
		for _, k := range []string{key, noJSKey} {
			navigate(t, ctx, "open My images", chromedp.Click(chromedp.CSS(`.nav-links a[href="/images"]`)))
			tiles := texts(t, ctx, ".grid .tile-key")
			i := slices.Index(tiles, k)
			if i < 0 {
				t.Fatalf("gallery tiles %q, want one for %q", tiles, k)
			}
			navigate(t, ctx, "open "+k, chromedp.Click(chromedp.CSS(fmt.Sprintf(".grid .tile:nth-child(%d) a", i+1))))
			if s := state(t, ctx); s.Path != "/image" || s.Query != k {
				t.Fatalf("clicked the tile of %q, got %+v", k, s)
			}
			do(t, ctx, "tick the confirmation", chromedp.Click(chromedp.ID("confirm")))
			resp := navigate(t, ctx, "delete "+k, chromedp.Click(chromedp.CSS(`.danger-zone button[type=submit]`)))
			s := state(t, ctx)
			if resp.Status != 200 || s.Path != "/images" || !strings.HasPrefix(s.Notice, "Image moved to the trash. You can restore it from the Trash until ") {
				t.Fatalf("after deleting %q: status %d, page %+v", k, resp.Status, s)
			}
			if got := texts(t, ctx, ".grid .tile-key"); slices.Contains(got, k) {
				t.Fatalf("gallery still has %q: %q", k, got)
			}
		}
		if n := count(t, ctx, ".grid .tile"); n != 0 {
			t.Errorf("gallery has %d tiles after deleting everything", n)
		}
		if got := texts(t, ctx, "p.empty"); len(got) != 1 || !strings.HasPrefix(got[0], "You have no images yet.") {
			t.Errorf("empty gallery says %q", got)
		}
	})

	step("trash", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open Trash", chromedp.Click(chromedp.CSS(`.nav-links a[href="/trash"]`)))
		// Most recently deleted first.
		if got := texts(t, ctx, ".trash-item .key"); !slices.Equal(got, []string{noJSKey, key}) {
			t.Fatalf("trash lists %q, want %q then %q", got, noJSKey, key)
		}
		if img := waitImage(t, ctx, ".trash-item:nth-child(2) img"); img.W == 0 {
			t.Errorf("the trashed image's thumbnail did not load")
		}
		if got := texts(t, ctx, ".trash-item .days-left"); len(got) != 2 || got[0] != "30 days left" {
			t.Errorf("days left: %q, want 30 days left", got)
		}
		screenshot(t, ctx, shots, "trash")

		resp := navigate(t, ctx, "restore "+key, chromedp.Click(chromedp.CSS(`.trash-item:nth-child(2) .trash-actions form[action="/trash/restore"] button`)))
		if s := state(t, ctx); resp.Status != 200 || s.Path != "/image" || s.Query != key || s.Notice != "Image restored from the trash." {
			t.Fatalf("after Restore: status %d, page %+v; want the image page of %q saying it was restored", resp.Status, s, key)
		}
		if img := waitImage(t, ctx, ".image-frame img"); img.W != imgW {
			t.Errorf("the restored image shows %d px wide, want %d", img.W, imgW)
		}
		navigate(t, ctx, "open My images", chromedp.Click(chromedp.CSS(`.nav-links a[href="/images"]`)))
		if got := texts(t, ctx, ".grid .tile-key"); !slices.Equal(got, []string{key}) {
			t.Fatalf("gallery after the restore: %q, want %q back", got, key)
		}

		navigate(t, ctx, "open Trash", chromedp.Click(chromedp.CSS(`.nav-links a[href="/trash"]`)))
		resp = navigate(t, ctx, "delete "+noJSKey+" forever", chromedp.Click(chromedp.CSS(`.trash-item .trash-actions form[action="/trash/delete"] button`)))
		if s := state(t, ctx); resp.Status != 200 || s.Path != "/trash" || s.Notice != "The image was deleted for good." {
			t.Fatalf("after Delete forever: status %d, page %+v", resp.Status, s)
		}
		if got := texts(t, ctx, "p.empty"); len(got) != 1 || got[0] != "The trash is empty." {
			t.Errorf("trash after Delete forever says %q, want it empty", got)
		}

		// Delete the restored one again, and empty the trash.
		navigate(t, ctx, "open "+key, chromedp.Navigate(base+"/image?key="+url.QueryEscape(key)))
		do(t, ctx, "tick the confirmation", chromedp.Click(chromedp.ID("confirm")))
		navigate(t, ctx, "delete "+key, chromedp.Click(chromedp.CSS(`.danger-zone button[type=submit]`)))
		navigate(t, ctx, "open Trash", chromedp.Click(chromedp.CSS(`.nav-links a[href="/trash"]`)))
		if got := texts(t, ctx, ".trash-item .key"); !slices.Equal(got, []string{key}) {
			t.Fatalf("trash lists %q, want %q", got, key)
		}
		do(t, ctx, "tick Empty trash's confirmation", chromedp.Click(chromedp.ID("confirm-empty")))
		resp = navigate(t, ctx, "empty the trash", chromedp.Click(chromedp.CSS(`form[action="/trash/empty"] button`)))
		if s := state(t, ctx); resp.Status != 200 || s.Notice != "The trash was emptied: its images were deleted for good." || count(t, ctx, ".trash-item") != 0 {
			t.Fatalf("after Empty trash: status %d, page %+v, %d items", resp.Status, s, count(t, ctx, ".trash-item"))
		}
	})

	step("logout", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "log out", chromedp.Click(chromedp.CSS(`.nav-user button[type=submit]`)))
		if s := state(t, ctx); s.Path != "/" || s.User != "" || count(t, ctx, `.nav-user a[href="/login"]`) != 1 {
			t.Fatalf("after logging out: %+v; want the home page with a Log in link", s)
		}
		navigate(t, ctx, "open /images logged out", chromedp.Navigate(base+"/images"))
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		if u.Path != "/login" || u.Query().Get("next") != "/images" {
			t.Errorf("/images logged out went to %s, want /login?next=/images", loc)
		}
		if s := state(t, ctx); s.H1 != "Log in" || s.User != "" {
			t.Errorf("login page: %+v", s)
		}
	})
}
