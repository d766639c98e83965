package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pixpool/pixpool"
)

// Throttle paces logins and sign-ups. Each limit is counted in the store,
// so every replica shares it, and reserved before any password is hashed,
// so a concurrent burst gets no further than a sequence would. A client
// is an IPv4 address or an IPv6 /64 (ClientKey). A zero limit takes the
// default named.
type Throttle struct {
	// Pair paces logins to one account from one client: 5 at once, then
	// waits from 2 s doubling to 15 minutes, forgotten after an hour idle.
	Pair pixpool.AttemptLimit
	// Account paces logins to one account from everywhere, against
	// guessing from many addresses: 10 at once, then waits from 1 s
	// doubling to 1 minute, forgotten after an hour idle. It is shared:
	// while someone keeps taking each try the moment it frees, the owner
	// gets none from a device without a device cookie (see Device).
	Account pixpool.AttemptLimit
	// Client paces logins from one client to any account: 20 at once,
	// then waits from 1 s doubling to 5 minutes, forgotten after 15
	// minutes idle. A good login gives its attempt back.
	Client pixpool.AttemptLimit
	// Signup paces sign-ups (and setup tries) from one client: 5 at once,
	// then waits from 1 minute doubling to an hour, forgotten after a day
	// idle.
	Signup pixpool.AttemptLimit
	// Device paces logins that present a valid device cookie for the
	// account they try, instead of Pair, Account and Client: 5 at once,
	// then waits from 2 s doubling to 15 minutes, forgotten after an hour
	// idle.
	Device pixpool.AttemptLimit
}

var (
	defaultPair    = pixpool.AttemptLimit{Free: 5, Delay: 2 * time.Second, MaxDelay: 15 * time.Minute, Forget: time.Hour}
	defaultAccount = pixpool.AttemptLimit{Free: 10, Delay: time.Second, MaxDelay: time.Minute, Forget: time.Hour}
	defaultClient  = pixpool.AttemptLimit{Free: 20, Delay: time.Second, MaxDelay: 5 * time.Minute, Forget: 15 * time.Minute}
	defaultSignup  = pixpool.AttemptLimit{Free: 5, Delay: time.Minute, MaxDelay: time.Hour, Forget: 24 * time.Hour}
	defaultDevice  = pixpool.AttemptLimit{Free: 5, Delay: 2 * time.Second, MaxDelay: 15 * time.Minute, Forget: time.Hour}
)

func orLimit(l, def pixpool.AttemptLimit) pixpool.AttemptLimit {
	if l == (pixpool.AttemptLimit{}) {
		return def
	}
	return l
}

// ClientKey is what pacing counts a client address under: an IPv4 address
// as is, an IPv6 address by its /64, since one subscriber commonly holds a
// whole /64 and could otherwise take a fresh budget per address.
// Something that is no address is counted as given, cut to 64 bytes.
func ClientKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		if len(addr) > 64 {
			addr = addr[:64]
		}
		return addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// take reserves an attempt under each key, in order, or gives back those
// taken and returns ETOOMANY with the longest wait if one must wait.
func (a *Accounts) take(ctx context.Context, now time.Time, what string, keys []string, lims []pixpool.AttemptLimit) error {
	for i, key := range keys {
		wait, err := a.Store.TakeAttempt(ctx, key, now, lims[i])
		if err == nil && wait == 0 {
			continue
		}
		for _, k := range keys[:i] {
			if rerr := a.Store.ReturnAttempt(ctx, k); rerr != nil {
				a.logger().Warn("return attempt", "key", k, "err", rerr)
			}
		}
		if err != nil {
			return err
		}
		a.logThrottled(what, key, wait)
		return pixpool.Errorf(pixpool.ETOOMANY, "Too many attempts. Try again in %s.", waitText(wait))
	}
	return nil
}

// throttleLogWindow is how often one key's throttling is logged at Warn;
// the refusals in between are logged at Debug, so refused attempts, which
// cost a caller nothing to make, cannot flood the log.
const throttleLogWindow = time.Minute

// maxLogged bounds the keys remembered for throttleLogWindow.
const maxLogged = 4096

// logThrottled logs a refused attempt at Warn once per key per
// throttleLogWindow, at Debug otherwise.
func (a *Accounts) logThrottled(what, key string, wait time.Duration) {
	now := a.now()
	a.logMu.Lock()
	if a.logged == nil {
		a.logged = make(map[string]time.Time)
	}
	last, seen := a.logged[key]
	warn := !seen || now.Sub(last) >= throttleLogWindow
	if warn && !seen && len(a.logged) >= maxLogged {
		for k, t := range a.logged {
			if now.Sub(t) >= throttleLogWindow {
				delete(a.logged, k)
			}
		}
		warn = len(a.logged) < maxLogged // many keys at once: the rest at Debug
	}
	if warn {
		a.logged[key] = now
	}
	a.logMu.Unlock()
	level := slog.LevelDebug
	if warn {
		level = slog.LevelWarn
	}
	a.logger().Log(context.Background(), level, what+" throttled", "key", key, "wait", wait)
}

// waitText says a wait for people, rounded up.
func waitText(d time.Duration) string {
	if d <= time.Minute {
		s := int((d + time.Second - 1) / time.Second)
		if s == 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", s)
	}
	m := int((d + time.Minute - 1) / time.Minute)
	return fmt.Sprintf("%d minutes", m)
}
