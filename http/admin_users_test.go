package http

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// usersPortal is a portal with two more users: ada, logged in in a
// browser of her own, and bob.
type usersPortal struct {
	*portal
	ada              *browser
	adaUser, bobUser *pixpool.User
}

func newUsersPortal(t *testing.T) *usersPortal {
	t.Helper()
	p := &usersPortal{portal: newPortal(t, staticPool)}
	p.ada, p.adaUser = p.user(t, "ada")
	_, p.bobUser = p.user(t, "bob")
	return p
}

// id is u's id as the forms send it.
func (p *usersPortal) id(u *pixpool.User) string { return fmt.Sprint(u.ID) }

// reload reads u again from the store.
func (p *usersPortal) reload(t *testing.T, u *pixpool.User) *pixpool.User {
	t.Helper()
	got, err := p.env.Store.User(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestAdmin_Users: each subtest has a portal of its own, with ada and bob.
func TestAdmin_Users(t *testing.T) {
	ctx := context.Background()

	t.Run("List", func(t *testing.T) {
		p := newUsersPortal(t)
		_, body := p.admin.get("/admin/users")
		wantContains(t, body, "<strong>ada</strong>", "<strong>bob</strong>", "<strong>boss</strong>", "This is you",
			`aria-label="Make ada an admin"`, `aria-label="Disable bob"`)
	})
	t.Run("Promote", func(t *testing.T) {
		p := newUsersPortal(t)
		resp, body := p.admin.send("/admin/users/admin", url.Values{"id": {p.id(p.adaUser)}, "make": {"true"}})
		wantRedirect(t, resp, body, "/admin/users?msg=promoted")
		if !p.reload(t, p.adaUser).Admin {
			t.Fatal("ada is not an admin")
		}
		resp, body = p.ada.get("/admin")
		wantStatus(t, resp, body, http.StatusOK)
	})
	t.Run("Demote", func(t *testing.T) {
		p := newUsersPortal(t)
		ada := p.reload(t, p.adaUser)
		ada.Admin = true
		if err := p.env.Store.UpdateUser(ctx, ada); err != nil {
			t.Fatal(err)
		}
		resp, body := p.ada.get("/admin")
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = p.admin.send("/admin/users/admin", url.Values{"id": {p.id(p.adaUser)}, "make": {"false"}, "offset": {"0"}})
		wantRedirect(t, resp, body, "/admin/users?msg=demoted")
		if p.reload(t, p.adaUser).Admin {
			t.Fatal("ada is still an admin")
		}
		resp, body = p.ada.get("/admin")
		wantStatus(t, resp, body, http.StatusNotFound)
	})
	t.Run("Self", func(t *testing.T) {
		p := newUsersPortal(t)
		resp, body := p.admin.send("/admin/users/admin", url.Values{"id": {p.id(p.boss)}, "make": {"false"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "You cannot remove your own admin rights")
		resp, body = p.admin.send("/admin/users/disable", url.Values{"id": {p.id(p.boss)}, "disable": {"true"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "You cannot disable your own account.")
		if u := p.reload(t, p.boss); !u.Admin || u.Disabled {
			t.Fatalf("boss changed: %+v", u)
		}
		resp, body = p.admin.get("/admin")
		wantStatus(t, resp, body, http.StatusOK)
	})
	t.Run("Disable", func(t *testing.T) {
		p := newUsersPortal(t)
		ada, adaUser := p.ada, p.adaUser
		_, secret, err := p.env.Accounts.CreateAPIKey(ctx, adaUser.ID, "script")
		if err != nil {
			t.Fatal(err)
		}
		apiMe := func() int {
			req, _ := http.NewRequest("GET", p.ts.URL+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, _ := newBrowser(t, p.ts).do(req)
			return resp.StatusCode
		}
		if got := apiMe(); got != http.StatusOK {
			t.Fatalf("API key before disabling: %d", got)
		}
		resp, body := ada.get("/images")
		wantStatus(t, resp, body, http.StatusOK)

		resp, body = p.admin.send("/admin/users/disable", url.Values{"id": {p.id(adaUser)}, "disable": {"true"}})
		wantRedirect(t, resp, body, "/admin/users?msg=disabled")
		if !p.reload(t, adaUser).Disabled {
			t.Fatal("ada is not disabled")
		}
		// Her session stops working at once, and so does her API key.
		resp, body = ada.get("/images")
		wantRedirect(t, resp, body, "/login?next=%2Fimages")
		if got := apiMe(); got != http.StatusUnauthorized {
			t.Fatalf("API key of a disabled user: %d", got)
		}
		if resp := ada.login("ada", "correct horse battery", "/"); resp.StatusCode == http.StatusSeeOther {
			t.Fatal("a disabled user logged in")
		}
		_, body = p.admin.get("/admin/users?msg=disabled")
		wantContains(t, body, "their sessions and API keys stopped working", `class="badge bad">disabled`, `aria-label="Enable ada"`)

		resp, body = p.admin.send("/admin/users/disable", url.Values{"id": {p.id(adaUser)}, "disable": {"false"}})
		wantRedirect(t, resp, body, "/admin/users?msg=enabled")
		if p.reload(t, adaUser).Disabled {
			t.Fatal("ada is still disabled")
		}
		if resp := ada.login("ada", "correct horse battery", "/"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("enabled user cannot log in: %d", resp.StatusCode)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		p := newUsersPortal(t)
		resp, body := p.admin.send("/admin/users/admin", url.Values{"id": {"99999"}, "make": {"true"}})
		wantStatus(t, resp, body, http.StatusNotFound)
		wantContains(t, body, "No such user.")
		resp, body = p.admin.send("/admin/users/admin", url.Values{"id": {"x"}, "make": {"true"}})
		wantStatus(t, resp, body, http.StatusNotFound)
		resp, body = p.admin.send("/admin/users/disable", url.Values{"id": {p.id(p.bobUser)}, "disable": {"maybe"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		if u := p.reload(t, p.bobUser); u.Disabled || u.Admin {
			t.Fatalf("bob changed: %+v", u)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		p := newUsersPortal(t)
		for i := range 55 {
			u := &pixpool.User{Username: fmt.Sprintf("user%02d", i), FirstName: "U", LastName: "Ser", Email: fmt.Sprintf("u%d@example.org", i),
				Birthday: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0002"}
			if err := p.env.Store.CreateUser(ctx, u, "x"); err != nil {
				t.Fatal(err)
			}
		}
		_, body := p.admin.get("/admin/users")
		wantContains(t, body, `rel="next" href="/admin/users?offset=50"`, "1–50")
		_, body = p.admin.get("/admin/users?offset=50")
		wantContains(t, body, "51–58", `rel="prev" href="/admin/users"`, "<strong>user54</strong>", `name="offset" value="50"`)
		wantLacks(t, body, `rel="next"`)
	})
}
