package service

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

func loginDev(a *Accounts, user, pw, ip, device string) (*LoginResult, string) {
	r, err := a.LoginDevice(context.Background(), LoginRequest{Username: user, Password: pw, ClientIP: ip, Device: device})
	return r, pixpool.ErrorCode(err)
}

// attackerIP is the i-th of many client addresses, as a botnet (or forged
// X-Forwarded-For headers behind --trust-proxy) would have.
func attackerIP(i int) string { return fmt.Sprintf("8.%d.%d.%d", i>>16&255, i>>8&255, i&255) }

// TestAccounts_DeviceCookieUnderAttack is the reviewer's scenario (issue
// 11, item 6): two attackers guess ada's password from fresh addresses
// every 50 ms each, taking every try of the shared per-account budget the
// moment it frees. The owner, on a browser she logged in from before,
// logs in at once every time; from a new browser she gets a try only once
// the attack stops, after at most the account's longest wait.
func TestAccounts_DeviceCookieUnderAttack(t *testing.T) {
	a, c := newAccounts(t)
	newAda(t, a)
	const owner = "203.0.113.7"
	r, code := loginDev(a, "ada", "correct horse", owner, "")
	if code != "" || r.Device == "" {
		t.Fatalf("first login: %q, device %q", code, r.Device)
	}
	device := r.Device
	guesses, refused, ip := 0, 0, 0
	attack := func(d time.Duration) {
		for end := c.t.Add(d); c.t.Before(end); c.t = c.t.Add(25 * time.Millisecond) {
			ip++
			switch _, code := loginDev(a, "ada", "wrong guess", attackerIP(ip), ""); code {
			case pixpool.EUNAUTHORIZED:
				guesses++
			case pixpool.ETOOMANY:
				refused++
			default:
				t.Fatalf("attacker: %q", code)
			}
		}
	}
	attack(10 * time.Second)
	for i := range 8 {
		attack(5 * time.Second)
		if _, code := loginDev(a, "ada", "correct horse", owner, ""); code != pixpool.ETOOMANY {
			t.Fatalf("owner without a device cookie, try %d: %q, want too_many (the attacker holds every try)", i, code)
		}
		r, code := loginDev(a, "ada", "correct horse", owner, device)
		if code != "" {
			t.Fatalf("owner with a device cookie, try %d: %q, want a login", i, code)
		}
		device = r.Device
	}
	if refused == 0 || guesses > defaultAccount.Free+50 {
		t.Fatalf("attacker: %d guesses checked, %d refused; want the account budget to hold", guesses, refused)
	}
	// A new browser: once the attack stops, the owner waits at most the
	// account's longest wait.
	c.t = c.t.Add(defaultAccount.MaxDelay)
	if _, code := loginDev(a, "ada", "correct horse", owner, ""); code != "" {
		t.Fatalf("owner without a device cookie, %s after the attack: %q, want a login", defaultAccount.MaxDelay, code)
	}
}

// TestAccounts_DeviceBudget: a device cookie's own budget paces wrong
// passwords sent with it (5, then doubling waits), and leaves the account
// open to its other devices.
func TestAccounts_DeviceBudget(t *testing.T) {
	a, c := newAccounts(t)
	newAda(t, a)
	r1, _ := loginDev(a, "ada", "correct horse", "192.0.2.1", "")
	r2, _ := loginDev(a, "ada", "correct horse", "192.0.2.2", "")
	for i := range defaultDevice.Free {
		if _, code := loginDev(a, "ada", "wrong", "192.0.2.1", r1.Device); code != pixpool.EUNAUTHORIZED {
			t.Fatalf("wrong password %d with a device cookie: %q", i, code)
		}
	}
	if _, code := loginDev(a, "ada", "correct horse", "192.0.2.1", r1.Device); code != pixpool.ETOOMANY {
		t.Fatalf("device past its budget: %q, want too_many", code)
	}
	if _, code := loginDev(a, "ada", "correct horse", "192.0.2.2", r2.Device); code != "" {
		t.Fatalf("another device of the owner: %q, want a login", code)
	}
	c.t = c.t.Add(defaultDevice.Delay)
	if _, code := loginDev(a, "ada", "correct horse", "192.0.2.1", r1.Device); code != "" {
		t.Fatalf("device after its wait: %q, want a login", code)
	}
}

