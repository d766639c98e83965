package service

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixpool/pixpool"
)

// Authenticated principals (sessions and API keys) are kept in memory for
// a short time, so that a request with credentials already seen needs no
// database work. Whatever ends a credential's authority (a logout, a
// deleted key, a password change, a disabled or demoted account, a
// restore) changes the store's AuthGeneration in the same transaction:
//
//   - this process's own changes are known at once: the store counts them
//     (Store.AuthChanges), and an entry cached before one is not used
//     after it;
//   - other processes' changes are learnt by WatchAuth, which polls
//     AuthGeneration every AuthPoll (250 ms) and drops every entry when it
//     changes. Entries are used only while the last successful poll began
//     less than AuthStaleness() (4 polls, 1 s) ago, so a change committed
//     by another replica stops this one using what it cached before it
//     within AuthStaleness(); with the store unreachable or WatchAuth not
//     running, every request asks the store, as without the cache.
//
// An entry also lives at most PrincipalTTL (10 s), and a session's own
// expiry is checked on every use.

// DefaultPrincipalTTL, DefaultMaxPrincipals and DefaultAuthPoll are the
// zero values' defaults of Accounts' PrincipalTTL, MaxPrincipals and
// AuthPoll.
const (
	DefaultPrincipalTTL  = 10 * time.Second
	DefaultMaxPrincipals = 10000
	DefaultAuthPoll      = 250 * time.Millisecond
)

// principal is a cached authenticated credential.
type principal struct {
	user    pixpool.User
	session *pixpool.Session // nil for an API key
	keyID   int64            // 0 for a session
	touched atomic.Int64     // an API key's last recorded use, Unix ms
	tag     authTag          // the state it was loaded in
}

// authTag is what a principal was loaded under: the store's generation as
// last polled and its count of local changes, both read before the load,
// and when.
type authTag struct {
	gen    int64
	local  uint64
	loaded time.Time
	ok     bool // the poll was fresh: the load may be cached
}

// principals is the cache.
type principals struct {
	mu      sync.RWMutex // guards the fields below
	entries map[string]*principal
	gen     int64     // AuthGeneration at the last successful poll
	polled  time.Time // when that poll began; zero before the first
}

func (a *Accounts) principalTTL() time.Duration {
	return orDuration(a.PrincipalTTL, DefaultPrincipalTTL)
}

func (a *Accounts) authPoll() time.Duration { return orDuration(a.AuthPoll, DefaultAuthPoll) }

// AuthStaleness bounds how long after another process's change (a logout,
// a deleted key, a disabled account...) this one may still accept a
// credential it cached before: four polls of AuthPoll, 1 s by default.
// Changes made through this process's Store take effect at once.
func (a *Accounts) AuthStaleness() time.Duration { return 4 * a.authPoll() }

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// WatchAuth polls the store's AuthGeneration until ctx ends, which lets
// Authenticate and AuthenticateAPIKey answer from memory (see above). It
// returns when ctx is done.
func (a *Accounts) WatchAuth(ctx context.Context) {
	if a.PrincipalTTL < 0 {
		return
	}
	t := time.NewTicker(a.authPoll())
	defer t.Stop()
	for {
		if err := a.pollAuth(ctx); err != nil && ctx.Err() == nil {
			a.logger().Debug("poll auth generation", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollAuth reads the store's generation once, dropping every cached
// principal if it changed.
func (a *Accounts) pollAuth(ctx context.Context) error {
	began := a.now()
	ctx, cancel := context.WithTimeout(ctx, a.AuthStaleness())
	defer cancel()
	g, err := a.Store.AuthGeneration(ctx)
	if err != nil {
		return err
	}
	p := &a.principals
	p.mu.Lock()
	defer p.mu.Unlock()
	if g != p.gen || p.polled.IsZero() {
		clear(p.entries)
		p.gen = g
	}
	if began.After(p.polled) {
		p.polled = began
	}
	return nil
}

// authTag returns the state a load beginning now is made in.
func (a *Accounts) authTag() authTag {
	now := a.now()
	p := &a.principals
	p.mu.RLock()
	defer p.mu.RUnlock()
	return authTag{
		gen:    p.gen,
		local:  a.Store.AuthChanges(),
		loaded: now,
		ok:     a.PrincipalTTL >= 0 && !p.polled.IsZero() && now.Sub(p.polled) < a.AuthStaleness(),
	}
}

// cached returns the principal under key if it may be used now.
func (a *Accounts) cached(key string) *principal {
	if a.PrincipalTTL < 0 {
		return nil
	}
	now := a.now()
	p := &a.principals
	p.mu.RLock()
	e := p.entries[key]
	fresh := !p.polled.IsZero() && now.Sub(p.polled) < a.AuthStaleness()
	gen := p.gen
	p.mu.RUnlock()
	if e == nil || !fresh || e.tag.gen != gen || e.tag.local != a.Store.AuthChanges() ||
		now.Sub(e.tag.loaded) >= a.principalTTL() || now.Before(e.tag.loaded) {
		return nil
	}
	return e
}

// remember caches e under key if its tag allows.
func (a *Accounts) remember(key string, e *principal) {
	if !e.tag.ok {
		return
	}
	p := &a.principals
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.tag.gen != p.gen {
		return // a poll saw a change since the load began
	}
	if p.entries == nil {
		p.entries = make(map[string]*principal)
	}
	if max := orInt(a.MaxPrincipals, DefaultMaxPrincipals); len(p.entries) >= max {
		local := a.Store.AuthChanges()
		for k, old := range p.entries {
			if old.tag.local != local || old.tag.gen != p.gen {
				delete(p.entries, k)
			}
		}
		for k := range p.entries { // still full: drop any, a few at a time
			if len(p.entries) < max {
				break
			}
			delete(p.entries, k)
		}
	}
	p.entries[key] = e
}

func orInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// touchLater records an API key's use, at most once a minute per key, in
// the background: the request does not wait for the write.
func (a *Accounts) touchLater(e *principal, now time.Time) {
	last := e.touched.Load()
	if now.UnixMilli()-last < time.Minute.Milliseconds() || !e.touched.CompareAndSwap(last, now.UnixMilli()) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Store.TouchAPIKey(ctx, e.keyID, now); err != nil {
			a.logger().Warn("touch api key", "key_id", e.keyID, "err", err)
		}
	}()
}

// copyUser returns a copy of the cached user for a caller that may change it.
func (e *principal) copyUser() *pixpool.User {
	u := e.user
	return &u
}

// UserByUsername returns the account named username (without regard to
// case), from memory like an authenticated principal when it may be: the
// compatibility API's credential-less calls act as one named account on
// every request. Changes to the account reach it as they reach sessions.
func (a *Accounts) UserByUsername(ctx context.Context, username string) (*pixpool.User, error) {
	ck := "u:" + strings.ToLower(username)
	if e := a.cached(ck); e != nil {
		return e.copyUser(), nil
	}
	tag := a.authTag()
	u, err := a.Store.UserByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	a.remember(ck, &principal{user: *u, tag: tag})
	return u, nil
}
