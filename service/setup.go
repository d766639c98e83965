package service

import (
	"cmp"
	"context"
	"time"

	"github.com/pixpool/pixpool"
)

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
	err := a.CreateUser(ctx, adminTemplate(), pw)
	if pixpool.ErrorCode(err) == pixpool.ECONFLICT {
		// Another replica starting at the same time created it first:
		// there is an admin, which is what was asked.
		if n, cerr := a.Store.CountAdmins(ctx); cerr == nil && n > 0 {
			return nil
		}
	}
	return err
}