// TestAccounts_DeviceCookieDropped: a device cookie counts only for its
// own account, unforged, unexpired, and signed since the account last
// changed: a new password or disabling the account (even if enabled
// again) drops it.
func TestAccounts_DeviceCookieDropped(t *testing.T) {
	ctx := context.Background()
	a, c := newAccounts(t)
	a.Throttle.Account = pixpool.AttemptLimit{Free: 2, Delay: time.Hour, MaxDelay: time.Hour, Forget: 24 * time.Hour}
	a.DeviceTTL = 3 * time.Hour
	u := newAda(t, a)
	bob := ada()
	bob.Username, bob.Email = "bob", "bob@example.org"
	if err := a.CreateUser(ctx, bob, "bob's password"); err != nil {
		t.Fatal(err)
	}
	ip := 0
	// exhaust makes the account's budget refuse the next try.
	exhaust := func(user string) {
		t.Helper()
		for range 10 {
			ip++
			if _, code := loginDev(a, user, "wrong guess", attackerIP(ip), ""); code == pixpool.ETOOMANY {
				return
			}
		}
		t.Fatalf("%s's budget never ran out", user)
	}
	// fresh waits out the account's budget and logs in for a new cookie.
	fresh := func() string {
		t.Helper()
		c.t = c.t.Add(2 * time.Hour)
		r, code := loginDev(a, "ada", "correct horse", "192.0.2.9", "")
		if code != "" || r.Device == "" {
			t.Fatalf("login for a device cookie: %q", code)
		}
		return r.Device
	}
	check := func(name, user, pw, device, want string) {
		t.Helper()
		exhaust(user)
		if _, code := loginDev(a, user, pw, "192.0.2.10", device); code != want {
			t.Fatalf("%s: %q, want %q", name, code, want)
		}
	}

	d := fresh()
	check("valid cookie", "ada", "correct horse", d, "")
	check("ada's cookie for bob", "bob", "bob's password", d, pixpool.ETOOMANY)
	check("no cookie", "ada", "correct horse", "", pixpool.ETOOMANY)
	f := strings.Split(d, ".")
	f[1] = fmt.Sprint(u.ID + 1)
	check("cookie edited for another account", "bob", "bob's password", strings.Join(f, "."), pixpool.ETOOMANY)
	f = strings.Split(d, ".")
	f[2] = fmt.Sprint(c.t.Add(100 * 24 * time.Hour).Unix())
	check("expiry pushed back", "ada", "correct horse", strings.Join(f, "."), pixpool.ETOOMANY)

	d = fresh()
	c.t = c.t.Add(3 * time.Hour)
	check("expired cookie", "ada", "correct horse", d, pixpool.ETOOMANY)

	d = fresh()
	if err := a.ChangePassword(ctx, u.ID, "correct horse", "battery staple", ""); err != nil {
		t.Fatal(err)
	}
	check("cookie from before a password change", "ada", "battery staple", d, pixpool.ETOOMANY)
	if err := a.ResetPassword(ctx, "ada", "correct horse"); err != nil {
		t.Fatal(err)
	}

	d = fresh()
	for _, disabled := range []bool{true, false} {
		u, err := a.Store.User(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		u.Disabled = disabled
		time.Sleep(2 * time.Millisecond) // updated_at is kept in milliseconds
		if err := a.Store.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	check("cookie from before the account was disabled", "ada", "correct horse", d, pixpool.ETOOMANY)
}

// TestAccounts_RefusedTriesCost: a client polling an account whose
// budget is spent pays for each refused try from its own budget, so it
// cannot poll for freed tries for nothing.
func TestAccounts_RefusedTriesCost(t *testing.T) {
	a, _ := newAccounts(t)
	newAda(t, a)
	a.Throttle.Account = pixpool.AttemptLimit{Free: 2, Delay: time.Hour, MaxDelay: time.Hour, Forget: time.Hour}
	for i := range 3 {
		loginDev(a, "ada", "wrong guess", attackerIP(i), "")
	}
	for i := range defaultClient.Free {
		if _, code := loginDev(a, "ada", "wrong guess", "198.51.100.1", ""); code != pixpool.ETOOMANY {
			t.Fatalf("poll %d: %q, want too_many", i, code)
		}
	}
	if _, code := loginDev(a, "nobody", "a guess", "198.51.100.1", ""); code != pixpool.ETOOMANY {
		t.Fatalf("the poller, after %d refused tries, at another account: %q, want too_many", defaultClient.Free, code)
	}
}

// countHandler counts log records at Warn and above.
type countHandler struct {
	mu    sync.Mutex
	warns map[string]int // by message
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countHandler) WithGroup(string) slog.Handler            { return h }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns[r.Message]++
		h.mu.Unlock()
	}
	return nil
}

// TestAccounts_ThrottleLogBounded: refused tries cost nothing to make, so
// they are logged at Warn once per key a minute, not each: an attacker
// polling an account, and a client polling many, write a few lines.
func TestAccounts_ThrottleLogBounded(t *testing.T) {
	a, c := newAccounts(t)
	newAda(t, a)
	h := &countHandler{warns: map[string]int{}}
	a.Logger = slog.New(h)
	start := c.t
	for i := range 600 { // a minute, polling every 100 ms
		loginDev(a, "ada", "wrong guess", attackerIP(i), "")
		loginDev(a, fmt.Sprint("user", i), "wrong guess", "198.51.100.1", "")
		c.t = c.t.Add(100 * time.Millisecond)
	}
	if got, most := h.warns["login throttled"], 2*int(c.t.Sub(start)/throttleLogWindow+1); got == 0 || got > most {
		t.Fatalf("%d refused-login warnings over %s, want 1 to %d", got, c.t.Sub(start), most)
	}
}
