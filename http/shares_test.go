package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pixpooltest"
)

// shareEnv is a server with ada's images cats/tom, cats/kit, dogs/rex and
// bob's cats/bob, ada logged in in one browser and a stranger in another.
type shareEnv struct {
	srv      *Server
	ts       *httptest.Server
	ada, bob *browser
	stranger *browser
	logs     *bytes.Buffer
	pngs     map[string][]byte
}

func newShareEnv(t *testing.T) *shareEnv {
	t.Helper()
	env := pixpooltest.New(t)
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := &Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: logger}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &shareEnv{srv: srv, ts: ts, ada: newBrowser(t, ts), bob: newBrowser(t, ts), stranger: newBrowser(t, ts), logs: logs, pngs: map[string][]byte{}}
	e.ada.signUp("ada")
	e.bob.signUp("bob")
	for i, key := range []string{"cats/tom", "cats/kit", "dogs/rex", "cats/../dogs/x"} {
		e.pngs[key] = testPNG(t, 40+i, 30, uint8(i))
		if resp, body := e.ada.upload(e.ada.csrf(), key, e.pngs[key]); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("upload %s: %d %s", key, resp.StatusCode, body)
		}
	}
	if resp, body := e.bob.upload(e.bob.csrf(), "cats/bob", testPNG(t, 20, 20, 9)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	return e
}

// lockedWriter lets the handlers' goroutines share one buffer.
type lockedWriter struct{ w io.Writer }

// shareLogMu guards the buffers lockedWriter writes to.
var shareLogMu sync.Mutex

func (l *lockedWriter) Write(b []byte) (int, error) {
	shareLogMu.Lock()
	defer shareLogMu.Unlock()
	return l.w.Write(b)
}

// share posts a share form as b and returns the link shown for it on
// /shares.
func (e *shareEnv) share(t *testing.T, b *browser, form url.Values) (id int64, link string) {
	t.Helper()
	form.Set("csrf", b.csrf())
	resp, body := b.post("/shares", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /shares %v: %d %s", form, resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	id, err := strconv.ParseInt(loc.Query().Get("created"), 10, 64)
	if err != nil {
		t.Fatalf("redirect to %s, want /shares?created=<id>", loc)
	}
	_, page := b.get(loc.RequestURI())
	wantContains(t, page, "Link created.")
	for _, n := range elements(parseHTML(t, page), "input", "id=share-url-"+strconv.FormatInt(id, 10)) {
		link, _ = attrValue(n, "value")
	}
	if !strings.HasPrefix(link, e.ts.URL+"/s/") {
		t.Fatalf("link %q, want it under %s/s/", link, e.ts.URL)
	}
	return id, strings.TrimPrefix(link, e.ts.URL)
}

// srcOf returns the src of the page's image with id.
func srcOf(t *testing.T, body, id string) string {
	t.Helper()
	for _, n := range elements(parseHTML(t, body), "img", "id="+id) {
		src, _ := attrValue(n, "src")
		return src
	}
	t.Fatalf("no img #%s in:\n%s", id, body)
	return ""
}

func wantShareHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for name, want := range map[string]string{
		"Cache-Control":          "private, no-store",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Fatalf("%s %s: %s=%q, want %q", resp.Request.Method, resp.Request.URL.Path, name, got, want)
		}
	}
}

