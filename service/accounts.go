// Package service holds pixpool's use cases (sign up, log in, upload, read
// through the cache) on top of the store, blob and cache interfaces. The
// web UI, both APIs and the command line all go through it.
package service

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/password"
)

// Accounts signs users up and in, and manages sessions and API keys.
// Fields are set before first use; zero values are documented defaults.
type Accounts struct {
	Store pixpool.Store
	// Logger for security events. If nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// SessionTTL is how long a login lasts. If zero, 30 days.
	SessionTTL time.Duration
	// Password is the argon2id cost. If zero, password.Default.
	Password password.Params
	// Hashing bounds the password hashes running at once, for logins,
	// sign-ups, setup and password changes alike. If nil, a limiter of
	// GOMAXPROCS slots of its own.
	Hashing *password.Limiter
	// HashWait bounds how long a request waits for a hashing slot before
	// it is refused with EUNAVAILABLE. If zero, 10 seconds.
	HashWait time.Duration
	// Throttle paces logins and sign-ups. Zero fields take the defaults.
	Throttle Throttle
	// SetupTTL is how long a setup link works. If zero, an hour.
	SetupTTL time.Duration
	// PrincipalTTL bounds how long an authenticated session or API key
	// is trusted from memory, while WatchAuth runs (principals.go). If
	// zero, DefaultPrincipalTTL; if negative, every request asks the
	// store.
	PrincipalTTL time.Duration
	// MaxPrincipals bounds the sessions and API keys kept. If zero,
	// DefaultMaxPrincipals.
	MaxPrincipals int
	// AuthPoll is how often WatchAuth polls the store for other
	// processes' changes; AuthStaleness is four times it. If zero,
	// DefaultAuthPoll.
	AuthPoll time.Duration

	// DeviceTTL is how long a device cookie (LoginDevice) works. If zero,
	// DeviceTTL.
	DeviceTTL time.Duration

	hashingOnce sync.Once
	hashing     *password.Limiter
	principals  principals

	logMu  sync.Mutex           // guards logged
	logged map[string]time.Time // when each key's throttling was last logged
}

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

// reservedUsernames cannot be taken by sign-up: they would pose as staff.
var reservedUsernames = map[string]bool{"admin": true, "administrator": true, "root": true, "pixpool": true}

// AdminUsername is the account that bootstrap creates.
const AdminUsername = "admin"

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Accounts) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Accounts) sessionTTL() time.Duration {
	if a.SessionTTL > 0 {
		return a.SessionTTL
	}
	return 30 * 24 * time.Hour
}

func (a *Accounts) limiter() *password.Limiter {
	if a.Hashing != nil {
		return a.Hashing
	}
	a.hashingOnce.Do(func() { a.hashing = new(password.Limiter) })
	return a.hashing
}

// hashCtx bounds the wait for a hashing slot by HashWait.
func (a *Accounts) hashCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, cmp.Or(a.HashWait, 10*time.Second))
}

// busy rewords a hashing slot that never came.
func busy(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return pixpool.Errorf(pixpool.EUNAVAILABLE, "The server is busy; try again in a moment.")
	}
	return err
}

// hash hashes pw within the hashing bound.
func (a *Accounts) hash(ctx context.Context, pw string) (string, error) {
	ctx, cancel := a.hashCtx(ctx)
	defer cancel()
	h, err := a.limiter().Hash(ctx, pw, a.Password)
	return h, busy(err)
}

// check checks pw against hash within the hashing bound.
func (a *Accounts) check(ctx context.Context, pw, hash string) error {
	ctx, cancel := a.hashCtx(ctx)
	defer cancel()
	return busy(a.limiter().Check(ctx, pw, hash))
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

// SignupSetting names the stored sign-up mode (pixpool.SignupOpen, ...).
const SignupSetting = "signup.mode"

// SignupMode returns the sign-up mode: the stored setting, or open if
// none was ever set.
func (a *Accounts) SignupMode(ctx context.Context) (string, error) {
	m, err := a.Store.Setting(ctx, SignupSetting)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return pixpool.SignupOpen, nil
	} else if err != nil {
		return "", err
	}
	if !pixpool.ValidSignupMode(m) {
		return pixpool.SignupClosed, nil // a damaged setting opens nothing
	}
	return m, nil
}

