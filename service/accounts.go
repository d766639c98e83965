// Package service holds pixpool's use cases (sign up, log in, upload, read
// through the cache) on top of the store, blob and cache interfaces. The
// web UI, both APIs and the command line all go through it.
package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
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
	// Throttle bounds failed logins. Zero fields take the defaults below.
	Throttle Throttle
}

// Throttle limits failed logins per account and per client address within
// a sliding window; past a limit, logins answer ETOOMANY until the window
// has moved on. The counts live in the store, so every replica sees them.
type Throttle struct {
	Window     time.Duration // if zero, 15 minutes
	PerAccount int           // if zero, 5
	PerIP      int           // if zero, 20
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

func (t Throttle) window() time.Duration { return cmp(t.Window, 15*time.Minute) }
func (t Throttle) perAccount() int       { return cmp(t.PerAccount, 5) }
func (t Throttle) perIP() int            { return cmp(t.PerIP, 20) }

func cmp[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// SignUp creates an ordinary account after validating every field.
func (a *Accounts) SignUp(ctx context.Context, u *pixpool.User, pw string) error {
	if reservedUsernames[strings.ToLower(u.Username)] {
		return pixpool.Errorf(pixpool.ECONFLICT, "Username %q is taken.", u.Username)
	}
	u.Admin, u.Disabled = false, false
	return a.CreateUser(ctx, u, pw)
}

// CreateUser creates an account as given, admin or not (command line and
// bootstrap); it validates like SignUp but allows reserved names.
func (a *Accounts) CreateUser(ctx context.Context, u *pixpool.User, pw string) error {
	if err := u.Validate(a.now()); err != nil {
		return err
	}
	if err := pixpool.ValidatePassword(pw, u.Username); err != nil {
		return err
	}
	hash, err := password.Hash(pw, a.Password)
	if err != nil {
		return err
	}
	if err := a.Store.CreateUser(ctx, u, hash); err != nil {
		return err
	}
	a.logger().Info("user created", "user", u.Username, "id", u.ID, "admin", u.Admin)
	return nil
}

// dummyHash is checked against when a username does not exist, so that a
// login takes as long whether the account exists or not.
var dummyHash, _ = password.Hash("pixpool-dummy-password", password.Default)

// Login checks a username and password and starts a session. It returns
// the user, the session and the secret token for the cookie. Wrong
// credentials are EUNAUTHORIZED with one message whatever was wrong, so the
// answer does not tell whether the account exists.
func (a *Accounts) Login(ctx context.Context, username, pw, clientIP string) (*pixpool.User, *pixpool.Session, string, error) {
	now := a.now()
	userKey := "user:" + strings.ToLower(username)
	ipKey := "ip:" + clientIP
	since := now.Add(-a.Throttle.window())
	for _, lim := range []struct {
		key string
		max int
	}{{userKey, a.Throttle.perAccount()}, {ipKey, a.Throttle.perIP()}} {
		n, err := a.Store.LoginFailures(ctx, lim.key, since)
		if err != nil {
			return nil, nil, "", err
		}
		if n >= lim.max {
			a.logger().Warn("login throttled", "key", lim.key, "failures", n)
			return nil, nil, "", pixpool.Errorf(pixpool.ETOOMANY,
				"Too many failed logins. Try again in %d minutes.", int(a.Throttle.window().Minutes()))
		}
	}

	bad := pixpool.Errorf(pixpool.EUNAUTHORIZED, "Wrong username or password.")
	u, err := a.Store.UserByUsername(ctx, username)
	hash := dummyHash
	if err == nil {
		hash, err = a.Store.PasswordHash(ctx, u.ID)
	}
	if err != nil && pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		return nil, nil, "", err
	}
	if perr := password.Check(pw, hash); err != nil || perr != nil {
		if perr != nil && !errors.Is(perr, password.ErrMismatch) {
			a.logger().Error("stored password hash unusable", "user", username, "err", perr)
		}
		if rerr := a.Store.RecordLoginFailure(ctx, []string{userKey, ipKey}, now); rerr != nil {
			return nil, nil, "", rerr
		}
		a.logger().Info("login failed", "user", username, "ip", clientIP)
		return nil, nil, "", bad
	}
	if u.Disabled {
		return nil, nil, "", pixpool.Errorf(pixpool.EFORBIDDEN, "This account is disabled.")
	}
	if err := a.Store.ClearLoginFailures(ctx, userKey, since); err != nil {
		return nil, nil, "", err
	}
	s, token, err := a.newSession(ctx, u.ID)
	if err != nil {
		return nil, nil, "", err
	}
	a.logger().Info("login", "user", u.Username, "ip", clientIP)
	return u, s, token, nil
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
	s, err := a.Store.Session(ctx, hashToken(token))
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
func (a *Accounts) AuthenticateAPIKey(ctx context.Context, secret string) (*pixpool.User, error) {
	bad := pixpool.Errorf(pixpool.EUNAUTHORIZED, "Invalid API key.")
	if !strings.HasPrefix(secret, APIKeyPrefix) || len(secret) > 128 {
		return nil, bad
	}
	k, err := a.Store.APIKeyByHash(ctx, hashToken(secret))
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, bad
	} else if err != nil {
		return nil, err
	}
	u, err := a.activeUser(ctx, k.UserID)
	if err != nil {
		return nil, err
	}
	// Record use at most once a minute per key, to spare the database.
	if now := a.now(); now.Sub(k.LastUsedAt) > time.Minute {
		if err := a.Store.TouchAPIKey(ctx, k.ID, now); err != nil {
			a.logger().Warn("touch api key", "key_id", k.ID, "err", err)
		}
	}
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
	if err := password.Check(current, hash); err != nil {
		return pixpool.Errorf(pixpool.EINVALID, "Current password is wrong.")
	}
	return a.setPassword(ctx, u, next, keep)
}

func (a *Accounts) setPassword(ctx context.Context, u *pixpool.User, pw, keep string) error {
	if err := pixpool.ValidatePassword(pw, u.Username); err != nil {
		return err
	}
	hash, err := password.Hash(pw, a.Password)
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

// setupSetting holds the SHA-256 of the one-time admin setup token.
const setupSetting = "setup_token_sha256"

// Bootstrap makes sure an admin can exist. If one does, it does nothing.
// Otherwise, with a non-empty adminPassword it creates the "admin"
// account; without one it returns a one-time setup token for SetupAdmin
// (replacing any earlier token).
func (a *Accounts) Bootstrap(ctx context.Context, adminPassword string) (setupToken string, err error) {
	n, err := a.Store.CountAdmins(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	if adminPassword != "" {
		_, err := a.createAdmin(ctx, adminPassword)
		return "", err
	}
	token := randomToken(24)
	if err := a.Store.SetSetting(ctx, setupSetting, hashToken(token)); err != nil {
		return "", err
	}
	return token, nil
}

// SetupPending reports whether a setup token is waiting to be used.
func (a *Accounts) SetupPending(ctx context.Context) bool {
	_, err := a.Store.Setting(ctx, setupSetting)
	return err == nil
}

// SetupAdmin uses a one-time setup token to create the admin account with
// the given password, and logs it in.
func (a *Accounts) SetupAdmin(ctx context.Context, token, pw string) (*pixpool.User, *pixpool.Session, string, error) {
	want, err := a.Store.Setting(ctx, setupSetting)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, nil, "", pixpool.Errorf(pixpool.ENOTFOUND, "This setup link has been used or has expired.")
	} else if err != nil {
		return nil, nil, "", err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(want)) != 1 {
		return nil, nil, "", pixpool.Errorf(pixpool.ENOTFOUND, "This setup link has been used or has expired.")
	}
	u, err := a.createAdmin(ctx, pw)
	if err != nil {
		return nil, nil, "", err
	}
	if err := a.Store.DeleteSetting(ctx, setupSetting); err != nil {
		return nil, nil, "", err
	}
	s, tok, err := a.newSession(ctx, u.ID)
	return u, s, tok, err
}

// createAdmin creates the "admin" account with placeholder profile fields
// the admin can edit later, or promotes an existing "admin" account made
// with the command line.
func (a *Accounts) createAdmin(ctx context.Context, pw string) (*pixpool.User, error) {
	if u, err := a.Store.UserByUsername(ctx, AdminUsername); err == nil {
		u.Admin = true
		if err := a.Store.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
		return u, a.setPassword(ctx, u, pw, "")
	}
	u := &pixpool.User{
		Username:  AdminUsername,
		FirstName: "Pixpool",
		LastName:  "Administrator",
		Email:     "admin@pixpool.invalid",
		Birthday:  time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		Phone:     "+0000000000",
		Admin:     true,
	}
	return u, a.CreateUser(ctx, u, pw)
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
