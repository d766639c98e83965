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
	"log/slog"
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
