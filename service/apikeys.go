package service

import (
	"context"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

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
