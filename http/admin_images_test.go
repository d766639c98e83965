package http

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
)

func TestAdmin_Images(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()
	_, ada := p.user(t, "ada")
	_, bob := p.user(t, "bob")
	put := func(owner int64, key string) {
		t.Helper()
		img := &pixpool.Image{OwnerID: owner, Key: key, BlobKey: "b/" + key, Size: 2048, ContentType: "image/png",
			Width: 1, Height: 1, Checksum: "00"}
		if _, err := p.env.Store.PutImage(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 55 {
		put(ada.ID, fmt.Sprintf("cats/%02d", i))
	}
	put(bob.ID, "cats/00")
	put(bob.ID, "dogs/rex <b>")

	t.Run("All", func(t *testing.T) {
		_, body := p.admin.get("/admin/images")
		wantContains(t, body, "cats/00", "cats/49", "1–50 of 57", "image/png", "2.0 KiB", `rel="next" href="/admin/images?offset=50"`)
		wantLacks(t, body, "cats/50", "dogs/rex")
		_, body = p.admin.get("/admin/images?offset=50")
		wantContains(t, body, "cats/50", "cats/54", "dogs/rex &lt;b&gt;", "51–57 of 57", `rel="prev" href="/admin/images"`)
		wantLacks(t, body, "cats/49", `rel="next"`, "<b>")
		if n := strings.Count(body, `<td data-label="Owner">bob</td>`); n != 2 {
			t.Fatalf("bob owns %d rows on page 2, want 2", n)
		}
	})
	t.Run("Owner", func(t *testing.T) {
		_, body := p.admin.get("/admin/images?owner=bob")
		wantContains(t, body, "cats/00", "dogs/rex", `value="bob"`)
		wantLacks(t, body, `<td data-label="Owner">ada</td>`, `rel="next"`)
	})
	t.Run("Prefix", func(t *testing.T) {
		_, body := p.admin.get("/admin/images?owner=ada&prefix=cats/1")
		wantContains(t, body, "cats/10", "cats/19", "1–10 of 10")
		wantLacks(t, body, "cats/20", "cats/09")
		_, body = p.admin.get("/admin/images?prefix=dogs")
		wantContains(t, body, "dogs/rex")
		wantLacks(t, body, "cats/")
	})
	t.Run("UnknownOwner", func(t *testing.T) {
		resp, body := p.admin.get("/admin/images?owner=nobody")
		wantStatus(t, resp, body, http.StatusOK)
		wantContains(t, body, "No user is called “nobody”.")
		wantLacks(t, body, "cats/")
	})
	t.Run("NoMatch", func(t *testing.T) {
		_, body := p.admin.get("/admin/images?prefix=zebra")
		wantContains(t, body, "No images match.")
	})
}
