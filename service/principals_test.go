package service

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/password"
	"github.com/pixpool/pixpool/store/sqlite"
)

// authCountingStore counts the lookups authentication makes.
type authCountingStore struct {
	pixpool.Store
	calls atomic.Int64
}

func (s *authCountingStore) Session(ctx context.Context, h string) (*pixpool.Session, error) {
	s.calls.Add(1)
	return s.Store.Session(ctx, h)
}

func (s *authCountingStore) APIKeyByHash(ctx context.Context, h string) (*pixpool.APIKey, error) {
	s.calls.Add(1)
	return s.Store.APIKeyByHash(ctx, h)
}

func (s *authCountingStore) User(ctx context.Context, id int64) (*pixpool.User, error) {
	s.calls.Add(1)
	return s.Store.User(ctx, id)
}

func (s *authCountingStore) TouchAPIKey(ctx context.Context, id int64, t time.Time) error {
	s.calls.Add(1)
	return s.Store.TouchAPIKey(ctx, id, t)
}

// replicas returns two Accounts on one database file, each with a Store
// of its own, as two serve processes would have, on one clock.
func replicas(t *testing.T) (a, b *Accounts, bStore *authCountingStore, clk *clock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	clk = &clock{time.Now().UTC()}
	open := func() pixpool.Store {
		st, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	newAcc := func(st pixpool.Store) *Accounts {
		return &Accounts{Store: st, Now: clk.Now, Logger: slog.New(slog.DiscardHandler), Password: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	}
	bStore = &authCountingStore{Store: open()}
	return newAcc(open()), newAcc(bStore), bStore, clk
}

func poll(t *testing.T, as ...*Accounts) {
	t.Helper()
	for _, a := range as {
		if err := a.pollAuth(t.Context()); err != nil {
			t.Fatalf("pollAuth()=%v", err)
		}
	}
}

// credentials is a user with a session and an API key, each checked on
// a, b (both then cache them).
type credentials struct {
	user           *pixpool.User
	session, other *pixpool.Session
	token, second  string
	key            *pixpool.APIKey
	secret         string
}

// accepted reports whether acc takes the session token and the API key,
// and the account each acts as.
func accepted(t *testing.T, acc *Accounts, c *credentials) (session, key bool, sUser, kUser *pixpool.User) {
	t.Helper()
	sUser, _, err := acc.Authenticate(t.Context(), c.token)
	if err != nil && pixpool.ErrorCode(err) != pixpool.EUNAUTHORIZED {
		t.Fatalf("Authenticate()=%v", err)
	}
	kUser, kerr := acc.AuthenticateAPIKey(t.Context(), c.secret)
	if kerr != nil && pixpool.ErrorCode(kerr) != pixpool.EUNAUTHORIZED {
		t.Fatalf("AuthenticateAPIKey()=%v", kerr)
	}
	return err == nil, kerr == nil, sUser, kUser
}

func TestAccounts_PrincipalCacheHit(t *testing.T) {
	a, b, bStore, _ := replicas(t)
	ctx := t.Context()
	u := ada()
	if err := signUp(a, u, "correct horse"); err != nil {
		t.Fatal(err)
	}
	_, _, token, err := a.Login(ctx, "ada", "correct horse", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := a.CreateAPIKey(ctx, u.ID, "k")
	if err != nil {
		t.Fatal(err)
	}
	c := &credentials{token: token, secret: secret}

	// Without a poll (WatchAuth not running) every request asks the store.
	accepted(t, b, c)
	n := bStore.calls.Load()
	accepted(t, b, c)
	if got := bStore.calls.Load(); got == n {
		t.Fatalf("store lookups without a poll: none, want some")
	}

	poll(t, b)
	accepted(t, b, c) // loads and caches
	n = bStore.calls.Load()
	for range 10 {
		s, k, su, ku := accepted(t, b, c)
		if !s || !k || su.ID != u.ID || ku.ID != u.ID {
			t.Fatalf("cached: session %v key %v users %v %v", s, k, su, ku)
		}
		su.Admin = true // a caller's change must not reach the cache
	}
	if got := bStore.calls.Load(); got != n {
		t.Fatalf("store lookups on cached credentials: %d, want 0", got-n)
	}
	if _, _, su, _ := accepted(t, b, c); su.Admin {
		t.Fatal("a caller's change to the user reached the cache")
	}
}

func TestAccounts_PrincipalCacheBounds(t *testing.T) {
	a, b, bStore, clk := replicas(t)
	ctx := t.Context()
	u := ada()
	signUp(a, u, "correct horse")
	_, secret, _ := a.CreateAPIKey(ctx, u.ID, "k")
	c := &credentials{secret: secret, token: "none"}
	poll(t, b)
	accepted(t, b, c)

	// Past the TTL an entry is loaded again, even with fresh polls.
	clk.t = clk.t.Add(b.principalTTL())
	poll(t, b)
	n := bStore.calls.Load()
	accepted(t, b, c)
	if bStore.calls.Load() == n {
		t.Fatal("entry used past PrincipalTTL")
	}

	// With no successful poll for AuthStaleness, the store is asked.
	clk.t = clk.t.Add(b.AuthStaleness())
	n = bStore.calls.Load()
	accepted(t, b, c)
	if bStore.calls.Load() == n {
		t.Fatal("entry used with a stale poll")
	}

	// The cache holds at most MaxPrincipals.
	b.MaxPrincipals = 3
	poll(t, b)
	for i := range 10 {
		_, s, err := a.CreateAPIKey(ctx, u.ID, "k"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.AuthenticateAPIKey(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(b.principals.entries); got > 3 {
		t.Fatalf("%d principals cached, want at most 3", got)
	}

	// PrincipalTTL < 0 turns the cache off.
	b.PrincipalTTL = -1
	poll(t, b)
	accepted(t, b, c)
	n = bStore.calls.Load()
	accepted(t, b, c)
	if bStore.calls.Load() == n {
		t.Fatal("cache used with PrincipalTTL < 0")
	}
}

// TestAccounts_PrincipalInvalidation ends a credential's authority in each
// way there is on replica a, and checks that a refuses it at once and
// that b, which cached it too, refuses it after its next poll and in any
// case once AuthStaleness has passed without one.
func TestAccounts_PrincipalInvalidation(t *testing.T) {
	tests := []struct {
		name string
		// change acts on a; it returns whether the session and the key
		// still work afterwards.
		change             func(t *testing.T, a *Accounts, c *credentials)
		wantSess, wantKey  bool
		wantAdmin          bool
		checkOtherSessions bool
	}{
		{name: "Logout", change: func(t *testing.T, a *Accounts, c *credentials) {
			if err := a.Logout(t.Context(), c.token); err != nil {
				t.Fatal(err)
			}
		}, wantKey: true, wantAdmin: true},
		{name: "DeleteAPIKey", change: func(t *testing.T, a *Accounts, c *credentials) {
			if err := a.Store.DeleteAPIKey(t.Context(), c.user.ID, c.key.ID); err != nil {
				t.Fatal(err)
			}
		}, wantSess: true, wantAdmin: true},
		{name: "ChangePassword", change: func(t *testing.T, a *Accounts, c *credentials) {
			// From the other session: this one ends.
			if err := a.ChangePassword(t.Context(), c.user.ID, "correct horse", "battery staple", c.other.TokenHash); err != nil {
				t.Fatal(err)
			}
		}, wantKey: true, wantAdmin: true},
		{name: "Disable", change: func(t *testing.T, a *Accounts, c *credentials) {
			// As the admin portal does (Accounts.SetUserDisabled).
			c.user.Disabled = true
			if err := a.Store.UpdateUser(t.Context(), c.user); err != nil {
				t.Fatal(err)
			}
			if err := a.Store.DeleteUserSessions(t.Context(), c.user.ID, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "Demote", change: func(t *testing.T, a *Accounts, c *credentials) {
			c.user.Admin = false
			if err := a.Store.UpdateUser(t.Context(), c.user); err != nil {
				t.Fatal(err)
			}
		}, wantSess: true, wantKey: true, wantAdmin: false},
	}
	for _, tt := range tests {
		for _, how := range []string{"Poll", "Stale"} {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				a, b, _, clk := replicas(t)
				ctx := t.Context()
				u := ada()
				u.Username = "root"
				u.Admin = true
				if err := a.CreateUser(ctx, u, "correct horse"); err != nil {
					t.Fatal(err)
				}
				c := &credentials{user: u}
				var err error
				if _, c.session, c.token, err = a.Login(ctx, "root", "correct horse", "192.0.2.1"); err != nil {
					t.Fatal(err)
				}
				if _, c.other, c.second, err = a.Login(ctx, "root", "correct horse", "192.0.2.2"); err != nil {
					t.Fatal(err)
				}
				if c.key, c.secret, err = a.CreateAPIKey(ctx, u.ID, "k"); err != nil {
					t.Fatal(err)
				}
				poll(t, a, b)
				for _, acc := range []*Accounts{a, b} {
					if s, k, su, _ := accepted(t, acc, c); !s || !k || !su.Admin {
						t.Fatalf("before: session %v key %v admin %v", s, k, su.Admin)
					}
				}

				tt.change(t, a, c)

				check := func(who string, acc *Accounts) {
					t.Helper()
					s, k, su, ku := accepted(t, acc, c)
					if s != tt.wantSess || k != tt.wantKey {
						t.Fatalf("%s: session works %v, key works %v; want %v, %v", who, s, k, tt.wantSess, tt.wantKey)
					}
					for _, u := range []*pixpool.User{su, ku} {
						if u != nil && u.Admin != tt.wantAdmin {
							t.Fatalf("%s: Admin=%v, want %v", who, u.Admin, tt.wantAdmin)
						}
					}
				}
				// The replica that made the change: at once, no poll.
				check("same replica", a)
				// The other replica, after its next poll, or once its
				// last poll is AuthStaleness old.
				if how == "Poll" {
					poll(t, b)
				} else {
					clk.t = clk.t.Add(b.AuthStaleness())
				}
				check("other replica", b)
			})
		}
	}
}

// TestAccounts_WatchAuth runs the poller for real: another replica's
// change reaches this one without any call but WatchAuth's.
func TestAccounts_WatchAuth(t *testing.T) {
	a, b, _, _ := replicas(t)
	a.Now, b.Now = nil, nil // real time
	b.AuthPoll = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { b.WatchAuth(ctx); close(done) }()
	u := ada()
	signUp(a, u, "correct horse")
	k, secret, _ := a.CreateAPIKey(ctx, u.ID, "k")
	deadline := time.Now().Add(10 * time.Second)
	for { // wait for the first poll, and the key to be cached
		if _, err := b.AuthenticateAPIKey(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if b.cached("k:"+hashToken(secret)) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("WatchAuth never made the cache usable")
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Store.DeleteAPIKey(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := b.AuthenticateAPIKey(ctx, secret); pixpool.ErrorCode(err) == pixpool.EUNAUTHORIZED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a key deleted on another replica still works")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

func (s *authCountingStore) UserByUsername(ctx context.Context, name string) (*pixpool.User, error) {
	s.calls.Add(1)
	return s.Store.UserByUsername(ctx, name)
}

// TestAccounts_UserByUsername checks the cached lookup of the compat
// account: no store work when cached, a change seen at once by the
// replica that made it and by the other after its poll.
func TestAccounts_UserByUsername(t *testing.T) {
	a, b, bStore, _ := replicas(t)
	ctx := t.Context()
	u := ada()
	signUp(a, u, "correct horse")
	poll(t, a, b)
	for _, acc := range []*Accounts{a, b} {
		if got, err := acc.UserByUsername(ctx, "ADA"); err != nil || got.ID != u.ID || got.Disabled {
			t.Fatalf("UserByUsername()=%v, %v", got, err)
		}
	}
	n := bStore.calls.Load()
	if _, err := b.UserByUsername(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if got := bStore.calls.Load(); got != n {
		t.Fatalf("store lookups for a cached account: %d, want 0", got-n)
	}
	u.Disabled = true
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.UserByUsername(ctx, "ada"); !got.Disabled {
		t.Fatal("same replica: Disabled=false after the change")
	}
	poll(t, b)
	if got, _ := b.UserByUsername(ctx, "ada"); !got.Disabled {
		t.Fatal("other replica: Disabled=false after its poll")
	}
	if _, err := b.UserByUsername(ctx, "nobody"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("UserByUsername(nobody)=%v, want ENOTFOUND", err)
	}
}

// BenchmarkAuthenticateAPIKey compares a key checked in the store with one
// found in the principal cache.
func BenchmarkAuthenticateAPIKey(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := &Accounts{Store: st, Logger: slog.New(slog.DiscardHandler), Password: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	u := ada()
	if err := a.CreateUser(context.Background(), u, "correct horse"); err != nil {
		b.Fatal(err)
	}
	_, secret, err := a.CreateAPIKey(context.Background(), u.ID, "k")
	if err != nil {
		b.Fatal(err)
	}
	for _, cached := range []bool{false, true} {
		name := "Store"
		if cached {
			name = "Cached"
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go a.WatchAuth(ctx)
			for !a.authTag().ok {
				time.Sleep(time.Millisecond)
			}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.AuthenticateAPIKey(context.Background(), secret); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