// ValidateSignupMode returns EINVALID unless mode is a sign-up mode, so a
// caller can check one before it has a store to set it in.
func ValidateSignupMode(mode string) error {
	if !pixpool.ValidSignupMode(mode) {
		return pixpool.Errorf(pixpool.EINVALID, "Sign-up must be open, invite or closed.")
	}
	return nil
}

// SetSignupMode stores the sign-up mode; by names who changed it. A mode
// that is none is EINVALID; the store's errors (ESTORAGEFULL on a full
// disk) come back as they are.
func (a *Accounts) SetSignupMode(ctx context.Context, mode, by string) error {
	if err := ValidateSignupMode(mode); err != nil {
		return err
	}
	if err := a.Store.SetSetting(ctx, SignupSetting, mode); err != nil {
		return err
	}
	a.logger().Info("sign-up mode set", "mode", mode, "by", by)
	return nil
}

// Signup is what a visitor sends to sign up.
type Signup struct {
	User     *pixpool.User
	Password string
	// Invite is the invite code, needed while sign-up is invite-only.
	Invite string
	// ClientIP paces sign-ups per client (see ClientKey).
	ClientIP string
}

// InviteTTL is how long an invite works if its creator does not say; no
// invite works longer than MaxInviteTTL.
const (
	InviteTTL    = 7 * 24 * time.Hour
	MaxInviteTTL = 90 * 24 * time.Hour
)

// SignUp creates an ordinary account as the sign-up mode allows and starts
// its session, returning the session and its cookie token. Closed sign-up
// is EFORBIDDEN; invite-only sign-up without a good code is EINVALID.
// Sign-ups are paced per client (ETOOMANY) before the one password hash;
// the password is not checked again to log in.
func (a *Accounts) SignUp(ctx context.Context, req Signup) (*pixpool.Session, string, error) {
	u := req.User
	mode, err := a.SignupMode(ctx)
	if err != nil {
		return nil, "", err
	}
	switch {
	case mode == pixpool.SignupClosed:
		return nil, "", pixpool.Errorf(pixpool.EFORBIDDEN, "Sign-up is closed on this server. Ask an administrator for an account.")
	case mode == pixpool.SignupInvite && strings.TrimSpace(req.Invite) == "":
		return nil, "", pixpool.Errorf(pixpool.EINVALID, "Sign-up is by invitation: enter your invite code.")
	case reservedUsernames[strings.ToLower(u.Username)]:
		return nil, "", pixpool.Errorf(pixpool.ECONFLICT, "Username %q is taken.", u.Username)
	}
	u.Admin, u.Disabled = false, false
	if err := a.validate(u, req.Password); err != nil {
		return nil, "", err
	}
	now := a.now()
	if err := a.take(ctx, now, "sign-up", []string{"signup:" + ClientKey(req.ClientIP)}, []pixpool.AttemptLimit{orLimit(a.Throttle.Signup, defaultSignup)}); err != nil {
		return nil, "", err
	}
	hash, err := a.hash(ctx, req.Password)
	if err != nil {
		return nil, "", err
	}
	if mode == pixpool.SignupInvite {
		err = a.Store.CreateUserWithInvite(ctx, u, hash, hashToken(strings.TrimSpace(req.Invite)), now)
	} else {
		err = a.Store.CreateUser(ctx, u, hash)
	}
	if err != nil {
		return nil, "", err
	}
	a.logger().Info("user signed up", "user", u.Username, "id", u.ID, "mode", mode, "ip", req.ClientIP)
	return a.newSession(ctx, u.ID)
}

// InvitePrefix starts every invite code.
const InvitePrefix = "inv_"

