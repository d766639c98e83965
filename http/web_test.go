package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/service"
)

// newTestServer runs a Server on a fresh SQLite database and blob folder.
func newTestServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	env := pixpooltest.New(t)
	srv := &Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return srv, ts
}

// browser is one user agent with its own cookies. It does not follow
// redirects, so tests can check where they point.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, ts *httptest.Server) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: ts.URL, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the session's CSRF token, read from a page's forms.
func (b *browser) csrf() string {
	b.t.Helper()
	_, body := b.get("/profile")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no csrf field in /profile:\n%s", body)
	}
	return m[1]
}

// upload posts the upload form as a browser without script does, with the
// token in the action URL; csrf "" leaves it out.
func (b *browser) upload(csrf, key string, data []byte, header ...string) (*http.Response, string) {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("key", key); err != nil {
		b.t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("file", "photo.png")
	if err != nil {
		b.t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	path := "/upload"
	if csrf != "" {
		path += "?" + url.Values{"csrf": {csrf}}.Encode()
	}
	req, err := http.NewRequest("POST", b.base+path, &buf)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func signupForm(username string) url.Values {
	return url.Values{
		"username": {username}, "first_name": {"Ada"}, "last_name": {"Lovelace"},
		"email": {username + "@example.org"}, "birthday": {"1990-05-17"}, "phone": {"+44 20 7946 0000"},
		"password": {"correct horse battery"}, "password_confirm": {"correct horse battery"},
	}
}

// signUp creates an account and leaves the browser logged in to it.
func (b *browser) signUp(username string) {
	b.t.Helper()
	resp, body := b.post("/signup", signupForm(username))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		b.t.Fatalf("sign up %s: status %d, location %q:\n%s", username, resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func (b *browser) login(username, pw, next string) *http.Response {
	b.t.Helper()
	resp, _ := b.post("/login", url.Values{"username": {username}, "password": {pw}, "next": {next}})
	return resp
}

// testPNG makes a w×h PNG whose pixels depend on seed.
func testPNG(t *testing.T, w, h int, seed uint8) []byte { return pixpooltest.PNG(t, w, h, seed) }

func noisyPNG(t *testing.T, w, h int) []byte { return pixpooltest.NoisyPNG(t, w, h) }

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func wantStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d:\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, body)
	}
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Fatalf("page lacks %q:\n%s", s, body)
		}
	}
}

var linkRE = regexp.MustCompile(`(?:href|src)="(/[a-z]+\?[^"]*)"`)

// keysLinked returns the keys of the links to path (such as "/thumb") in a
// page, decoded as a browser would.
func keysLinked(t *testing.T, body, path string) []string {
	t.Helper()
	var keys []string
	for _, m := range linkRE.FindAllStringSubmatch(body, -1) {
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatalf("bad link %q: %v", m[1], err)
		}
		if u.Path == path {
			keys = append(keys, u.Query().Get("key"))
		}
	}
	return keys
}

func TestWeb_SignupValidation(t *testing.T) {
	_, ts := newTestServer(t)
	b := newBrowser(t, ts)

	t.Run("BadEmail", func(t *testing.T) {
		f := signupForm("ada")
		f.Set("email", "not-an-address")
		resp, body := b.post("/signup", f)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Email must be an address like name@example.org.",
			`value="ada"`, `value="Ada"`, `value="Lovelace"`, `value="not-an-address"`, `value="1990-05-17"`)
		if strings.Contains(body, "correct horse battery") {
			t.Fatal("the page echoes the password")
		}
	})
	t.Run("PasswordsDiffer", func(t *testing.T) {
		f := signupForm("ada")
		f.Set("password_confirm", "something else")
		resp, body := b.post("/signup", f)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "passwords do not match")
	})
	t.Run("BadBirthday", func(t *testing.T) {
		f := signupForm("ada")
		f.Set("birthday", "17/05/1990")
		resp, body := b.post("/signup", f)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Birthday must be a date written as YYYY-MM-DD.")
	})
	t.Run("Taken", func(t *testing.T) {
		b.signUp("grace")
		other := newBrowser(t, ts)
		resp, body := other.post("/signup", signupForm("GRACE"))
		wantStatus(t, resp, body, http.StatusConflict)
		wantContains(t, body, `value="GRACE"`)
	})
}

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

