package service

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/password"
	"github.com/pixpool/pixpool/store/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func newAccounts(t *testing.T) (*Accounts, *clock) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	return &Accounts{Store: st, Now: c.Now, Logger: slog.New(slog.DiscardHandler), Password: password.Params{Memory: 1024, Time: 1, Threads: 1}}, c
}

// signUp signs u up as a visitor from 192.0.2.200 would.
func signUp(a *Accounts, u *pixpool.User, pw string) error {
	_, _, err := a.SignUp(context.Background(), Signup{User: u, Password: pw, ClientIP: "192.0.2.200"})
	return err
}

func ada() *pixpool.User {
	return &pixpool.User{Username: "Ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.org",
		Birthday: time.Date(1990, 12, 10, 0, 0, 0, 0, time.UTC), Phone: "+44 20 7946 0958"}
}

func TestAccounts_SignUpLogin(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	if err := signUp(a, ada(), "correct horse"); err != nil {
		t.Fatal(err)
	}
	dup := ada()
	dup.Username = "ADA"
	if err := signUp(a, dup, "correct horse"); pixpool.ErrorCode(err) != pixpool.ECONFLICT {
		t.Fatalf("duplicate username in other case: %v, want conflict", err)
	}
	admin := ada()
	admin.Username = "Admin"
	if err := signUp(a, admin, "correct horse"); pixpool.ErrorCode(err) != pixpool.ECONFLICT {
		t.Fatalf("reserved username: %v", err)
	}
	sneaky := ada()
	sneaky.Username, sneaky.Admin = "eve", true
	if err := signUp(a, sneaky, "correct horse"); err != nil || sneaky.Admin {
		t.Fatalf("sign-up made an admin: %v %v", err, sneaky.Admin)
	}

	u, s, token, err := a.Login(ctx, "ada", "correct horse", "192.0.2.1")
	if err != nil || u.Username != "Ada" {
		t.Fatalf("Login: %v", err)
	}
	if s.TokenHash == token || s.TokenHash != HashToken(token) {
		t.Fatal("the store must hold the token's hash, not the token")
	}
	if got, _, err := a.Authenticate(ctx, token); err != nil || got.ID != u.ID {
		t.Fatalf("Authenticate: %v", err)
	}
	for _, tt := range []struct{ user, pw string }{{"ada", "wrong horse"}, {"nobody", "correct horse"}} {
		_, _, _, err := a.Login(ctx, tt.user, tt.pw, "192.0.2.1")
		if pixpool.ErrorCode(err) != pixpool.EUNAUTHORIZED || pixpool.ErrorMessage(err) != "Wrong username or password." {
			t.Fatalf("Login(%s, %s)=%v", tt.user, tt.pw, err)
		}
	}
}

