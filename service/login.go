package service

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/password"
)

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
