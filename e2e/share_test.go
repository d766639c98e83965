package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixpool/pixpool"
	pixhttp "github.com/pixpool/pixpool/http"
	"github.com/pixpool/pixpool/pixpooltest"
)

// TestShareLinks: an owner makes share links in the web UI, and people
// without an account open them in browsers of their own: an image with a
// view limit of one (the second visitor is told the limit is reached), a
// live album of a key prefix, and a link revoked from the Shared links
// page.
func TestShareLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped in -short mode")
	}
	execPath := findBrowser(t)
	env := pixpooltest.New(t)
	srv := &pixhttp.Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	base := ts.URL

	const username, pw = "owner", "correct horse battery staple"
	ctx := context.Background()
	u := &pixpool.User{Username: username, FirstName: "Olive", LastName: "Owner", Email: "olive@example.org",
		Birthday: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Phone: "+44 20 7946 0000"}
	if err := env.Accounts.CreateUser(ctx, u, pw); err != nil {
		t.Fatal(err)
	}
	sizes := map[string][2]int{"cats/tom.png": {64, 48}, "cats/kit.png": {50, 40}, "dogs/rex.png": {30, 30}}
	for key, wh := range sizes {
		if _, err := env.Images.Put(ctx, u.ID, key, pixpooltest.PNG(t, wh[0], wh[1], uint8(wh[0]))); err != nil {
			t.Fatal(err)
		}
	}

	browser := startBrowser(t, execPath)
	shots := screenshotDir(t)
	step := stepper(t, browser, shots, "failed-share-")
	// stranger runs f in a new browser context of its own: no cookies,
	// no cache, as someone else's browser.
	stranger := func(t *testing.T, ctx context.Context, f func(ctx context.Context)) {
		t.Helper()
		sctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
		defer cancel()
		f(sctx)
	}
	// newLink reads the link just made from the Shared links page.
	newLink := func(t *testing.T, ctx context.Context) string {
		t.Helper()
		s := state(t, ctx)
		if s.Path != "/shares" || !strings.HasPrefix(s.Notice, "Link created.") {
			t.Fatalf("after making a link: %+v; want the Shared links page saying it was created", s)
		}
		link := evalJS[string](t, ctx, `document.querySelector("tr.share-new input.share-url").value`)
		if !strings.HasPrefix(link, base+"/s/") {
			t.Fatalf("new link %q, want it under %s/s/", link, base)
		}
		return link
	}

	step("log in", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open /login", chromedp.Navigate(base+"/login"))
		do(t, ctx, "fill the login form",
			chromedp.SendKeys(chromedp.ID("username"), username),
			chromedp.SendKeys(chromedp.ID("password"), pw))
		navigate(t, ctx, "log in", chromedp.Click(chromedp.CSS(`form[action^="/login"] button[type=submit]`)))
		if s := state(t, ctx); s.User != username {
			t.Fatalf("after logging in: %+v", s)
		}
	})

	var imageLink string
	step("share an image", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open the image page", chromedp.Navigate(base+"/image?key=cats/tom.png"))
		do(t, ctx, "open the Share form", chromedp.Click(chromedp.CSS(`.share-box summary`)))
		do(t, ctx, "fill the Share form",
			chromedp.SetValue(chromedp.ID("share-expires"), "604800"),
			chromedp.SendKeys(chromedp.ID("share-views"), "1"),
			chromedp.SendKeys(chromedp.ID("share-title"), "Tom the cat"))
		screenshot(t, ctx, shots, "share-form")
		navigate(t, ctx, "create the link", chromedp.Click(chromedp.CSS(`#share-image-form button[type=submit]`)))
		imageLink = newLink(t, ctx)
		row := texts(t, ctx, "tr.share-new td")
		if len(row) < 6 || !strings.Contains(row[0], "cats/tom.png") || row[4] != "0 / 1" || row[5] != "Live" {
			t.Fatalf("new link's row: %q", row)
		}
		do(t, ctx, "copy the link", chromedp.Click(chromedp.CSS(`tr.share-new button.copy-link`)))
		if got := waitJS[string](t, ctx, "the Copy button's answer", `(() => {
			const b = document.querySelector("tr.share-new button.copy-link");
			return b.textContent === "Copied" && b.textContent;
		})()`); got != "Copied" {
			t.Fatalf("copy button says %q", got)
		}
		screenshot(t, ctx, shots, "share-created")
	})

	step("open the image link", func(t *testing.T, ctx context.Context) {
		stranger(t, ctx, func(ctx context.Context) {
			resp := navigate(t, ctx, "open the link", chromedp.Navigate(imageLink))
			s := state(t, ctx)
			if resp.Status != 200 || s.User != "" || s.H1 != "Tom the cat" {
				t.Fatalf("shared image page: status %d, %+v; want 200, no user, the title", resp.Status, s)
			}
			if img := waitImage(t, ctx, "#shared-image"); img.W != 64 || img.H != 48 {
				t.Fatalf("shared image is %d×%d, want 64×48", img.W, img.H)
			}
			screenshot(t, ctx, shots, "share-image")
		})
	})

	step("view limit reached", func(t *testing.T, ctx context.Context) {
		stranger(t, ctx, func(ctx context.Context) {
			resp := navigate(t, ctx, "open the link again", chromedp.Navigate(imageLink))
			reason := texts(t, ctx, "#gone-reason")
			if resp.Status != 410 || len(reason) != 1 || !strings.Contains(reason[0], "limit has been reached") {
				t.Fatalf("second visit: status %d, reason %q; want 410 saying the limit is reached", resp.Status, reason)
			}
			screenshot(t, ctx, shots, "share-used-up")
		})
	})

	var albumLink string
	step("share an album", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open the gallery filtered by cats/", chromedp.Navigate(base+"/images?prefix=cats/"))
		do(t, ctx, "open the album form", chromedp.Click(chromedp.CSS(`.share-box summary`)))
		if got := value(t, ctx, "share-prefix"); got != "cats/" {
			t.Fatalf("album form prefix %q, want the filter cats/", got)
		}
		screenshot(t, ctx, shots, "share-album-form")
		navigate(t, ctx, "create the album link", chromedp.Click(chromedp.CSS(`#share-album-form button[type=submit]`)))
		albumLink = newLink(t, ctx)
		stranger(t, ctx, func(ctx context.Context) {
			navigate(t, ctx, "open the album link", chromedp.Navigate(albumLink))
			if got := texts(t, ctx, ".grid .tile-key"); !slices.Equal(got, []string{"cats/kit.png", "cats/tom.png"}) {
				t.Fatalf("album tiles %q, want the cats/ images", got)
			}
			for i := 1; i <= 2; i++ {
				waitImage(t, ctx, fmt.Sprintf(".grid .tile:nth-child(%d) img", i))
			}
			screenshot(t, ctx, shots, "share-album")
			navigate(t, ctx, "open an image of the album", chromedp.Click(chromedp.CSS(`.grid .tile:nth-child(1) a`)))
			if img := waitImage(t, ctx, "#shared-image"); img.W != 50 {
				t.Fatalf("album image is %d px wide, want 50", img.W)
			}
		})
	})

	step("revoke", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open Shared links", chromedp.Click(chromedp.CSS(`.nav-links a[href="/shares"]`)))
		row := fmt.Sprintf(`tr.share-row:has(input[value=%q])`, albumLink)
		navigate(t, ctx, "revoke the album link", chromedp.Click(chromedp.CSS(row+` button[type=submit]`)))
		if s := state(t, ctx); !strings.HasPrefix(s.Notice, "Link revoked") {
			t.Fatalf("after revoking: %+v", s)
		}
		if got := texts(t, ctx, row+" .share-status"); !slices.Equal(got, []string{"Revoked"}) {
			t.Fatalf("album link's status %q, want Revoked", got)
		}
		stranger(t, ctx, func(ctx context.Context) {
			resp := navigate(t, ctx, "open the revoked link", chromedp.Navigate(albumLink))
			reason := texts(t, ctx, "#gone-reason")
			if resp.Status != 410 || len(reason) != 1 || !strings.Contains(reason[0], "turned this link off") {
				t.Fatalf("revoked link: status %d, reason %q", resp.Status, reason)
			}
		})
	})
}