// CreateInvite makes a single-use invite code valid for ttl (InviteTTL if
// zero, at most MaxInviteTTL) on behalf of admin, and returns it with its
// code, which is never shown again.
func (a *Accounts) CreateInvite(ctx context.Context, admin *pixpool.User, ttl time.Duration) (*pixpool.Invite, string, error) {
	if ttl == 0 {
		ttl = InviteTTL
	}
	if ttl < time.Minute || ttl > MaxInviteTTL {
		return nil, "", pixpool.Errorf(pixpool.EINVALID, "An invite must last between a minute and %d days.", int(MaxInviteTTL.Hours()/24))
	}
	code := InvitePrefix + randomToken(18)
	now := a.now()
	inv := &pixpool.Invite{Hash: hashToken(code), Prefix: code[:len(InvitePrefix)+6], CreatedBy: admin.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := a.Store.CreateInvite(ctx, inv); err != nil {
		return nil, "", err
	}
	a.logger().Info("invite created", "by", admin.Username, "invite_id", inv.ID, "prefix", inv.Prefix, "expires", inv.ExpiresAt)
	return inv, code, nil
}

// CreateUser creates an account as given, admin or not (command line and
// bootstrap); it validates like SignUp but allows reserved names and is
// neither paced nor bound by the sign-up mode.
func (a *Accounts) CreateUser(ctx context.Context, u *pixpool.User, pw string) error {
	if err := a.validate(u, pw); err != nil {
		return err
	}
	hash, err := a.hash(ctx, pw)
	if err != nil {
		return err
	}
	if err := a.Store.CreateUser(ctx, u, hash); err != nil {
		return err
	}
	a.logger().Info("user created", "user", u.Username, "id", u.ID, "admin", u.Admin)
	return nil
}

func (a *Accounts) validate(u *pixpool.User, pw string) error {
	if err := u.Validate(a.now()); err != nil {
		return err
	}
	return pixpool.ValidatePassword(pw, u.Username)
}

// dummyHash is checked against when a username does not exist, so that a
// login takes as long whether the account exists or not.
var dummyHash, _ = password.Hash("pixpool-dummy-password", password.Default)

// Login checks a username and password and starts a session, like
// LoginDevice without a device cookie.
func (a *Accounts) Login(ctx context.Context, username, pw, clientIP string) (*pixpool.User, *pixpool.Session, string, error) {
	r, err := a.LoginDevice(ctx, LoginRequest{Username: username, Password: pw, ClientIP: clientIP})
	if err != nil {
		return nil, nil, "", err
	}
	return r.User, r.Session, r.Token, nil
}

// LoginRequest is a try to log in.
type LoginRequest struct {
	Username, Password string
	// ClientIP paces logins per client (see ClientKey).
	ClientIP string
	// Device is the device cookie the browser sent, if any.
	Device string
}

// LoginResult is a good login.
type LoginResult struct {
	User    *pixpool.User
	Session *pixpool.Session
	// Token is the session cookie's secret.
	Token string
	// Device is a new device cookie for this account, good until
	// DeviceExpires; "" if none could be made (the login stands).
	Device        string
	DeviceExpires time.Time
}

// LoginDevice checks a username and password and starts a session.
// Wrong credentials are EUNAUTHORIZED with one message whatever was
// wrong, so the answer does not tell whether the account exists.
//
// Before any hashing it reserves an attempt, or answers ETOOMANY with
// the wait. With a valid device cookie for the account (a browser that
// logged in to it before) the attempt counts against that device's own
// budget (Throttle.Device) and nothing else, so others' guessing never
// delays it. Without one it counts for the client (Throttle.Client), then
// for the account from this client (Pair) and for the account (Account);
// a try refused by the last two still spends the client's attempt, so
// polling for a freed account slot costs the poller. A good login forgets
// the device's or the pair's attempts, gives back the client's and the
// account's, and returns a new device cookie.
func (a *Accounts) LoginDevice(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	now := a.now()
	username, pw, clientIP := req.Username, req.Password, req.ClientIP
	name, client := strings.ToLower(username), ClientKey(clientIP)
	if len(name) > 64 {
		name = name[:64] // no username is longer; bounds the keys
	}
	pairKey, userKey, ipKey := "pair:"+client+"/"+name, "user:"+name, "ip:"+client
	t := a.Throttle
	dev, err := "", error(nil)
	if req.Device != "" {
		if dev, err = a.device(ctx, req.Device, name, now); err != nil {
			return nil, err
		}
	}
	devKey := "device:" + dev
	if dev != "" {
		err = a.take(ctx, now, "login", []string{devKey}, []pixpool.AttemptLimit{orLimit(t.Device, defaultDevice)})
	} else if err = a.take(ctx, now, "login", []string{ipKey}, []pixpool.AttemptLimit{orLimit(t.Client, defaultClient)}); err == nil {
		err = a.take(ctx, now, "login", []string{pairKey, userKey}, []pixpool.AttemptLimit{orLimit(t.Pair, defaultPair), orLimit(t.Account, defaultAccount)})
	}
	if err != nil {
		return nil, err
	}

	bad := pixpool.Errorf(pixpool.EUNAUTHORIZED, "Wrong username or password.")
	u, err := a.Store.UserByUsername(ctx, username)
	hash := dummyHash
	if err == nil {
		hash, err = a.Store.PasswordHash(ctx, u.ID)
	}
	if err != nil && pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		return nil, err
	}
	perr := a.check(ctx, pw, hash)
	if pixpool.ErrorCode(perr) == pixpool.EUNAVAILABLE {
		return nil, perr
	}
	if err != nil || perr != nil {
		if perr != nil && !errors.Is(perr, password.ErrMismatch) {
			a.logger().Error("stored password hash unusable", "user", username, "err", perr)
		}
		a.logger().Info("login failed", "user", username, "ip", clientIP, "device", dev != "")
		return nil, bad
	}
	if u.Disabled {
		return nil, pixpool.Errorf(pixpool.EFORBIDDEN, "This account is disabled.")
	}
	if dev != "" {
		if err := a.Store.ClearAttempts(ctx, devKey, now.Add(-24*time.Hour)); err != nil {
			return nil, err
		}
	} else {
		if err := a.Store.ClearAttempts(ctx, pairKey, now.Add(-24*time.Hour)); err != nil {
			return nil, err
		}
		for _, k := range []string{ipKey, userKey} {
			if err := a.Store.ReturnAttempt(ctx, k); err != nil {
				return nil, err
			}
		}
	}
	s, token, err := a.newSession(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	r := &LoginResult{User: u, Session: s, Token: token, DeviceExpires: now.Add(cmp.Or(a.DeviceTTL, DeviceTTL))}
	if r.Device, err = a.newDevice(ctx, u, r.DeviceExpires); err != nil {
		a.logger().Warn("no device cookie for a login", "user", u.Username, "err", err)
		r.Device = ""
	}
	a.logger().Info("login", "user", u.Username, "ip", clientIP, "device", dev != "")
	return r, nil
}

func (a *Accounts) newSession(ctx context.Context, userID int64) (*pixpool.Session, string, error) {
	token := randomToken(32)
	now := a.now()
	s := &pixpool.Session{
		TokenHash: hashToken(token),
		UserID:    userID,
		CSRFToken: randomToken(24),
		CreatedAt: now,
		ExpiresAt: now.Add(a.sessionTTL()),
	}
	if err := a.Store.CreateSession(ctx, s); err != nil {
		return nil, "", err
	}
	return s, token, nil
}

// Logout ends the session with the given cookie token.
func (a *Accounts) Logout(ctx context.Context, token string) error {
	return a.Store.DeleteSession(ctx, hashToken(token))
}

// Authenticate returns the user and session of a cookie token. Missing,
// expired and forged tokens, and disabled users, are EUNAUTHORIZED.
func (a *Accounts) Authenticate(ctx context.Context, token string) (*pixpool.User, *pixpool.Session, error) {
	expired := pixpool.Errorf(pixpool.EUNAUTHORIZED, "Your session has ended. Please log in again.")
	if token == "" || len(token) > 128 {
		return nil, nil, expired
	}
	hash := hashToken(token)
	if e := a.cached("s:" + hash); e != nil && a.now().Before(e.session.ExpiresAt) {
		sess := *e.session
		return e.copyUser(), &sess, nil
	}
	tag := a.authTag()
	s, err := a.Store.Session(ctx, hash)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, nil, expired
	} else if err != nil {
		return nil, nil, err
	}
	if !a.now().Before(s.ExpiresAt) {
		_ = a.Store.DeleteSession(ctx, s.TokenHash)
		return nil, nil, expired
	}
	u, err := a.activeUser(ctx, s.UserID)
	if err != nil {
		return nil, nil, err
	}
	sess := *s
	a.remember("s:"+hash, &principal{user: *u, session: &sess, tag: tag})
	return u, s, nil
}

