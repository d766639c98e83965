package http

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/pixpool/pixpool"
)

func TestAdmin_DeleteAll(t *testing.T) {
	p := newPortal(t, staticPool)
	ctx := context.Background()
	ada, u := p.user(t, "ada")
	for i := range 3 {
		resp, body := ada.upload(ada.csrf(), fmt.Sprintf("pic%d", i), testPNG(t, 8, 8, uint8(i)))
		wantStatus(t, resp, body, http.StatusSeeOther)
		if _, _, err := p.env.Images.Get(ctx, u.ID, fmt.Sprintf("pic%d", i)); err != nil { // fills the cache
			t.Fatal(err)
		}
	}
	p.env.Images.Wait()
	cached := func() (n int64) {
		for _, ns := range p.m.Stats(ctx) {
			n += ns.Items
		}
		return n
	}
	if cached() == 0 {
		t.Fatal("nothing cached before deleting")
	}
	count := func() int {
		n, err := p.env.Store.CountImages(ctx, pixpool.ImageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	_, body := p.admin.get("/admin/delete-all")
	wantContains(t, body, "every image of every user: 3 images", "User accounts, passwords, API keys")

	for _, confirm := range []string{"", "delete", "yes"} {
		resp, body := p.admin.send("/admin/delete-all", url.Values{"confirm": {confirm}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Type DELETE in capitals to confirm. Nothing was deleted.", "3 images")
		if got := count(); got != 3 {
			t.Fatalf("%d images left after a refused delete, want 3", got)
		}
	}

	resp, body := p.admin.send("/admin/delete-all", url.Values{"confirm": {"DELETE"}})
	wantRedirect(t, resp, body, "/admin/delete-all?msg=deleted-all")
	if got := count(); got != 0 {
		t.Fatalf("%d images left, want 0", got)
	}
	if got := cached(); got != 0 {
		t.Fatalf("%d items still cached", got)
	}
	if _, _, err := p.env.Images.Get(ctx, u.ID, "pic0"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Get after delete-all: %v", err)
	}
	_, body = p.admin.get("/admin/delete-all?msg=deleted-all")
	wantContains(t, body, "Every image was deleted", "0 images")
	// Accounts stay.
	resp, body = ada.get("/images")
	wantStatus(t, resp, body, http.StatusOK)
}