func TestAccounts_Sessions(t *testing.T) {
	ctx := context.Background()
	a, clk := newAccounts(t)
	a.SessionTTL = time.Hour
	signUp(a, ada(), "correct horse")
	_, _, token, err := a.Login(ctx, "ada", "correct horse", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, forged := range []string{"", "forged", token + "x", string(make([]byte, 500))} {
		if _, _, err := a.Authenticate(ctx, forged); pixpool.ErrorCode(err) != pixpool.EUNAUTHORIZED {
			t.Fatalf("Authenticate(forged %q)=%v", forged, err)
		}
	}
	clk.t = clk.t.Add(time.Hour)
	if _, _, err := a.Authenticate(ctx, token); pixpool.ErrorCode(err) != pixpool.EUNAUTHORIZED {
		t.Fatalf("expired session accepted: %v", err)
	}
}

func TestAccounts_ChangePasswordEndsOtherSessions(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	signUp(a, ada(), "correct horse")
	u, mine, myToken, _ := a.Login(ctx, "ada", "correct horse", "192.0.2.1")
	_, _, otherToken, _ := a.Login(ctx, "ada", "correct horse", "192.0.2.2")
	if err := a.ChangePassword(ctx, u.ID, "wrong", "battery staple", mine.TokenHash); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := a.ChangePassword(ctx, u.ID, "correct horse", "battery staple", mine.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Authenticate(ctx, myToken); err != nil {
		t.Fatalf("own session ended: %v", err)
	}
	if _, _, err := a.Authenticate(ctx, otherToken); err == nil {
		t.Fatal("other session survived a password change")
	}
	if _, _, _, err := a.Login(ctx, "ada", "battery staple", "192.0.2.1"); err != nil {
		t.Fatalf("login with new password: %v", err)
	}
}

func TestAccounts_Disabled(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	u := ada()
	signUp(a, u, "correct horse")
	_, _, token, _ := a.Login(ctx, "ada", "correct horse", "192.0.2.1")
	_, secret, _ := a.CreateAPIKey(ctx, u.ID, "k")
	if _, err := a.AuthenticateAPIKey(ctx, secret); err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Authenticate(ctx, token); pixpool.ErrorCode(err) != pixpool.EUNAUTHORIZED {
		t.Fatalf("disabled user's session: %v", err)
	}
	if _, err := a.AuthenticateAPIKey(ctx, secret); pixpool.ErrorCode(err) != pixpool.EUNAUTHORIZED {
		t.Fatalf("disabled user's API key: %v", err)
	}
	if _, _, _, err := a.Login(ctx, "ada", "correct horse", "192.0.2.1"); err == nil {
		t.Fatal("disabled user logged in")
	}
}

func TestAccounts_APIKeys(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	u := ada()
	signUp(a, u, "correct horse")
	k, secret, err := a.CreateAPIKey(ctx, u.ID, "laptop")
	if err != nil || len(secret) < 40 || k.Hash == secret || secret[:len(k.Prefix)] != k.Prefix {
		t.Fatalf("CreateAPIKey: %+v %q %v", k, secret, err)
	}
	for _, bad := range []string{"", "pp_", secret + "x", "Bearer " + secret, "xx" + secret[2:]} {
		if _, err := a.AuthenticateAPIKey(ctx, bad); pixpool.ErrorCode(err) != pixpool.EUNAUTHORIZED {
			t.Fatalf("AuthenticateAPIKey(%q)=%v", bad, err)
		}
	}
	if err := a.Store.DeleteAPIKey(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthenticateAPIKey(ctx, secret); err == nil {
		t.Fatal("revoked key works")
	}
}

// newRights returns accounts with boss, their only admin, and bob.
func newRights(t *testing.T) (a *Accounts, boss, bob *pixpool.User) {
	t.Helper()
	a, _ = newAccounts(t)
	boss, bob = ada(), ada()
	boss.Username, boss.Admin = "boss", true
	bob.Username = "bob"
	for _, u := range []*pixpool.User{boss, bob} {
		if err := a.CreateUser(context.Background(), u, "correct horse"); err != nil {
			t.Fatal(err)
		}
	}
	return a, boss, bob
}

// wantFlags fails unless the stored user id has these admin and disabled
// flags.
func wantFlags(t *testing.T, a *Accounts, id int64, admin, disabled bool) {
	t.Helper()
	u, err := a.Store.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Admin != admin || u.Disabled != disabled {
		t.Fatalf("%s: admin %v, disabled %v; want %v, %v", u.Username, u.Admin, u.Disabled, admin, disabled)
	}
}

func TestAccounts_SetUserAdmin(t *testing.T) {
	ctx := context.Background()
	t.Run("LastAdmin", func(t *testing.T) {
		a, boss, bob := newRights(t)
		// Only another admin can demote one, so through the portal and the
		// API there is always a second; the rule still holds for any
		// caller.
		_, err := a.SetUserAdmin(ctx, bob, boss.ID, false)
		if pixpool.ErrorCode(err) != pixpool.EINVALID || !strings.Contains(pixpool.ErrorMessage(err), "last admin") {
			t.Fatalf("demoting the last admin: %v", err)
		}
		wantFlags(t, a, boss.ID, true, false)
	})
	t.Run("PromoteDemote", func(t *testing.T) {
		a, boss, bob := newRights(t)
		for _, admin := range []bool{true, false} {
			u, err := a.SetUserAdmin(ctx, boss, bob.ID, admin)
			if err != nil || u.Admin != admin {
				t.Fatalf("SetUserAdmin(%v): %+v, %v", admin, u, err)
			}
			wantFlags(t, a, bob.ID, admin, false)
		}
	})
}

func TestAccounts_SetUserDisabled(t *testing.T) {
	ctx := context.Background()
	t.Run("EndsSessions", func(t *testing.T) {
		a, boss, bob := newRights(t)
		_, _, token, err := a.Login(ctx, "bob", "correct horse", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		u, err := a.SetUserDisabled(ctx, boss, bob.ID, true)
		if err != nil || !u.Disabled {
			t.Fatalf("disable: %+v, %v", u, err)
		}
		wantFlags(t, a, bob.ID, false, true)
		if _, err := a.Store.Session(ctx, HashToken(token)); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("bob's session still stored: %v", err)
		}
		u, err = a.SetUserDisabled(ctx, boss, bob.ID, false)
		if err != nil || u.Disabled {
			t.Fatalf("enable: %+v, %v", u, err)
		}
		wantFlags(t, a, bob.ID, false, false)
	})
}

func TestAccounts_SetUserFlags(t *testing.T) {
	ctx := context.Background()
	yes, no := true, false
	t.Run("SelfRefusedFirst", func(t *testing.T) {
		a, boss, _ := newRights(t)
		// Refused before the admin flag could change.
		for _, admin := range []*bool{nil, &yes, &no} {
			if _, err := a.SetUserFlags(ctx, boss, boss.ID, admin, &yes); pixpool.ErrorCode(err) != pixpool.EINVALID {
				t.Fatalf("disabling oneself (admin %v): %v", admin, err)
			}
		}
		wantFlags(t, a, boss.ID, true, false)
	})
	t.Run("Both", func(t *testing.T) {
		a, boss, bob := newRights(t)
		u, err := a.SetUserFlags(ctx, boss, bob.ID, &yes, &yes)
		if err != nil || !u.Admin || !u.Disabled {
			t.Fatalf("promote and disable: %+v, %v", u, err)
		}
		u, err = a.SetUserFlags(ctx, boss, bob.ID, nil, nil)
		if err != nil || u.ID != bob.ID || !u.Admin || !u.Disabled {
			t.Fatalf("no change: %+v, %v", u, err)
		}
	})
}

func TestAccounts_UserRightsNotFound(t *testing.T) {
	ctx := context.Background()
	a, boss, _ := newRights(t)
	yes := true
	for name, set := range map[string]func() (*pixpool.User, error){
		"SetUserAdmin":    func() (*pixpool.User, error) { return a.SetUserAdmin(ctx, boss, 99999, true) },
		"SetUserDisabled": func() (*pixpool.User, error) { return a.SetUserDisabled(ctx, boss, 99999, true) },
		"SetUserFlags":    func() (*pixpool.User, error) { return a.SetUserFlags(ctx, boss, 99999, &yes, nil) },
	} {
		if _, err := set(); pixpool.ErrorCode(err) != pixpool.ENOTFOUND || pixpool.ErrorMessage(err) != "No such user." {
			t.Errorf("%s of a missing user: %v", name, err)
		}
	}
}

// TestAccounts_RefuseSelf: nobody demotes or disables themselves, even
// with another admin to spare.
func TestAccounts_RefuseSelf(t *testing.T) {
	ctx := context.Background()
	a, boss, bob := newRights(t)
	if _, err := a.SetUserAdmin(ctx, boss, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	_, demote := a.SetUserAdmin(ctx, boss, boss.ID, false)
	_, disable := a.SetUserDisabled(ctx, boss, boss.ID, true)
	for err, want := range map[error]string{
		demote:  "You cannot remove your own admin rights; another admin can.",
		disable: "You cannot disable your own account.",
	} {
		if pixpool.ErrorCode(err) != pixpool.EINVALID || pixpool.ErrorMessage(err) != want {
			t.Errorf("got %v, want EINVALID %q", err, want)
		}
	}
	wantFlags(t, a, boss.ID, true, false)
}
