package http

import (
	"context"
	"strconv"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// usersFixture is a fixture with a third user, bob, and the admin API
// URLs of the three.
type usersFixture struct {
	*poolFixture
	bob                       *pixpool.User
	bobKey                    string
	aliceURL, bobURL, selfURL string
}

func newUsersFixture(t *testing.T) *usersFixture {
	t.Helper()
	f := &usersFixture{poolFixture: newPoolFixture(t, fixtureConfig{pool: noPool})}
	f.bob, f.bobKey = f.addUser("bob", false)
	url := func(u *pixpool.User) string { return "/api/v1/admin/users/" + strconv.FormatInt(u.ID, 10) }
	f.aliceURL, f.bobURL, f.selfURL = url(f.alice), url(f.bob), url(f.admin)
	return f
}

// TestAdminAPI_Users: each subtest has a fixture of its own.
func TestAdminAPI_Users(t *testing.T) {
	ctx := context.Background()
	type user struct {
		ID              int64
		Username        string
		Admin, Disabled bool
	}

	t.Run("List", func(t *testing.T) {
		f := newUsersFixture(t)
		var list struct {
			Users      []user
			NextOffset *int `json:"next_offset"`
		}
		f.call("GET", "/api/v1/admin/users", "", 200, &list)
		if len(list.Users) != 3 || list.NextOffset != nil || list.Users[0].Username != "admin" || !list.Users[0].Admin ||
			list.Users[1].Username != "alice" || list.Users[1].Admin {
			t.Fatalf("users %+v", list)
		}
		f.call("GET", "/api/v1/admin/users?limit=2", "", 200, &list)
		if len(list.Users) != 2 || list.NextOffset == nil || *list.NextOffset != 2 {
			t.Fatalf("page 1 %+v", list)
		}
		list.NextOffset = nil
		f.call("GET", "/api/v1/admin/users?offset=2&limit=2", "", 200, &list)
		if len(list.Users) != 1 || list.Users[0].Username != "bob" || list.NextOffset != nil {
			t.Fatalf("page 2 %+v", list)
		}
	})

	t.Run("Promote", func(t *testing.T) {
		f := newUsersFixture(t)
		var u user
		f.call("PATCH", f.aliceURL, `{"admin":true}`, 200, &u)
		if !u.Admin || u.Username != "alice" {
			t.Fatalf("answer %+v", u)
		}
		// Alice is an admin now: the admin API answers her.
		if status, b := f.do("GET", "/api/v1/admin/users", f.aliceKey, ""); status != 200 {
			t.Fatalf("promoted alice: %d %s", status, b)
		}
		f.call("PATCH", f.aliceURL, `{"admin":false}`, 200, &u)
		if u.Admin {
			t.Fatalf("answer %+v", u)
		}
		if status, _ := f.do("GET", "/api/v1/admin/users", f.aliceKey, ""); status != 404 {
			t.Fatalf("demoted alice: %d", status)
		}
	})

	t.Run("Self", func(t *testing.T) {
		f := newUsersFixture(t)
		for _, body := range []string{`{"admin":false}`, `{"disabled":true}`, `{"admin":true,"disabled":true}`} {
			b := f.call("PATCH", f.selfURL, body, 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
		}
		if u, _ := f.env.Store.User(ctx, f.admin.ID); !u.Admin || u.Disabled {
			t.Fatalf("admin now %+v", u)
		}
	})

	t.Run("Disable", func(t *testing.T) {
		f := newUsersFixture(t)
		_, _, token, err := f.env.Accounts.Login(ctx, "bob", "correct horse", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		cookie := SessionCookie + "=" + token
		if status, _ := f.do("GET", "/api/v1/me", "", "", "Cookie", cookie); status != 200 {
			t.Fatalf("bob's session before: %d", status)
		}
		var u user
		f.call("PATCH", f.bobURL, `{"disabled":true}`, 200, &u)
		if !u.Disabled || u.Admin {
			t.Fatalf("answer %+v", u)
		}
		if status, _ := f.do("GET", "/api/v1/me", f.bobKey, ""); status != 401 {
			t.Fatalf("disabled bob's API key: %d", status)
		}
		if status, _ := f.do("GET", "/api/v1/me", "", "", "Cookie", cookie); status != 401 {
			t.Fatalf("disabled bob's session: %d", status)
		}
		if _, err := f.env.Store.Session(ctx, service.HashToken(token)); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("bob's session still stored: %v", err)
		}
		f.call("PATCH", f.bobURL, `{"disabled":false}`, 200, &u)
		if status, _ := f.do("GET", "/api/v1/me", f.bobKey, ""); status != 200 || u.Disabled {
			t.Fatalf("enabled bob's API key: %d", status)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		f := newUsersFixture(t)
		for _, path := range []string{"/api/v1/admin/users/x", "/api/v1/admin/users/99999"} {
			b := f.call("PATCH", path, `{"admin":true}`, 404, nil)
			wantAPIError(t, b, pixpool.ENOTFOUND)
		}
		f.call("PATCH", f.bobURL, `{"admin":"yes"}`, 400, nil)
		f.call("PATCH", f.bobURL, `{"root":true}`, 400, nil)
		f.call("GET", "/api/v1/admin/users?limit=0", "", 400, nil)
	})
}