func TestWeb_Gallery(t *testing.T) {
	srv, ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	_, body := b.get("/images")
	wantContains(t, body, "You have no images yet.", `href="/upload"`)

	u, err := srv.Store.UserByUsername(context.Background(), "ada")
	if err != nil {
		t.Fatal(err)
	}
	pic := testPNG(t, 8, 8, 4)
	for i := range galleryPageSize + 2 {
		if _, err := srv.Images.Put(context.Background(), u.ID, fmt.Sprintf("k%03d", i), pic); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Images.Put(context.Background(), u.ID, "other & more", pic); err != nil {
		t.Fatal(err)
	}

	_, body = b.get("/images")
	keys := keysLinked(t, body, "/thumb")
	if len(keys) != galleryPageSize || keys[0] != "k000" {
		t.Fatalf("page 1: %d thumbnails from %q, want %d from k000", len(keys), keys[:1], galleryPageSize)
	}
	next := regexp.MustCompile(`rel="next" href="([^"]+)"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("page 1 has no next link:\n%s", body)
	}
	_, body = b.get(html.UnescapeString(next[1]))
	keys = keysLinked(t, body, "/thumb")
	if want := []string{"k048", "k049", "other & more"}; strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("page 2: %q, want %q", keys, want)
	}
	if strings.Contains(body, `rel="next"`) {
		t.Fatal("the last page has a next link")
	}

	_, body = b.get("/images?prefix=" + url.QueryEscape("other &"))
	if keys := keysLinked(t, body, "/thumb"); len(keys) != 1 || keys[0] != "other & more" {
		t.Fatalf("prefix filter: %q", keys)
	}
	_, body = b.get("/images?prefix=zzz")
	wantContains(t, body, "No keys start with")

	_, body = b.get("/")
	wantContains(t, body, "<strong>51</strong>")
	if n := len(keysLinked(t, body, "/thumb")); n != recentCount {
		t.Fatalf("dashboard shows %d recent thumbnails, want %d", n, recentCount)
	}
}

func TestWeb_UploadErrors(t *testing.T) {
	srv, ts := newTestServer(t)
	srv.Images.MaxBytes = 4 << 10
	b := newBrowser(t, ts)
	b.signUp("ada")
	csrf := b.csrf()
	xhr := []string{"X-Requested-With", "XMLHttpRequest"}

	t.Run("Form", func(t *testing.T) {
		resp, body := b.upload(csrf, "notes", []byte("just some text, not an image"))
		wantStatus(t, resp, body, http.StatusUnsupportedMediaType)
		wantContains(t, body, "The file is not a JPEG, PNG, GIF or WebP image.", `value="notes"`, "4.0 KiB")
		resp, body = b.upload(csrf, "", testPNG(t, 8, 8, 1))
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Key is required.")
		resp, body = b.upload(csrf, "big", noisyPNG(t, 64, 64))
		wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
		wantContains(t, body, "larger than the limit of 4.0 KiB")
	})
	t.Run("XHR", func(t *testing.T) {
		key := "a/b c?d#e"
		resp, body := b.upload(csrf, key, testPNG(t, 8, 8, 1), xhr...)
		wantStatus(t, resp, body, http.StatusOK)
		var ok struct {
			OK  bool   `json:"ok"`
			URL string `json:"url"`
		}
		if err := json.Unmarshal([]byte(body), &ok); err != nil || !ok.OK || ok.URL != imageURL(key) {
			t.Fatalf("XHR upload answered %s (%v), want ok and url %q", body, err, imageURL(key))
		}
		if resp, _ := b.get(ok.URL); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", ok.URL, resp.StatusCode)
		}

		for _, tc := range []struct {
			data   []byte
			status int
			code   string
		}{
			{[]byte("GIF89a but not really"), http.StatusBadRequest, "invalid"},
			{[]byte("plain text"), http.StatusUnsupportedMediaType, "unsupported"},
			{noisyPNG(t, 64, 64), http.StatusRequestEntityTooLarge, "too_large"},
		} {
			resp, body := b.upload(csrf, "x", tc.data, "Accept", "application/json")
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("XHR upload of %d bytes: status %d, body %s; want %d with code %q", len(tc.data), resp.StatusCode, body, tc.status, tc.code)
			}
		}
		resp, body = b.upload("", "x", testPNG(t, 8, 8, 1), xhr...)
		wantStatus(t, resp, body, http.StatusForbidden)
		if !strings.Contains(body, `"code":"forbidden"`) {
			t.Fatalf("XHR upload without token answered %s, want JSON", body)
		}
	})
}

func TestWeb_Profile(t *testing.T) {
	_, ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	csrf := b.csrf()

	other := newBrowser(t, ts)
	if resp := other.login("ada", "correct horse battery", ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second login: status %d", resp.StatusCode)
	}

	t.Run("Edit", func(t *testing.T) {
		f := signupForm("ada_l")
		f.Set("first_name", "Augusta Ada")
		f.Set("email", "bad")
		f.Set("csrf", csrf)
		resp, body := b.post("/profile", f)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Email must be an address", `value="Augusta Ada"`, `value="bad"`)

		f.Set("email", "ada@example.net")
		resp, body = b.post("/profile", f)
		wantStatus(t, resp, body, http.StatusSeeOther)
		_, body = b.get(resp.Header.Get("Location"))
		wantContains(t, body, "Profile saved.", `value="ada_l"`, `value="Augusta Ada"`, `value="ada@example.net"`, `value="1990-05-17"`)
	})
	t.Run("Password", func(t *testing.T) {
		form := url.Values{"csrf": {csrf}, "current_password": {"wrong password"},
			"new_password": {"a brand new secret"}, "new_password_confirm": {"a brand new secret"}}
		resp, body := b.post("/profile/password", form)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Current password is wrong.")

		form.Set("current_password", "correct horse battery")
		resp, body = b.post("/profile/password", form)
		wantStatus(t, resp, body, http.StatusSeeOther)
		_, body = b.get(resp.Header.Get("Location"))
		wantContains(t, body, "Password changed; your other sessions were logged out.")

		if resp, _ := other.get("/profile"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("the other session still works: status %d", resp.StatusCode)
		}
		c := newBrowser(t, ts)
		if resp := c.login("ada_l", "a brand new secret", ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login with the new password: status %d", resp.StatusCode)
		}
	})
	t.Run("APIKey", func(t *testing.T) {
		resp, body := b.post("/profile/apikeys", url.Values{"csrf": {csrf}, "name": {"laptop <script>"}})
		wantStatus(t, resp, body, http.StatusOK)
		m := regexp.MustCompile(`class="secret-value">(pp_[A-Za-z0-9_-]+)<`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no secret shown:\n%s", body)
		}
		secret := m[1]
		wantContains(t, body, "will not be shown again", "laptop &lt;script&gt;")
		_, body = b.get("/profile")
		if strings.Contains(body, secret) {
			t.Fatal("the secret is shown again")
		}
		wantContains(t, body, secret[:9])

		api := func() int {
			req, _ := http.NewRequest("GET", ts.URL+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, body := newBrowser(t, ts).do(req)
			if resp.StatusCode == http.StatusOK && !strings.Contains(body, `"username":"ada_l"`) {
				t.Fatalf("/api/v1/me: %s", body)
			}
			return resp.StatusCode
		}
		if got := api(); got != http.StatusOK {
			t.Fatalf("/api/v1/me with the new key: status %d", got)
		}
		_, body = b.get("/profile")
		id := regexp.MustCompile(`name="id" value="(\d+)"`).FindStringSubmatch(body)
		if id == nil {
			t.Fatalf("no revoke form:\n%s", body)
		}
		resp, body = b.post("/profile/apikeys/delete", url.Values{"csrf": {csrf}, "id": {id[1]}})
		wantStatus(t, resp, body, http.StatusSeeOther)
		if got := api(); got != http.StatusUnauthorized {
			t.Fatalf("/api/v1/me with a revoked key: status %d", got)
		}
	})
}

func TestDownloadName(t *testing.T) {
	for _, tc := range []struct{ key, ct, want string }{
		{"cat", "image/png", "cat.png"},
		{"a/b/photo.JPG", "image/jpeg", "photo.JPG"},
		{"x.jpeg", "image/jpeg", "x.jpeg"},
		{`evil"; filename=x.html`, "image/gif", "evil__ filename_x.html.gif"},
		{"dir/", "image/webp", "image.webp"},
		{"..", "image/png", "image.png"},
		{"żółw", "image/png", "żółw.png"},
	} {
		if got := downloadName(tc.key, tc.ct); got != tc.want {
			t.Errorf("downloadName(%q, %q) = %q, want %q", tc.key, tc.ct, got, tc.want)
		}
	}
}

// hostileNext are "next" values that must not leave the site, as typed in
// a form or a query string (already decoded once).
var hostileNext = []string{
	"//evil.example", "///evil.example", "https://evil.example/", "http:evil.example", "javascript:alert(1)",
	`/\evil.example`, `/./\evil.example`, `/.\evil.example`, `/a/../\evil.example`, `/\/evil.example`,
	"/./%5Cevil.example", "/%5Cevil.example", "/%5cevil.example", "/%255Cevil.example", "/%2F%2Fevil.example",
	"/.//evil.example", "/a/..//evil.example", "/%2e/%2fevil.example", "/%252F%252Fevil.example",
	"/\tevil", "/\t/evil.example", "/\n/evil.example", "/\r//evil.example", "/\x00//evil.example",
	"/%09/evil.example", "/%0a/evil.example", "images", "", " /images", "\\\\evil.example",
	"//evil.example/%2e%2e", "/images//x",
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/images?x=1": "/images?x=1", "/": "/", "/profile": "/profile", "/admin/": "/admin/",
		"/images?prefix=a%2Fb": "/images?prefix=a%2Fb", "/a/./b/../c": "/a/c",
		"/image?key=%5C": "/image?key=%5C", // a backslash in the query stays on the site
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
	for _, in := range hostileNext {
		if got := localPath(in); got != "/" {
			t.Errorf("localPath(%q) = %q, want /", in, got)
		}
	}
}

// TestWeb_LoginNextHostile: no "next" leaves the site, neither after a
// login nor at once for a user already logged in (issue 11, item 5:
// /login?next=/./%5Cevil.example answered Location: /\evil.example).
func TestWeb_LoginNextHostile(t *testing.T) {
	_, ts := newTestServer(t)
	ada := newBrowser(t, ts)
	ada.signUp("ada")
	for _, next := range hostileNext {
		resp, _ := ada.get("/login?" + url.Values{"next": {next}}.Encode())
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("logged in, GET /login?next=%q: Location %q, want /", next, loc)
		}
		c := newBrowser(t, ts)
		if resp := c.login("ada", "correct horse battery", next); resp.Header.Get("Location") != "/" {
			t.Errorf("login with next=%q: Location %q, want /", next, resp.Header.Get("Location"))
		}
	}
	// The raw query of the report, not re-encoded by url.Values.
	resp, _ := ada.get("/login?next=/./%5Cevil.example")
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("GET /login?next=/./%%5Cevil.example: Location %q, want /", loc)
	}
}

