package service

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/password"
)

func signupAs(a *Accounts, name, invite, ip string) error {
	u := ada()
	u.Username = name
	_, _, err := a.SignUp(context.Background(), Signup{User: u, Password: "correct horse", Invite: invite, ClientIP: ip})
	return err
}

// TestAccounts_SignupModes: open lets anyone in, invite-only needs an
// unused, unexpired code (one account per code), closed lets nobody in.
func TestAccounts_SignupModes(t *testing.T) {
	ctx := context.Background()
	a, clk := newAccounts(t)
	if m, err := a.SignupMode(ctx); err != nil || m != pixpool.SignupOpen {
		t.Fatalf("SignupMode()=%q, %v, want open by default", m, err)
	}
	sess, token, err := a.SignUp(ctx, Signup{User: ada(), Password: "correct horse", ClientIP: "192.0.2.1"})
	if err != nil || sess == nil || HashToken(token) != sess.TokenHash {
		t.Fatalf("open SignUp()=%v, %v", sess, err)
	}
	if _, _, err := a.Authenticate(ctx, token); err != nil {
		t.Fatalf("sign-up's session: %v", err)
	}

	if err := a.SetSignupMode(ctx, "sometimes", "boss"); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("SetSignupMode(bad)=%v", err)
	}
	if err := a.SetSignupMode(ctx, pixpool.SignupClosed, "boss"); err != nil {
		t.Fatal(err)
	}
	if err := signupAs(a, "bob", "", "192.0.2.2"); pixpool.ErrorCode(err) != pixpool.EFORBIDDEN {
		t.Fatalf("closed sign-up: %v, want forbidden", err)
	}

	if err := a.SetSignupMode(ctx, pixpool.SignupInvite, "boss"); err != nil {
		t.Fatal(err)
	}
	boss := &pixpool.User{ID: 1, Username: "boss"}
	inv, code, err := a.CreateInvite(ctx, boss, time.Hour)
	if err != nil || inv.Hash == code || inv.Hash != HashToken(code) || code[:len(inv.Prefix)] != inv.Prefix {
		t.Fatalf("CreateInvite()=%+v, %q, %v", inv, code, err)
	}
	if _, _, err := a.CreateInvite(ctx, boss, 365*24*time.Hour); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("CreateInvite(a year)=%v", err)
	}
	for _, bad := range []string{"", "inv_wrong", code + "x"} {
		if err := signupAs(a, "bob", bad, "192.0.2.3"); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("invite-only sign-up with %q: %v, want invalid", bad, err)
		}
	}
	if err := signupAs(a, "bob", " "+code+" ", "192.0.2.4"); err != nil {
		t.Fatalf("sign-up with the invite: %v", err)
	}
	if err := signupAs(a, "cem", code, "192.0.2.4"); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("second sign-up with one invite: %v", err)
	}
	_, late, _ := a.CreateInvite(ctx, boss, time.Hour)
	clk.t = clk.t.Add(time.Hour)
	if err := signupAs(a, "dan", late, "192.0.2.5"); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("sign-up with an expired invite: %v", err)
	}
	if m, _ := a.SignupMode(ctx); m != pixpool.SignupInvite {
		t.Fatalf("SignupMode()=%q", m)
	}
}

// TestAccounts_SignupRate: sign-ups from one client (an IPv6 /64 counts
// as one) are paced before any hashing.
func TestAccounts_SignupRate(t *testing.T) {
	a, clk := newAccounts(t)
	for i := range defaultSignup.Free {
		if err := signupAs(a, fmt.Sprintf("user%d", i), "", fmt.Sprintf("2001:db8::%x", i+1)); err != nil {
			t.Fatalf("sign-up %d: %v", i+1, err)
		}
	}
	if err := signupAs(a, "one-more", "", "2001:db8::ffff"); pixpool.ErrorCode(err) != pixpool.ETOOMANY {
		t.Fatalf("sign-up past the budget: %v, want too_many", err)
	}
	if err := signupAs(a, "elsewhere", "", "192.0.2.9"); err != nil {
		t.Fatalf("sign-up from another client: %v", err)
	}
	clk.t = clk.t.Add(defaultSignup.Delay)
	if err := signupAs(a, "one-more", "", "2001:db8::ffff"); err != nil {
		t.Fatalf("sign-up after the wait: %v", err)
	}
}

// TestAccounts_HashingBound: with every hashing slot taken, sign-ups and
// logins wait for one, then give up with EUNAVAILABLE rather than hash.
func TestAccounts_HashingBound(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	newAda(t, a)
	a.Hashing = &password.Limiter{Max: 1}
	a.HashWait = time.Millisecond
	release, err := a.Hashing.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := signupAs(a, "bob", "", "192.0.2.1"); pixpool.ErrorCode(err) != pixpool.EUNAVAILABLE {
		t.Fatalf("sign-up with no hashing slot: %v, want unavailable", err)
	}
	if c := loginCode(a, "ada", "correct horse", "192.0.2.1"); c != pixpool.EUNAVAILABLE {
		t.Fatalf("login with no hashing slot: %q, want unavailable", c)
	}
	if _, err := a.Store.UserByUsername(ctx, "bob"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("bob exists after a refused sign-up: %v", err)
	}
	release()
	a.HashWait = 0
	if err := signupAs(a, "bob", "", "192.0.2.1"); err != nil {
		t.Fatalf("sign-up once a slot is free: %v", err)
	}
	if c := loginCode(a, "ada", "correct horse", "192.0.2.1"); c != "" {
		t.Fatalf("login once a slot is free: %q", c)
	}
	if n := a.Hashing.InUse(); n != 0 {
		t.Fatalf("%d hashing slots still taken", n)
	}
}

