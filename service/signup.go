package service

import (
	"context"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

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