// TestWeb_ImageAnalysis: the image page shows the labels, with a meter
// each and a box over the image, the text, and what recognition lacks.
func TestWeb_ImageAnalysis(t *testing.T) {
	srv, ts := newTestServer(t)
	srv.Analyzer = &service.Analyzer{Store: srv.Store, Blobs: srv.Images.Blobs, LabelsMissing: "run scripts/setup-recognition.sh DIR."}
	b := newBrowser(t, ts)
	b.signUp("ada")
	resp, body := b.upload(b.csrf(), "pets/dog", testPNG(t, 64, 48, 1))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	u, _ := srv.Store.UserByUsername(context.Background(), "ada")
	img, _ := srv.Store.Image(context.Background(), u.ID, "pets/dog")
	err := srv.Store.SaveAnalysis(context.Background(), &pixpool.Analysis{ImageID: img.ID, Checksum: img.Checksum, Status: pixpool.AnalysisDone,
		Labels: []pixpool.Label{{Name: "dog", Confidence: 71.5, Box: pixpool.Box{X0: 4, Y0: 5, X1: 30, Y1: 40}}},
		Lines:  []pixpool.TextLine{{Text: "GOOD BOY", Confidence: 88}}})
	if err != nil {
		t.Fatal(err)
	}
	_, page := b.get("/image?key=" + url.QueryEscape("pets/dog"))
	wantContains(t, page, `<span class="label-name">dog</span>`, `<meter min="0" max="100"`, `value="71.5"`,
		`<rect x="4" y="5" width="26" height="35"`, "GOOD BOY", "run scripts/setup-recognition.sh DIR.", `action="/image/analyze"`)
	resp, _ = b.post("/image/analyze", url.Values{"csrf": {b.csrf()}, "key": {"pets/dog"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("re-analyse: %d", resp.StatusCode)
	}
	if an, _ := srv.Store.Analysis(context.Background(), img.ID); an.Status != pixpool.AnalysisPending {
		t.Fatalf("after re-analyse: %s", an.Status)
	}
}

// TestWeb_DeviceCookie: a login sets an HttpOnly device cookie for /login
// only; with it the owner logs in while strangers' guessing holds the
// account's shared budget, which keeps out a browser without one (issue
// 11, item 6).
func TestWeb_DeviceCookie(t *testing.T) {
	srv, ts := newTestServer(t)
	srv.Accounts.Throttle.Account = pixpool.AttemptLimit{Free: 2, Delay: time.Hour, MaxDelay: time.Hour, Forget: time.Hour}
	owner := newBrowser(t, ts)
	owner.signUp("ada")
	resp := owner.login("ada", "correct horse battery", "/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	var dev *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == DeviceCookie {
			dev = c
		}
	}
	if dev == nil || !dev.HttpOnly || dev.Path != "/login" || dev.SameSite != http.SameSiteLaxMode || dev.MaxAge <= 0 {
		t.Fatalf("device cookie %+v, want HttpOnly, SameSite=Lax, for /login, lasting", dev)
	}
	attacker := newBrowser(t, ts)
	for i := 0; ; i++ {
		if resp := attacker.login("ada", "wrong guess", "/"); resp.StatusCode == http.StatusTooManyRequests {
			break
		} else if i == 5 {
			t.Fatalf("guess %d: status %d, want 429 at last", i, resp.StatusCode)
		}
	}
	if resp := newBrowser(t, ts).login("ada", "correct horse battery", "/"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("owner on a new browser: status %d, want 429", resp.StatusCode)
	}
	if resp := owner.login("ada", "correct horse battery", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner on her browser: status %d, want 303", resp.StatusCode)
	}
}