func TestShare_Image(t *testing.T) {
	e := newShareEnv(t)
	_, page := e.ada.get("/image?key=cats/tom")
	wantContains(t, page, `action="/shares"`, `name="max_views"`, `value="2592000"`)
	_, link := e.share(t, e.ada, url.Values{"kind": {"image"}, "key": {"cats/tom"}, "expires": {"86400"}, "max_views": {"1"}, "title": {"My cat"}})

	resp, body := e.stranger.get(link)
	wantStatus(t, resp, body, http.StatusOK)
	wantShareHeaders(t, resp)
	wantContains(t, body, "My cat")
	wantLacks(t, body, "ada", "SHA-256")
	src := srcOf(t, body, "shared-image")
	resp, img := e.stranger.get(src)
	wantStatus(t, resp, "", http.StatusOK)
	wantShareHeaders(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "image/png" || img != string(e.pngs["cats/tom"]) {
		t.Fatalf("raw: %s, %d bytes; want the PNG", ct, len(img))
	}
	// The page's own image loads again (the visit's ticket); the download too.
	if resp, _ := e.stranger.get(src); resp.StatusCode != http.StatusOK {
		t.Fatalf("raw again within the visit: %d", resp.StatusCode)
	}
	resp, _ = e.stranger.get(src + "&download=1")
	if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != http.StatusOK || !strings.Contains(cd, "attachment") {
		t.Fatalf("download: %d %q", resp.StatusCode, cd)
	}
	// The limit of one view is reached: the link, or its raw bytes opened
	// without the page's ticket, say so.
	for _, p := range []string{link, link + "/raw", link + "/raw?v=1.AAAA"} {
		resp, body = e.stranger.get(p)
		wantStatus(t, resp, body, http.StatusGone)
		wantShareHeaders(t, resp)
		wantContains(t, body, "limit has been reached")
		wantLacks(t, body, "ada")
	}
	// Another image of ada's is not reachable through the link.
	resp, body = e.stranger.get(src + "&key=" + url.QueryEscape("dogs/rex"))
	wantStatus(t, resp, body, http.StatusNotFound)
	// HEAD counts nothing, and the page shows its owner the views.
	_, page = e.ada.get("/shares")
	wantContains(t, page, "1 / 1", "View limit reached")
}

func TestShare_Album(t *testing.T) {
	e := newShareEnv(t)
	_, page := e.ada.get("/images?prefix=cats/")
	if got := valueOf(t, page, "key"); got != "cats/" {
		t.Fatalf("album form prefix=%q, want the filter cats/", got)
	}
	_, link := e.share(t, e.ada, url.Values{"kind": {"album"}, "key": {"cats/"}, "expires": {"never"}})
	resp, body := e.stranger.get(link)
	wantStatus(t, resp, body, http.StatusOK)
	wantShareHeaders(t, resp)
	if got, want := strings.Join(keysLinked(t, body, strings.TrimPrefix(link, "")+"/thumb"), ","), "cats/../dogs/x,cats/kit,cats/tom"; got != want {
		t.Fatalf("album thumbnails %s, want %s", got, want)
	}
	for _, n := range elements(parseHTML(t, body), "img") {
		src, _ := attrValue(n, "src")
		if resp, _ := e.stranger.get(src); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("thumbnail %s: %d %s", src, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	var item string
	for _, n := range elements(parseHTML(t, body), "a") {
		if href, _ := attrValue(n, "href"); strings.Contains(href, "/i?") && strings.Contains(href, "kit") {
			item = href
		}
	}
	resp, body = e.stranger.get(item)
	wantStatus(t, resp, body, http.StatusOK)
	resp, img := e.stranger.get(srcOf(t, body, "shared-image"))
	if resp.StatusCode != http.StatusOK || img != string(e.pngs["cats/kit"]) {
		t.Fatalf("album image: %d, %d bytes", resp.StatusCode, len(img))
	}
	ticket := func() string { u, _ := url.Parse(item); return u.Query().Get("v") }()

	// Keys outside the prefix are not there, however they are spelt; the
	// key "cats/../dogs/x" is one of ada's own keys under cats/.
	for _, key := range []string{"dogs/rex", "../dogs/rex", "cats/../dogs/rex", "/cats/tom", "Cats/tom", "cats", "", "cats/bob", "cats/tom\x00"} {
		for _, p := range []string{"/i", "/raw", "/thumb"} {
			resp, body := e.stranger.get(link + p + "?" + url.Values{"key": {key}, "v": {ticket}}.Encode())
			wantStatus(t, resp, body, http.StatusNotFound)
			wantLacks(t, body, "ada")
		}
	}
	resp, img = e.stranger.get(link + "/raw?" + url.Values{"key": {"cats/../dogs/x"}, "v": {ticket}}.Encode())
	if resp.StatusCode != http.StatusOK || img != string(e.pngs["cats/../dogs/x"]) {
		t.Fatalf("key with dots under the prefix: %d", resp.StatusCode)
	}
	// A path that tries to leave /s/<token> is not the share's.
	resp, body = e.stranger.get(link + "/../../images")
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("escape through the path: %d %s", resp.StatusCode, body)
	}

	// A live album: a new image under the prefix appears.
	e.ada.upload(e.ada.csrf(), "cats/new", testPNG(t, 10, 10, 3))
	_, body = e.stranger.get(link + "?v=" + url.QueryEscape(ticket))
	wantContains(t, body, "cats/new")
}

func TestShare_Revoke(t *testing.T) {
	e := newShareEnv(t)
	id, link := e.share(t, e.ada, url.Values{"kind": {"image"}, "key": {"dogs/rex"}, "expires": {"3600"}})
	resp, body := e.stranger.get(link)
	wantStatus(t, resp, body, http.StatusOK)
	src := srcOf(t, body, "shared-image")

	// bob cannot revoke ada's link.
	resp, body = e.bob.post("/shares/revoke", url.Values{"csrf": {e.bob.csrf()}, "id": {strconv.FormatInt(id, 10)}})
	wantStatus(t, resp, body, http.StatusNotFound)
	// Without the form's token nothing happens.
	resp, body = e.ada.post("/shares/revoke", url.Values{"id": {strconv.FormatInt(id, 10)}})
	wantStatus(t, resp, body, http.StatusForbidden)
	if resp, _ := e.stranger.get(link); resp.StatusCode != http.StatusOK {
		t.Fatalf("link after refused revokes: %d", resp.StatusCode)
	}

	resp, body = e.ada.post("/shares/revoke", url.Values{"csrf": {e.ada.csrf()}, "id": {strconv.FormatInt(id, 10)}})
	wantRedirect(t, resp, body, "/shares?revoked=1")
	for _, p := range []string{link, src} {
		resp, body = e.stranger.get(p)
		wantStatus(t, resp, body, http.StatusGone)
		wantContains(t, body, "turned this link off")
	}
	_, page := e.ada.get("/shares?revoked=1")
	wantContains(t, page, "Link revoked", "Revoked")
}

func TestShare_Gone(t *testing.T) {
	e := newShareEnv(t)
	_, link := e.share(t, e.ada, url.Values{"kind": {"image"}, "key": {"cats/kit"}, "expires": {"never"}})
	e.ada.post("/image/delete", url.Values{"csrf": {e.ada.csrf()}, "key": {"cats/kit"}, "confirm": {"yes"}})
	resp, body := e.stranger.get(link)
	wantStatus(t, resp, body, http.StatusGone)
	wantContains(t, body, "no longer available")

	u, _ := e.srv.Store.UserByUsername(context.Background(), "ada")
	sh := &pixpool.Share{OwnerID: u.ID, Kind: pixpool.ShareAlbum, Key: "cats/"}
	sh, err := e.srv.Shares.Create(context.Background(), u.ID, sh)
	if err != nil {
		t.Fatal(err)
	}
	// Expired: made to expire a millisecond after it was made.
	sh2 := &pixpool.Share{OwnerID: u.ID, Kind: pixpool.ShareAlbum, Key: "cats/", CreatedAt: sh.CreatedAt.Add(-2 * 3600e9), ExpiresAt: sh.CreatedAt.Add(-3600e9)}
	if err := e.srv.Store.CreateShare(context.Background(), sh2); err != nil {
		t.Fatal(err)
	}
	token, _ := e.srv.Shares.Token(context.Background(), sh2)
	resp, body = e.stranger.get("/s/" + token)
	wantStatus(t, resp, body, http.StatusGone)
	wantContains(t, body, "has expired")
}

func TestShare_BadTokens(t *testing.T) {
	e := newShareEnv(t)
	_, link := e.share(t, e.ada, url.Values{"kind": {"image"}, "key": {"cats/tom"}})
	token := strings.TrimPrefix(link, "/s/")
	bad := []byte(token)
	bad[30] ^= 'A' ^ 'B'
	for _, p := range []string{"/s/x", "/s/" + string(bad), "/s/" + string(bad) + "/raw", "/s/" + token[:44], "/s/" + token + "x/raw",
		"/s/" + strings.Repeat("A", 22) + "." + token[23:]} {
		resp, body := e.stranger.get(p)
		wantStatus(t, resp, body, http.StatusNotFound)
	}
}

// TestShare_LogsHideTokens: requests under /s/ are logged without the
// token's signature.
func TestShare_LogsHideTokens(t *testing.T) {
	e := newShareEnv(t)
	_, link := e.share(t, e.ada, url.Values{"kind": {"image"}, "key": {"cats/tom"}, "max_views": {"1"}})
	e.stranger.get(link)
	e.stranger.get(link) // 410, logged as refused
	e.stranger.get(link + "/raw?key=x")
	token := strings.TrimPrefix(link, "/s/")
	shareLogMu.Lock()
	logs := e.logs.String()
	shareLogMu.Unlock()
	if strings.Contains(logs, token[23:]) {
		t.Fatalf("logs hold a token's signature:\n%s", logs)
	}
	wantContains(t, logs, "/s/"+token[:22]+".***")
}

func TestRedactSharePath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/s/AAAA.BBBB", "/s/AAAA.***"},
		{"/s/AAAA.BBBB/raw", "/s/AAAA.***/raw"},
		{"/s/AAAA.BBBB/", "/s/AAAA.***/"},
		{"/s/secretwithoutdot", "/s/secretwithoutdot.***"},
		{"/s/" + strings.Repeat("x", 60), "/s/" + strings.Repeat("x", 22) + ".***"},
		{"/images", "/images"},
		{"/shares", "/shares"},
	} {
		if got := redactSharePath(tt.in); got != tt.want {
			t.Errorf("redactSharePath(%q)=%q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAPI_Shares(t *testing.T) {
	e := newShareEnv(t)
	ctx := context.Background()
	ada, _ := e.srv.Store.UserByUsername(ctx, "ada")
	bob, _ := e.srv.Store.UserByUsername(ctx, "bob")
	_, adaKey, err := e.srv.Accounts.CreateAPIKey(ctx, ada.ID, "t")
	if err != nil {
		t.Fatal(err)
	}
	_, bobKey, err := e.srv.Accounts.CreateAPIKey(ctx, bob.ID, "t")
	if err != nil {
		t.Fatal(err)
	}
	call := func(key, method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, resp.StatusCode, b, want)
		}
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
		return out
	}
	got := call(adaKey, "POST", "/api/v1/shares", `{"key":"cats/tom","expires_in":3600,"max_views":3,"title":"Tom"}`, http.StatusCreated)
	if got["kind"] != "image" || got["status"] != "live" || got["max_views"] != 3.0 || got["views"] != 0.0 || got["expires_at"] == nil ||
		got["revoked_at"] != nil || !strings.HasPrefix(got["url"].(string), e.ts.URL+"/s/") {
		t.Fatalf("created %v", got)
	}
	id := strconv.FormatInt(int64(got["id"].(float64)), 10)
	link := got["url"].(string)
	album := call(adaKey, "POST", "/api/v1/shares", `{"prefix":"cats/"}`, http.StatusCreated)
	if album["kind"] != "album" || album["key"] != "cats/" || album["expires_at"] != nil || album["max_views"] != nil {
		t.Fatalf("album %v", album)
	}
	list := call(adaKey, "GET", "/api/v1/shares", "", http.StatusOK)["shares"].([]any)
	if len(list) != 2 || list[1].(map[string]any)["url"] != link {
		t.Fatalf("list %v", list)
	}
	if one := call(adaKey, "GET", "/api/v1/shares/"+id, "", http.StatusOK); one["url"] != link {
		t.Fatalf("get %v", one)
	}
	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"key":"cats/none"}`, http.StatusNotFound},
		{`{"key":"cats/bob"}`, http.StatusNotFound}, // bob's, not ada's
		{`{"kind":"folder","key":"cats/"}`, http.StatusBadRequest},
		{`{"kind":"album"}`, http.StatusBadRequest},
		{`{"kind":"album","key":"a/","prefix":"b/"}`, http.StatusBadRequest},
		{`{"key":"cats/tom","prefix":"cats/","kind":"image"}`, http.StatusBadRequest},
		{`{"key":"cats/tom","max_views":-1}`, http.StatusBadRequest},
		{`{"key":"cats/tom","expires_in":-5}`, http.StatusBadRequest},
		{`{"key":"cats/tom","expires_at":"2001-01-01T00:00:00Z"}`, http.StatusBadRequest},
		{`{"key":"cats/tom","expires_in":60,"expires_at":"2101-01-01T00:00:00Z"}`, http.StatusBadRequest},
		{`{"key":"cats/tom","owner":1}`, http.StatusBadRequest},
	} {
		call(adaKey, "POST", "/api/v1/shares", tt.body, tt.want)
	}
	// bob sees none of ada's shares and cannot revoke them.
	if list := call(bobKey, "GET", "/api/v1/shares", "", http.StatusOK)["shares"].([]any); len(list) != 0 {
		t.Fatalf("bob's list %v", list)
	}
	call(bobKey, "GET", "/api/v1/shares/"+id, "", http.StatusNotFound)
	call(bobKey, "DELETE", "/api/v1/shares/"+id, "", http.StatusNotFound)
	call(adaKey, "GET", "/api/v1/shares/x", "", http.StatusNotFound)

	if resp, _ := http.Get(link); resp.StatusCode != http.StatusOK {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	revoked := call(adaKey, "DELETE", "/api/v1/shares/"+id, "", http.StatusOK)
	if revoked["status"] != "revoked" || revoked["revoked_at"] == nil || revoked["views"] != 1.0 {
		t.Fatalf("revoked %v", revoked)
	}
	if resp, _ := http.Get(link); resp.StatusCode != http.StatusGone {
		t.Fatalf("revoked link: %d", resp.StatusCode)
	}
}

// TestShare_HeadAndPaging: a HEAD counts no view; an album pages in key
// order within its visit, without counting again.
func TestShare_HeadAndPaging(t *testing.T) {
	e := newShareEnv(t)
	ctx := context.Background()
	ada, _ := e.srv.Store.UserByUsername(ctx, "ada")
	for i := range galleryPageSize + 2 {
		if _, err := e.srv.Images.Put(ctx, ada.ID, fmt.Sprintf("many/%03d", i), testPNG(t, 8, 8, uint8(i))); err != nil {
			t.Fatal(err)
		}
	}
	id, link := e.share(t, e.ada, url.Values{"kind": {"album"}, "key": {"many/"}, "max_views": {"1"}})
	req, _ := http.NewRequest(http.MethodHead, e.ts.URL+link, nil)
	resp, _ := e.stranger.do(req)
	wantStatus(t, resp, "", http.StatusOK)
	wantShareHeaders(t, resp)

	resp, body := e.stranger.get(link)
	wantStatus(t, resp, body, http.StatusOK)
	first := keysLinked(t, body, link+"/thumb")
	if len(first) != galleryPageSize || first[0] != "many/000" {
		t.Fatalf("first page: %d thumbnails from %v", len(first), first[:1])
	}
	var next string
	for _, n := range elements(parseHTML(t, body), "a", "rel=next") {
		next, _ = attrValue(n, "href")
	}
	resp, body = e.stranger.get(next)
	wantStatus(t, resp, body, http.StatusOK)
	if got := keysLinked(t, body, link+"/thumb"); strings.Join(got, ",") != "many/048,many/049" {
		t.Fatalf("second page: %v", got)
	}
	sh, err := e.srv.Store.Share(ctx, id)
	if err != nil || sh.Views != 1 {
		t.Fatalf("views=%d, %v; want 1 (the HEAD and the second page count nothing)", sh.Views, err)
	}
	resp, body = e.stranger.get(link)
	wantStatus(t, resp, body, http.StatusGone)
	req, _ = http.NewRequest(http.MethodHead, e.ts.URL+link, nil)
	if resp, _ := e.stranger.do(req); resp.StatusCode != http.StatusGone {
		t.Fatalf("HEAD of a used-up link: %d, want 410", resp.StatusCode)
	}
}