func (a *Accounts) activeUser(ctx context.Context, id int64) (*pixpool.User, error) {
	u, err := a.Store.User(ctx, id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.EUNAUTHORIZED, "Unknown account.")
	} else if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, pixpool.Errorf(pixpool.EUNAUTHORIZED, "This account is disabled.")
	}
	return u, nil
}

// APIKeyPrefix starts every API key secret, so leaked keys are easy to
// recognise and scan for.
const APIKeyPrefix = "pp_"

// CreateAPIKey makes a new API key for a user and returns its secret,
// which is never shown again.
func (a *Accounts) CreateAPIKey(ctx context.Context, userID int64, name string) (*pixpool.APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "API key"
	}
	if len(name) > pixpool.MaxNameLen {
		return nil, "", pixpool.Errorf(pixpool.EINVALID, "Key name must be at most %d characters.", pixpool.MaxNameLen)
	}
	secret := APIKeyPrefix + randomToken(32)
	k := &pixpool.APIKey{UserID: userID, Name: name, Prefix: secret[:len(APIKeyPrefix)+6], Hash: hashToken(secret)}
	if err := a.Store.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	a.logger().Info("api key created", "user_id", userID, "key_id", k.ID, "prefix", k.Prefix)
	return k, secret, nil
}

// AuthenticateAPIKey returns the owner of an API key secret.
// errBadAPIKey is the answer to an unknown API key (made once: a known
// key, the common case, needs no error).
var errBadAPIKey = pixpool.Errorf(pixpool.EUNAUTHORIZED, "Invalid API key.")

