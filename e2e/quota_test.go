package e2e

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixpool/pixpool"
	pixhttp "github.com/pixpool/pixpool/http"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/service"
)

// TestQuotas: an admin sets a user's storage quota on the users page; the
// user sees their usage on the profile, and an upload over the quota
// shows, on the upload page, what is used and what is allowed.
func TestQuotas(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped in -short mode")
	}
	execPath := findBrowser(t)
	env := pixpooltest.New(t)
	srv := &pixhttp.Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	base := ts.URL
	const pw = "correct horse battery staple"
	for _, u := range []*pixpool.User{
		{Username: "grace", FirstName: "Grace", LastName: "Hopper", Email: "grace@example.org", Birthday: time.Date(1906, 12, 9, 0, 0, 0, 0, time.UTC), Phone: "+1 555 0100 001", Admin: true},
		{Username: "bob", FirstName: "Bob", LastName: "B", Email: "bob@example.org", Birthday: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Phone: "+1 555 0100 002"},
	} {
		if err := env.Accounts.CreateUser(context.Background(), u, pw); err != nil {
			t.Fatal(err)
		}
	}
	browser := startBrowser(t, execPath)
	shots := screenshotDir(t)
	pngPath := filepath.Join(t.TempDir(), "big.png")
	writeNoisePNG(t, pngPath, 200, 200) // about 120 KB: over a 100 KiB quota

	step := stepper(t, browser, shots, "quota-failed-")
	login := func(t *testing.T, ctx context.Context, username string) {
		navigate(t, ctx, "open /login", chromedp.Navigate(base+"/login"))
		do(t, ctx, "type the credentials",
			chromedp.SendKeys(chromedp.ID("username"), username),
			chromedp.SendKeys(chromedp.ID("password"), pw))
		navigate(t, ctx, "log in", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
		if s := state(t, ctx); s.User != username {
			t.Fatalf("after logging in as %s: %+v", username, s)
		}
	}

	step("admin sets a quota", func(t *testing.T, ctx context.Context) {
		login(t, ctx, "grace")
		navigate(t, ctx, "open the users page", chromedp.Navigate(base+"/admin/users"))
		form := `form.quota-form[aria-label="Quota of bob"]`
		do(t, ctx, "type bob's quota",
			chromedp.SendKeys(chromedp.CSS(form+` input[name=quota_bytes]`), "100 KiB"),
			chromedp.SendKeys(chromedp.CSS(form+` input[name=quota_images]`), "10"))
		navigate(t, ctx, "set it", chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
		s := state(t, ctx)
		if s.Path != "/admin/users" || s.Notice != "Quota saved." {
			t.Fatalf("after setting the quota: %+v", s)
		}
		summary := evalJS[string](t, ctx, `document.querySelector('form.quota-form[aria-label="Quota of bob"]').closest("td").querySelector(".storage-summary").textContent`)
		if want := "Storage: 0 bytes of 100 KiB used (0 of 10 images)"; summary != want {
			t.Fatalf("bob's storage on the users page: %q, want %q", summary, want)
		}
		screenshot(t, ctx, shots, "quota-users")
	})

	step("admin sets the storage policy", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open Storage policy from the admin nav", chromedp.Click(chromedp.CSS(`.subnav a[href="/admin/policy"]`)))
		if s := state(t, ctx); s.Path != "/admin/policy" || s.H1 != "Storage policy" {
			t.Fatalf("storage policy page: %+v", s)
		}
		do(t, ctx, "type a bad default quota",
			chromedp.Clear(chromedp.ID("quota_bytes")),
			chromedp.SendKeys(chromedp.ID("quota_bytes"), "lots"))
		resp := navigate(t, ctx, "save", chromedp.Click(chromedp.CSS(`form[action="/admin/policy"] button[type=submit]`)))
		if s := state(t, ctx); resp.Status != 400 || !strings.Contains(s.Error, "must be a size such as 500 MiB") || value(t, ctx, "quota_bytes") != "lots" {
			t.Fatalf("bad quota: status %d, %+v, field %q; want 400, the error and the typed value kept", resp.Status, s, value(t, ctx, "quota_bytes"))
		}
		do(t, ctx, "fix it, keep originals",
			chromedp.Clear(chromedp.ID("quota_bytes")),
			chromedp.SendKeys(chromedp.ID("quota_bytes"), "1 GiB"),
			chromedp.Clear(chromedp.ID("trash_days")),
			chromedp.SendKeys(chromedp.ID("trash_days"), "14"),
			chromedp.Click(chromedp.ID("keep_originals")))
		navigate(t, ctx, "save", chromedp.Click(chromedp.CSS(`form[action="/admin/policy"] button[type=submit]`)))
		if s := state(t, ctx); s.Path != "/admin/policy" || s.Notice != "Storage policy saved." {
			t.Fatalf("after saving: %+v", s)
		}
		pol, err := (&service.Policies{Store: env.Store}).Get(ctx)
		if err != nil || pol != (pixpool.Policy{QuotaBytes: 1 << 30, TrashDays: 14, KeepOriginals: true}) {
			t.Fatalf("policy=%+v, %v", pol, err)
		}
		screenshot(t, ctx, shots, "quota-policy")
		navigate(t, ctx, "log out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	})

	step("user sees usage", func(t *testing.T, ctx context.Context) {
		login(t, ctx, "bob")
		navigate(t, ctx, "open the profile", chromedp.Navigate(base+"/profile"))
		if got := texts(t, ctx, ".storage .storage-summary"); len(got) != 1 || got[0] != "Storage: 0 bytes of 100 KiB used (0 of 10 images)" {
			t.Fatalf("profile storage: %q", got)
		}
		if n := count(t, ctx, "meter.storage-meter"); n != 1 {
			t.Fatalf("%d storage meters on the profile, want 1", n)
		}
	})

	step("upload over quota", func(t *testing.T, ctx context.Context) {
		navigate(t, ctx, "open Upload", chromedp.Navigate(base+"/upload"))
		do(t, ctx, "upload a 120 KB image",
			chromedp.SendKeys(chromedp.ID("key"), "big.png"),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{pngPath}),
			chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
		)
		msg := waitJS[string](t, ctx, "the upload error", `(() => {
			const e = document.getElementById("upload-error");
			return !e.hidden && e.textContent;
		})()`)
		for _, want := range []string{"This upload needs ", "but you have 100 KiB left of your 100 KiB quota (0 bytes used", "ask an administrator for a larger quota"} {
			if !strings.Contains(msg, want) {
				t.Fatalf("upload error %q, want it to say %q", msg, want)
			}
		}
		screenshot(t, ctx, shots, "quota-upload-refused")
		navigate(t, ctx, "back to the profile", chromedp.Navigate(base+"/profile"))
		if got := texts(t, ctx, ".storage .storage-summary"); len(got) != 1 || !strings.HasPrefix(got[0], "Storage: 0 bytes of 100 KiB") {
			t.Fatalf("profile storage after the refused upload: %q", got)
		}
	})
}
