package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
)

// CreateSession stores sess.
func (s *Store) CreateSession(ctx context.Context, sess *pixpool.Session) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		sess.TokenHash, sess.UserID, sess.CSRFToken, ts(sess.CreatedAt), ts(sess.ExpiresAt))
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "session already exists")
	} else if err != nil {
		return wrap("create session", err)
	}
	return nil
}

// Session returns the session with the given token hash, expired or not,
// or ENOTFOUND.
func (s *Store) Session(ctx context.Context, tokenHash string) (*pixpool.Session, error) {
	notFound := pixpool.Errorf(pixpool.ENOTFOUND, "session not found")
	if !storable(tokenHash) {
		return nil, notFound
	}
	sess := pixpool.Session{TokenHash: tokenHash}
	err := s.pool.QueryRow(ctx, `SELECT user_id, csrf_token, created_at, expires_at FROM sessions WHERE token_hash = $1`, tokenHash).
		Scan(&sess.UserID, &sess.CSRFToken, &sess.CreatedAt, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, wrap("session", err)
	}
	sess.CreatedAt = sess.CreatedAt.UTC()
	sess.ExpiresAt = sess.ExpiresAt.UTC()
	return &sess, nil
}

// DeleteSession removes one session; a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	defer s.authChanged()
	if !storable(tokenHash) {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return wrap("delete session", err)
	}
	return nil
}

// DeleteUserSessions removes every session of a user except the one whose
// hash is keep ("" keeps none).
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, keep string) error {
	defer s.authChanged()
	if !storable(keep) {
		keep = "" // no session has it: keep none
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, userID, keep); err != nil {
		return wrap(fmt.Sprintf("delete sessions of user %d", userID), err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that expired before now and
// reports how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	defer s.authChanged()
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, ts(now))
	if err != nil {
		return 0, wrap("delete expired sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

const apiKeyColumns = `id, user_id, name, prefix, hash, created_at, last_used_at`

func scanAPIKey(row scanner) (*pixpool.APIKey, error) {
	var (
		k          pixpool.APIKey
		lastUsedAt *time.Time
	)
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedAt, &lastUsedAt); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if lastUsedAt != nil {
		k.LastUsedAt = lastUsedAt.UTC()
	}
	return &k, nil
}

// CreateAPIKey stores k and sets k.ID and k.CreatedAt. k.LastUsedAt is
// stored too, a zero time as never used (NULL).
func (s *Store) CreateAPIKey(ctx context.Context, k *pixpool.APIKey) error {
	t := timeNow()
	var lastUsedAt *time.Time
	if !k.LastUsedAt.IsZero() {
		at := ts(k.LastUsedAt)
		lastUsedAt = &at
	}
	var id int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_keys (user_id, name, prefix, hash, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id`,
		k.UserID, k.Name, k.Prefix, k.Hash, t, lastUsedAt).Scan(&id)
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "api key already exists")
	} else if err != nil {
		return wrap("create api key", err)
	}
	k.ID, k.CreatedAt = id, t
	return nil
}

// APIKeyByHash returns the key whose secret hashes to hash, or ENOTFOUND.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*pixpool.APIKey, error) {
	notFound := pixpool.Errorf(pixpool.ENOTFOUND, "api key not found")
	if !storable(hash) {
		return nil, notFound
	}
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, wrap("api key by hash", err)
	}
	return k, nil
}

// APIKeys lists a user's keys, newest first.
func (s *Store) APIKeys(ctx context.Context, userID int64) ([]*pixpool.APIKey, error) {
	keys, err := collect(ctx, s.pool, scanAPIKey,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, userID)
	if err != nil {
		return nil, wrap(fmt.Sprintf("api keys of user %d", userID), err)
	}
	return keys, nil
}

// TouchAPIKey records that a key was used at t. A missing key is
// ENOTFOUND.
func (s *Store) TouchAPIKey(ctx context.Context, id int64, t time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, ts(t), id)
	if err != nil {
		return wrap(fmt.Sprintf("touch api key %d", id), err)
	}
	return mustAffect(tag, "api key not found")
}

// DeleteAPIKey removes a user's key. A missing key, or another user's, is
// ENOTFOUND.
func (s *Store) DeleteAPIKey(ctx context.Context, userID, id int64) error {
	defer s.authChanged()
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_keys WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return wrap(fmt.Sprintf("delete api key %d", id), err)
	}
	return mustAffect(tag, "api key not found")
}
