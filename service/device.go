package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

// Device cookies (OWASP's "device cookies" against brute force): a good
// login gives the browser a cookie naming the account, an expiry and a
// random device id, signed with a server key kept in the store. A login
// that presents a valid one for the account it tries is paced by that
// device's own budget alone, so strangers guessing an account's password
// from elsewhere never delay its owner on a device they logged in from
// before.
//
// The signature also covers the account's password hash and the time the
// account last changed, so a new password, disabling the account (even
// if it is enabled again) or any other change to it drops every device
// cookie, on every replica, with nothing to delete.

// DeviceKeySetting names the stored secret that signs device cookies.
// It is made on first use; no backup holds it.
const DeviceKeySetting = "device.key"

// DeviceTTL is how long a device cookie works if Accounts.DeviceTTL is
// zero.
const DeviceTTL = 365 * 24 * time.Hour

// deviceKey returns the signing key, making and storing one if there is
// none and create is set. Two replicas making one at once both use the
// one stored first (AddSetting), so no cookie either signs stops
// counting.
func (a *Accounts) deviceKey(ctx context.Context, create bool) ([]byte, error) {
	v, err := a.Store.Setting(ctx, DeviceKeySetting)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND && create {
		v, err = a.Store.AddSetting(ctx, DeviceKeySetting, randomToken(32))
	}
	if err != nil {
		return nil, err
	}
	return []byte(v), nil
}

// deviceMAC signs a cookie's fields with the account's current state.
func deviceMAC(key []byte, userID, expires int64, id, passwordHash string, updated time.Time) string {
	m := hmac.New(sha256.New, key)
	for _, s := range []string{"pixpool device v1", strconv.FormatInt(userID, 10), strconv.FormatInt(expires, 10), id,
		passwordHash, strconv.FormatInt(updated.UnixMilli(), 10)} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newDevice signs a device cookie for u, valid until expires.
func (a *Accounts) newDevice(ctx context.Context, u *pixpool.User, expires time.Time) (string, error) {
	key, err := a.deviceKey(ctx, true)
	if err != nil {
		return "", err
	}
	hash, err := a.Store.PasswordHash(ctx, u.ID)
	if err != nil {
		return "", err
	}
	id := randomToken(16)
	exp := expires.Unix()
	return "d1." + strconv.FormatInt(u.ID, 10) + "." + strconv.FormatInt(exp, 10) + "." + id + "." +
		deviceMAC(key, u.ID, exp, id, hash, u.UpdatedAt), nil
}

// device returns the id of cookie if it is a valid device cookie for the
// account named username at now, or "" if it is not (missing, forged,
// expired, for another account, or signed before the account last
// changed). Only store errors are errors.
func (a *Accounts) device(ctx context.Context, cookie, username string, now time.Time) (string, error) {
	f := strings.Split(cookie, ".")
	if len(cookie) > 256 || len(f) != 5 || f[0] != "d1" {
		return "", nil
	}
	uid, err1 := strconv.ParseInt(f[1], 10, 64)
	exp, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || !now.Before(time.Unix(exp, 0)) {
		return "", nil
	}
	u, err := a.Store.UserByUsername(ctx, username)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if u.ID != uid || u.Disabled {
		return "", nil
	}
	key, err := a.deviceKey(ctx, false)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return "", nil
	} else if err != nil {
		return "", err
	}
	hash, err := a.Store.PasswordHash(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if !hmac.Equal([]byte(f[4]), []byte(deviceMAC(key, uid, exp, f[3], hash, u.UpdatedAt))) {
		return "", nil
	}
	return f[3], nil
}