func (a *Accounts) AuthenticateAPIKey(ctx context.Context, secret string) (*pixpool.User, error) {
	bad := errBadAPIKey
	if !strings.HasPrefix(secret, APIKeyPrefix) || len(secret) > 128 {
		return nil, bad
	}
	hash := hashToken(secret)
	if e := a.cached("k:" + hash); e != nil {
		a.touchLater(e, a.now())
		return e.copyUser(), nil
	}
	tag := a.authTag()
	k, err := a.Store.APIKeyByHash(ctx, hash)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, bad
	} else if err != nil {
		return nil, err
	}
	u, err := a.activeUser(ctx, k.UserID)
	if err != nil {
		return nil, err
	}
	// Record use at most once a minute per key, to spare the database;
	// while the key is cached, touchLater does it off the request.
	e := &principal{user: *u, keyID: k.ID, tag: tag}
	e.touched.Store(k.LastUsedAt.UnixMilli())
	if now := a.now(); now.Sub(k.LastUsedAt) > time.Minute {
		e.touched.Store(now.UnixMilli())
		if err := a.Store.TouchAPIKey(ctx, k.ID, now); err != nil {
			a.logger().Warn("touch api key", "key_id", k.ID, "err", err)
		}
	}
	a.remember("k:"+hash, e)
	return u, nil
}

// UpdateProfile saves the profile fields of u (not Admin or Disabled).
func (a *Accounts) UpdateProfile(ctx context.Context, u *pixpool.User) error {
	old, err := a.Store.User(ctx, u.ID)
	if err != nil {
		return err
	}
	if !strings.EqualFold(old.Username, u.Username) && reservedUsernames[strings.ToLower(u.Username)] {
		return pixpool.Errorf(pixpool.ECONFLICT, "Username %q is taken.", u.Username)
	}
	if err := u.Validate(a.now()); err != nil {
		return err
	}
	u.Admin, u.Disabled, u.CreatedAt = old.Admin, old.Disabled, old.CreatedAt
	return a.Store.UpdateUser(ctx, u)
}

// ChangePassword checks the current password, sets the new one and ends
// every other session of the user (keep is the current session's hash).
func (a *Accounts) ChangePassword(ctx context.Context, userID int64, current, next, keep string) error {
	u, err := a.Store.User(ctx, userID)
	if err != nil {
		return err
	}
	hash, err := a.Store.PasswordHash(ctx, userID)
	if err != nil {
		return err
	}
	if err := a.check(ctx, current, hash); pixpool.ErrorCode(err) == pixpool.EUNAVAILABLE {
		return err
	} else if err != nil {
		return pixpool.Errorf(pixpool.EINVALID, "Current password is wrong.")
	}
	return a.setPassword(ctx, u, next, keep)
}

func (a *Accounts) setPassword(ctx context.Context, u *pixpool.User, pw, keep string) error {
	if err := pixpool.ValidatePassword(pw, u.Username); err != nil {
		return err
	}
	hash, err := a.hash(ctx, pw)
	if err != nil {
		return err
	}
	if err := a.Store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return err
	}
	if err := a.Store.DeleteUserSessions(ctx, u.ID, keep); err != nil {
		return err
	}
	a.logger().Info("password changed", "user", u.Username)
	return nil
}

