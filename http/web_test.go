package http

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestWeb_Flow(t *testing.T) {
	_, ts := newTestServer(t)
	b := newBrowser(t, ts)

	resp, body := b.get("/")
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, `href="/signup"`, `href="/login"`)

	b.signUp("ada")
	resp, body = b.get("/")
	wantContains(t, body, "ada", "Log out", "<strong>0</strong>")

	// Log out, then in again.
	resp, body = b.post("/logout", url.Values{"csrf": {b.csrf()}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("logout: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.get("/upload"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logged out /upload: status %d, want a redirect to log in", resp.StatusCode)
	}
	resp, body = b.post("/login", url.Values{"username": {"ada"}, "password": {"wrong password"}})
	wantStatus(t, resp, body, http.StatusUnauthorized)
	wantContains(t, body, "Wrong username or password.", `value="ada"`)
	if resp := b.login("ada", "correct horse battery", ""); resp.Header.Get("Location") != "/" {
		t.Fatalf("login: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Upload under a key that needs escaping everywhere.
	key := `holiday/a b&c#d?e<f>"g'h.png`
	pic := testPNG(t, 64, 48, 1)
	csrf := b.csrf()
	resp, body = b.upload(csrf, key, pic)
	wantStatus(t, resp, body, http.StatusSeeOther)
	if loc, want := resp.Header.Get("Location"), imageURL(key); loc != want {
		t.Fatalf("upload redirects to %q, want %q", loc, want)
	}

	resp, body = b.get("/get?" + url.Values{"key": {key}}.Encode())
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, sha(pic), "64 × 48")
	if got := keysLinked(t, body, "/raw"); len(got) == 0 || got[0] != key {
		t.Fatalf("get page raw links %q, want %q", got, key)
	}

	resp, body = b.get("/images")
	wantStatus(t, resp, body, http.StatusOK)
	if got := keysLinked(t, body, "/thumb"); len(got) != 1 || got[0] != key {
		t.Fatalf("gallery thumbnails %q, want [%q]", got, key)
	}
	if got := keysLinked(t, body, "/image"); len(got) != 1 || got[0] != key {
		t.Fatalf("gallery links %q, want [%q]", got, key)
	}
	wantContains(t, body, `loading="lazy"`, `width="64" height="48"`)

	resp, body = b.get("/thumb?" + url.Values{"key": {key}}.Encode())
	wantStatus(t, resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" || !strings.HasPrefix(body, "\xff\xd8") {
		t.Fatalf("thumbnail: type %q, starts %q; want a JPEG", ct, body[:min(4, len(body))])
	}

	resp, body = b.get(imageURL(key))
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, sha(pic), "image/png", "64 × 48", html.EscapeString(key))
	if got := keysLinked(t, body, "/upload"); len(got) != 1 || got[0] != key {
		t.Fatalf("replace link keys %q, want [%q]", got, key)
	}

	resp, body = b.get("/raw?" + url.Values{"key": {key}}.Encode())
	wantStatus(t, resp, body, http.StatusOK)
	if body != string(pic) || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("raw: %d bytes of %q, want the %d uploaded", len(body), resp.Header.Get("Content-Type"), len(pic))
	}
	resp, _ = b.get("/raw?" + url.Values{"key": {key}, "download": {"1"}}.Encode())
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "e_f_") || strings.ContainsAny(cd, "<>#?") {
		t.Fatalf("download Content-Disposition %q", cd)
	}

	// The upload form comes prefilled for a replacement.
	resp, body = b.get("/upload?" + url.Values{"key": {key}}.Encode())
	wantStatus(t, resp, body, http.StatusOK)
	wantContains(t, body, `value="`+html.EscapeString(key)+`"`, "20 MiB", `enctype="multipart/form-data"`)

	pic2 := testPNG(t, 30, 40, 2)
	resp, body = b.upload(csrf, key, pic2)
	wantStatus(t, resp, body, http.StatusSeeOther)
	_, body = b.get(imageURL(key))
	wantContains(t, body, sha(pic2), "30 × 40")

	_, body = b.get("/")
	wantContains(t, body, "<strong>1</strong>", "/thumb?key=")

	// Delete wants the box ticked.
	resp, body = b.post("/image/delete", url.Values{"csrf": {csrf}, "key": {key}})
	wantStatus(t, resp, body, http.StatusBadRequest)
	resp, body = b.post("/image/delete", url.Values{"csrf": {csrf}, "key": {key}, "confirm": {"yes"}})
	wantStatus(t, resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/images") {
		t.Fatalf("delete redirects to %q", loc)
	}
	resp, body = b.get("/images?msg=deleted")
	wantContains(t, body, "Image deleted.", `href="/upload"`)
	resp, body = b.get("/raw?" + url.Values{"key": {key}}.Encode())
	wantStatus(t, resp, body, http.StatusNotFound)

	resp, body = b.post("/logout", url.Values{"csrf": {csrf}})
	wantStatus(t, resp, body, http.StatusSeeOther)
	_, body = b.get("/")
	wantContains(t, body, `href="/login"`)
}

