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

	// One in the trash: deleted too, and said so.
	if _, err := p.env.Images.Trash(ctx, u.ID, "pic2"); err != nil {
		t.Fatal(err)
	}
	_, body := p.admin.get("/admin/delete-all")
	wantContains(t, body, "every image of every user for good: 2 images, and the 1 image in the users' trash", "no one can restore them", "User accounts, passwords, API keys")

	for _, confirm := range []string{"", "delete", "yes"} {
		resp, body := p.admin.send("/admin/delete-all", url.Values{"confirm": {confirm}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Type DELETE in capitals to confirm. Nothing was deleted.", "2 images")
		if got := count(); got != 2 {
			t.Fatalf("%d images left after a refused delete, want 2", got)
		}
	}

	resp, body := p.admin.send("/admin/delete-all", url.Values{"confirm": {"DELETE"}})
	wantRedirect(t, resp, body, "/admin/delete-all?msg=deleted-all&images=2&trashed=1")
	if got := count(); got != 0 {
		t.Fatalf("%d images left, want 0", got)
	}
	if n, err := p.env.Store.CountTrash(ctx, 0); err != nil || n != 0 {
		t.Fatalf("%d trash entries left (%v), want 0", n, err)
	}
	if got := cached(); got != 0 {
		t.Fatalf("%d items still cached", got)
	}
	if _, _, err := p.env.Images.Get(ctx, u.ID, "pic0"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Get after delete-all: %v", err)
	}
	_, body = p.admin.get("/admin/delete-all?msg=deleted-all&images=2&trashed=1")
	wantContains(t, body, "Deleted for good: 2 images and 1 image from the trash", "0 images")
	// Accounts stay.
	resp, body = ada.get("/images")
	wantStatus(t, resp, body, http.StatusOK)
}