// Bootstrap makes sure an admin can exist. If one does, it does nothing.
// Otherwise, with a non-empty adminPassword it creates the "admin"
// account (or makes an existing "admin" account an admin with that
// password: the operator asked for it); without one it returns a new
// one-time setup token for SetupAdmin, valid for SetupTTL, replacing any
// earlier token. The store keeps only the token's SHA-256, and deletes it
// as soon as any admin exists, however made.
func (a *Accounts) Bootstrap(ctx context.Context, adminPassword string) (setupToken string, expires time.Time, err error) {
	n, err := a.Store.CountAdmins(ctx)
	if err != nil || n > 0 {
		return "", time.Time{}, err
	}
	if adminPassword != "" {
		return "", time.Time{}, a.bootstrapAdmin(ctx, adminPassword)
	}
	token := randomToken(24)
	expires = a.now().Add(cmp.Or(a.SetupTTL, time.Hour))
	stored, err := a.Store.SetSetupToken(ctx, hashToken(token), expires)
	if err != nil || !stored { // an admin appeared meanwhile
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// SetupPending reports whether a setup token waits to be used (unexpired,
// and no admin yet).
func (a *Accounts) SetupPending(ctx context.Context) (bool, error) {
	return a.Store.SetupPending(ctx, a.now())
}

// setupUsed answers a setup token that cannot be used.
var setupUsed = pixpool.Errorf(pixpool.ENOTFOUND, "This setup link has been used or has expired.")

// SetupAdmin uses a one-time setup token to create the "admin" account
// with the given password, and logs it in. The store checks the token,
// that no admin exists and that no account is named "admin", in the
// transaction that creates the account: setup never changes an existing
// account. A used, expired or wrong token, or one presented once an admin
// exists, is ENOTFOUND. Tries are paced per client like sign-ups.
func (a *Accounts) SetupAdmin(ctx context.Context, token, pw, clientIP string) (*pixpool.User, *pixpool.Session, string, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, "", setupUsed
	}
	if ok, err := a.SetupPending(ctx); err != nil {
		return nil, nil, "", err
	} else if !ok {
		return nil, nil, "", setupUsed // no hashing once an admin exists
	}
	u := adminTemplate()
	if err := a.validate(u, pw); err != nil {
		return nil, nil, "", err
	}
	now := a.now()
	if err := a.take(ctx, now, "setup", []string{"setup:" + ClientKey(clientIP)}, []pixpool.AttemptLimit{orLimit(a.Throttle.Signup, defaultSignup)}); err != nil {
		return nil, nil, "", err
	}
	hash, err := a.hash(ctx, pw)
	if err != nil {
		return nil, nil, "", err
	}
	switch err := a.Store.CreateFirstAdmin(ctx, u, hash, hashToken(token), now); pixpool.ErrorCode(err) {
	case "":
	case pixpool.ENOTFOUND:
		a.logger().Warn("setup refused: token used, expired or wrong, or an admin exists", "ip", clientIP)
		return nil, nil, "", setupUsed
	case pixpool.ECONFLICT:
		return nil, nil, "", pixpool.Errorf(pixpool.ECONFLICT,
			"An account named %q exists already, and setup never changes an existing account. On the server, run `pixpool user set-password %s` and make it an admin, or create another admin with `pixpool user create --admin NAME`.",
			AdminUsername, AdminUsername)
	default:
		return nil, nil, "", err
	}
	a.logger().Info("admin created with the setup link", "user", u.Username, "id", u.ID, "ip", clientIP)
	s, tok, err := a.newSession(ctx, u.ID)
	return u, s, tok, err
}

// adminTemplate is the "admin" account with placeholder profile fields
// the admin can edit later.
func adminTemplate() *pixpool.User {
	return &pixpool.User{
		Username:  AdminUsername,
		FirstName: "Pixpool",
		LastName:  "Administrator",
		Email:     "admin@pixpool.invalid",
		Birthday:  time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		Phone:     "+0000000000",
		Admin:     true,
	}
}

// bootstrapAdmin creates the "admin" account with pw, or promotes an
// existing "admin" account made with the command line and sets pw (the
// operator's PIXPOOL_ADMIN_PASSWORD).
func (a *Accounts) bootstrapAdmin(ctx context.Context, pw string) error {
	if u, err := a.Store.UserByUsername(ctx, AdminUsername); err == nil {
		u.Admin = true
		if err := a.Store.UpdateUser(ctx, u); err != nil {
			return err
		}
		return a.setPassword(ctx, u, pw, "")
	}
	return a.CreateUser(ctx, adminTemplate(), pw)
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HashToken returns the stored form of a session token.
func HashToken(token string) string { return hashToken(token) }

// ResetPassword sets a user's password without the old one (command
// line) and ends all their sessions.
func (a *Accounts) ResetPassword(ctx context.Context, username, pw string) error {
	u, err := a.Store.UserByUsername(ctx, username)
	if err != nil {
		return err
	}
	return a.setPassword(ctx, u, pw, "")
}

// SetUserAdmin grants (admin true) or removes user id's admin rights on
// behalf of actor, for the admin portal and /api/v1/admin. Admins cannot
// demote themselves, and the last admin stays one. A missing user is
// ENOTFOUND; a refusal EINVALID.
func (a *Accounts) SetUserAdmin(ctx context.Context, actor *pixpool.User, id int64, admin bool) (*pixpool.User, error) {
	u, err := a.target(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Admin == admin {
		return u, nil
	}
	if !admin {
		if u.ID == actor.ID {
			return nil, pixpool.Errorf(pixpool.EINVALID, "You cannot remove your own admin rights; another admin can.")
		}
		// Not atomic with the update; but as nobody can demote themselves,
		// the actor stays an admin but in a race of two admins demoting
		// each other at the same moment.
		n, err := a.Store.CountAdmins(ctx)
		if err != nil {
			return nil, err
		}
		if n <= 1 {
			return nil, pixpool.Errorf(pixpool.EINVALID, "%s is the last admin; make another user an admin first.", u.Username)
		}
	}
	u.Admin = admin
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	a.logger().Info("user admin rights changed", "user", u.Username, "admin", admin, "by", actor.Username)
	return u, nil
}

// SetUserDisabled disables or enables user id on behalf of actor, for the
// admin portal and /api/v1/admin. A disabled user's sessions are
// deleted, and their API keys stop working because authentication checks
// the flag. Admins cannot disable themselves. A missing user is ENOTFOUND.
func (a *Accounts) SetUserDisabled(ctx context.Context, actor *pixpool.User, id int64, disabled bool) (*pixpool.User, error) {
	if disabled && id == actor.ID {
		return nil, errDisableSelf
	}
	u, err := a.target(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Disabled != disabled {
		u.Disabled = disabled
		if err := a.Store.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
	}
	if disabled {
		if err := a.Store.DeleteUserSessions(ctx, u.ID, ""); err != nil {
			return nil, err
		}
	}
	a.logger().Info("user disabled state changed", "user", u.Username, "disabled", disabled, "by", actor.Username)
	return u, nil
}

// SetUserFlags sets user id's admin rights and disabled state, either nil
// to leave it, on behalf of actor (SetUserAdmin, then SetUserDisabled),
// and returns the user. Disabling oneself is refused before anything
// changes. A missing user is ENOTFOUND; a refusal EINVALID.
func (a *Accounts) SetUserFlags(ctx context.Context, actor *pixpool.User, id int64, admin, disabled *bool) (*pixpool.User, error) {
	if disabled != nil && *disabled && id == actor.ID {
		return nil, errDisableSelf
	}
	u, err := a.target(ctx, id)
	if err != nil {
		return nil, err
	}
	if admin != nil {
		if u, err = a.SetUserAdmin(ctx, actor, id, *admin); err != nil {
			return nil, err
		}
	}
	if disabled != nil {
		if u, err = a.SetUserDisabled(ctx, actor, id, *disabled); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// target reads user id, the target of an admin's change; a missing one
// is ENOTFOUND "No such user.".
func (a *Accounts) target(ctx context.Context, id int64) (*pixpool.User, error) {
	u, err := a.Store.User(ctx, id)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	}
	return u, err
}

var errDisableSelf = pixpool.Errorf(pixpool.EINVALID, "You cannot disable your own account.")
