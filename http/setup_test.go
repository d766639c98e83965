package http

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// TestWeb_SetupStaleLink is issue 11, item 2, as reported: after an
// admin was made with the command line, the old setup link's token
// created "admin" with the attacker's password, who then logged in.
func TestWeb_SetupStaleLink(t *testing.T) {
	srv, ts := newTestServer(t)
	ctx := context.Background()
	token, _, err := srv.Accounts.Bootstrap(ctx, "")
	if err != nil || token == "" {
		t.Fatalf("Bootstrap()=%q, %v", token, err)
	}
	// What `pixpool user create --admin boss` does.
	boss := &pixpool.User{Username: "boss", FirstName: "Grace", LastName: "Hopper", Email: "boss@example.org",
		Birthday: time.Date(1980, 12, 9, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0001", Admin: true}
	if err := srv.Accounts.CreateUser(ctx, boss, "boss password"); err != nil {
		t.Fatal(err)
	}
	attacker := newBrowser(t, ts)
	resp, body := attacker.get("/setup?" + url.Values{"token": {token}}.Encode())
	wantStatus(t, resp, body, http.StatusNotFound)
	resp, body = attacker.post("/setup", url.Values{"token": {token}, "password": {"attacker password"}, "password_confirm": {"attacker password"}})
	wantStatus(t, resp, body, http.StatusNotFound)
	wantContains(t, body, "This setup link has been used or has expired.")
	if _, err := srv.Store.UserByUsername(ctx, "admin"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("admin account after the stale link: %v", err)
	}
	resp = attacker.login("admin", "attacker password", "/admin")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("attacker login: status %d", resp.StatusCode)
	}
}

// TestWeb_SetupNoReset: setup refuses, clearly, to touch an existing
// "admin" account.
func TestWeb_SetupNoReset(t *testing.T) {
	srv, ts := newTestServer(t)
	ctx := context.Background()
	plain := &pixpool.User{Username: "admin", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.org",
		Birthday: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0002"}
	if err := srv.Accounts.CreateUser(ctx, plain, "owner password"); err != nil {
		t.Fatal(err)
	}
	token, _, _ := srv.Accounts.Bootstrap(ctx, "")
	c := newBrowser(t, ts)
	resp, body := c.post("/setup", url.Values{"token": {token}, "password": {"attacker password"}, "password_confirm": {"attacker password"}})
	wantStatus(t, resp, body, http.StatusConflict)
	wantContains(t, body, "setup never changes an existing account")
	if resp := c.login("admin", "attacker password", "/"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with the setup password: status %d", resp.StatusCode)
	}
	if resp := newBrowser(t, ts).login("admin", "owner password", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner's login: status %d", resp.StatusCode)
	}
}