// TestAccounts_Setup: the setup token of issue 11, item 2. Once an admin
// exists by any path, the old token creates nothing; it expires; it never
// changes an existing account.
func TestAccounts_Setup(t *testing.T) {
	ctx := context.Background()
	t.Run("StaleAfterCLIAdmin", func(t *testing.T) {
		a, _ := newAccounts(t)
		token, expires, err := a.Bootstrap(ctx, "")
		if err != nil || token == "" || !expires.Equal(a.now().Add(time.Hour)) {
			t.Fatalf("Bootstrap()=%q, %v, %v", token, expires, err)
		}
		// pixpool user create --admin boss
		boss := ada()
		boss.Username, boss.Admin = "boss", true
		if err := a.CreateUser(ctx, boss, "boss password"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := a.SetupPending(ctx); ok {
			t.Fatal("setup still pending with an admin")
		}
		if _, _, _, err := a.SetupAdmin(ctx, token, "attacker password", "203.0.113.1"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("SetupAdmin with the stale token: %v, want not found", err)
		}
		if _, err := a.Store.UserByUsername(ctx, "admin"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("admin exists: %v", err)
		}
		if c := loginCode(a, "admin", "attacker password", "203.0.113.1"); c != pixpool.EUNAUTHORIZED {
			t.Fatalf("attacker login: %q", c)
		}
		if tok, _, err := a.Bootstrap(ctx, ""); tok != "" || err != nil {
			t.Fatalf("Bootstrap() with an admin=%q, %v", tok, err)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		a, clk := newAccounts(t)
		token, _, _ := a.Bootstrap(ctx, "")
		clk.t = clk.t.Add(time.Hour)
		if ok, _ := a.SetupPending(ctx); ok {
			t.Fatal("setup pending after an hour")
		}
		if _, _, _, err := a.SetupAdmin(ctx, token, "admin password", "192.0.2.1"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("SetupAdmin with an expired token: %v", err)
		}
		// The next start prints a new one, and the old stays dead.
		fresh, _, _ := a.Bootstrap(ctx, "")
		if _, _, _, err := a.SetupAdmin(ctx, token, "admin password", "192.0.2.1"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("SetupAdmin with the replaced token: %v", err)
		}
		u, _, _, err := a.SetupAdmin(ctx, fresh, "admin password", "192.0.2.1")
		if err != nil || !u.Admin || u.Username != "admin" {
			t.Fatalf("SetupAdmin(fresh)=%+v, %v", u, err)
		}
		if _, _, _, err := a.SetupAdmin(ctx, fresh, "other password", "192.0.2.1"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("SetupAdmin twice: %v", err)
		}
	})
	t.Run("NoReset", func(t *testing.T) {
		a, _ := newAccounts(t)
		plain := ada()
		plain.Username = "admin" // made with the command line, not an admin
		if err := a.CreateUser(ctx, plain, "owner password"); err != nil {
			t.Fatal(err)
		}
		token, _, _ := a.Bootstrap(ctx, "")
		_, _, _, err := a.SetupAdmin(ctx, token, "attacker password", "203.0.113.1")
		if pixpool.ErrorCode(err) != pixpool.ECONFLICT {
			t.Fatalf("SetupAdmin over an existing account: %v, want conflict", err)
		}
		if c := loginCode(a, "admin", "owner password", "192.0.2.1"); c != "" {
			t.Fatalf("owner's login after a refused setup: %q", c)
		}
		if u, _ := a.Store.UserByUsername(ctx, "admin"); u.Admin {
			t.Fatal("setup made the existing account an admin")
		}
	})
}

// raceAdmin is a store on which another replica creates the "admin"
// account right after this one has found no account of that name.
type raceAdmin struct {
	pixpool.Store
	other *Accounts
	once  sync.Once
}

func (s *raceAdmin) UserByUsername(ctx context.Context, name string) (*pixpool.User, error) {
	u, err := s.Store.UserByUsername(ctx, name)
	s.once.Do(func() {
		if err := s.other.bootstrapAdmin(ctx, "other replica's password"); err != nil {
			panic(err)
		}
	})
	return u, err
}

// TestAccounts_BootstrapRace: two replicas started at once with
// PIXPOOL_ADMIN_PASSWORD both find no admin; the one whose account
// creation comes second must start, not fail on the name taken.
func TestAccounts_BootstrapRace(t *testing.T) {
	ctx := context.Background()
	a, _ := newAccounts(t)
	other := &Accounts{Store: a.Store, Now: a.Now, Logger: a.Logger, Password: a.Password}
	a.Store = &raceAdmin{Store: a.Store, other: other}
	token, _, err := a.Bootstrap(ctx, "this replica's password")
	if err != nil || token != "" {
		t.Fatalf("Bootstrap()=%q, %v; want no token and no error", token, err)
	}
	if n, err := other.Store.CountAdmins(ctx); err != nil || n != 1 {
		t.Fatalf("admins: %d, %v; want 1", n, err)
	}
}
