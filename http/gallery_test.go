package http

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

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
	next := elements(parseHTML(t, body), "a", "rel=next", "href")
	if len(next) == 0 {
		t.Fatalf("page 1 has no next link:\n%s", body)
	}
	href, _ := attrValue(next[0], "href")
	_, body = b.get(href)
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