func TestWeb_Security(t *testing.T) {
	srv, ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	csrf := b.csrf()
	pic := testPNG(t, 16, 16, 3)
	if resp, body := b.upload(csrf, "cat", pic); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d\n%s", resp.StatusCode, body)
	}
	stillThere := func() {
		t.Helper()
		if resp, _ := b.get("/raw?key=cat"); resp.StatusCode != http.StatusOK {
			t.Fatalf("the image is gone: status %d", resp.StatusCode)
		}
	}

	t.Run("Headers", func(t *testing.T) {
		anon := newBrowser(t, ts)
		for _, path := range []string{"/", "/images", "/profile", "/image?key=cat", "/get?key=nope", "/upload"} {
			resp, _ := b.get(path)
			h := resp.Header
			if path == "/" {
				resp, _ := anon.get("/login")
				h = resp.Header
			}
			if h.Get("Content-Security-Policy") != pageCSP || h.Get("X-Frame-Options") != "DENY" ||
				h.Get("Referrer-Policy") != "same-origin" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: security headers missing: %v", path, h)
			}
		}
		for _, path := range []string{"/static/style.css", "/static/upload.js", "/static/favicon.svg"} {
			if resp, _ := b.get(path); resp.StatusCode != http.StatusOK {
				t.Errorf("%s: status %d", path, resp.StatusCode)
			}
		}
		for _, page := range []string{"/", "/upload", "/image?key=cat", "/profile"} {
			_, body := b.get(page)
			if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
				t.Errorf("%s has inline script or style", page)
			}
		}
	})
	t.Run("NoToken", func(t *testing.T) {
		resp, body := b.post("/image/delete", url.Values{"key": {"cat"}, "confirm": {"yes"}})
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = b.post("/image/delete", url.Values{"csrf": {"forged"}, "key": {"cat"}, "confirm": {"yes"}})
		wantStatus(t, resp, body, http.StatusForbidden)
		stillThere()
		resp, body = b.upload("", "dog", pic)
		wantStatus(t, resp, body, http.StatusForbidden)
		if resp, _ := b.get("/raw?key=dog"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("upload without token stored the image: status %d", resp.StatusCode)
		}
		resp, body = b.post("/logout", nil)
		wantStatus(t, resp, body, http.StatusForbidden)
		stillThere() // still logged in
	})
	t.Run("CrossSite", func(t *testing.T) {
		resp, body := b.post("/image/delete", url.Values{"csrf": {csrf}, "key": {"cat"}, "confirm": {"yes"}},
			"Sec-Fetch-Site", "cross-site")
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = b.post("/profile", url.Values{"csrf": {csrf}, "username": {"mallory"}},
			"Origin", "https://evil.example")
		wantStatus(t, resp, body, http.StatusForbidden)
		stillThere()
	})
	t.Run("OtherUser", func(t *testing.T) {
		bob := newBrowser(t, ts)
		bob.signUp("bob")
		for _, path := range []string{"/image?key=cat", "/raw?key=cat", "/thumb?key=cat", "/get?key=cat"} {
			resp, body := bob.get(path)
			wantStatus(t, resp, body, http.StatusNotFound)
			if resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", path, resp.Header.Get("Content-Type"))
			}
			wantContains(t, body, "No image with key “cat”.")
		}
		resp, body := bob.post("/image/delete", url.Values{"csrf": {bob.csrf()}, "key": {"cat"}, "confirm": {"yes"}})
		wantStatus(t, resp, body, http.StatusNotFound)
		_, body = bob.get("/images")
		if keys := keysLinked(t, body, "/thumb"); len(keys) != 0 {
			t.Fatalf("bob's gallery shows %q", keys)
		}
		stillThere()
	})
	t.Run("LoginNext", func(t *testing.T) {
		c := newBrowser(t, ts)
		resp, _ := c.get("/images?prefix=a")
		if loc := resp.Header.Get("Location"); loc != "/login?next="+url.QueryEscape("/images?prefix=a") {
			t.Fatalf("logged-out gallery redirects to %q", loc)
		}
		_, body := c.get(resp.Header.Get("Location"))
		wantContains(t, body, `name="next" value="/images?prefix=a"`)
		if resp := c.login("ada", "correct horse battery", "/images?prefix=a"); resp.Header.Get("Location") != "/images?prefix=a" {
			t.Fatalf("login with next: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		for _, next := range []string{"//evil.example", "https://evil.example/", `/\evil.example`, "javascript:alert(1)"} {
			c := newBrowser(t, ts)
			if resp := c.login("ada", "correct horse battery", next); resp.Header.Get("Location") != "/" {
				t.Errorf("login with next=%q goes to %q, want /", next, resp.Header.Get("Location"))
			}
		}
	})
	t.Run("UnauthorizedPost", func(t *testing.T) {
		c := newBrowser(t, ts)
		resp, body := c.post("/image/delete", url.Values{"key": {"cat"}})
		wantStatus(t, resp, body, http.StatusUnauthorized)
		wantContains(t, body, `href="/login`)
	})
	t.Run("Setup", func(t *testing.T) {
		token, _, err := srv.Accounts.Bootstrap(context.Background(), "")
		if err != nil || token == "" {
			t.Fatalf("Bootstrap: %q, %v", token, err)
		}
		c := newBrowser(t, ts)
		resp, body := c.get("/setup?" + url.Values{"token": {token}}.Encode())
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = c.post("/setup", url.Values{"token": {token}, "password": {"admin password 1"}, "password_confirm": {"other"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		resp, body = c.post("/setup", url.Values{"token": {"wrong"}, "password": {"admin password 1"}, "password_confirm": {"admin password 1"}})
		wantStatus(t, resp, body, http.StatusNotFound)
		resp, body = c.post("/setup", url.Values{"token": {token}, "password": {"admin password 1"}, "password_confirm": {"admin password 1"}})
		wantStatus(t, resp, body, http.StatusSeeOther)
		_, body = c.get("/")
		wantContains(t, body, `href="/profile"`, ">admin<")
		resp, body = c.get("/setup?" + url.Values{"token": {token}}.Encode())
		wantStatus(t, resp, body, http.StatusNotFound)
		wantContains(t, body, "This setup link has been used or has expired.")
	})
}
