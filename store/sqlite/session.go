package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pixpool/pixpool"
)

// CreateSession stores sess.
func (s *Store) CreateSession(ctx context.Context, sess *pixpool.Session) error {
	// A login may use the reserve: on a full disk, an operator must be
	// able to log in to delete images.
	err := s.withReserve(func() error {
		_, err := s.db.ExecContext(ctx, `
			INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			sess.TokenHash, sess.UserID, sess.CSRFToken, millis(sess.CreatedAt), millis(sess.ExpiresAt))
		return err
	})
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
	var (
		sess                 = pixpool.Session{TokenHash: tokenHash}
		createdAt, expiresAt int64
	)
	err := s.stmts[stmtSession].QueryRowContext(ctx, tokenHash).
		Scan(&sess.UserID, &sess.CSRFToken, &createdAt, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "session not found")
	} else if err != nil {
		return nil, wrap("session", err)
	}
	sess.CreatedAt = fromMillis(createdAt)
	sess.ExpiresAt = fromMillis(expiresAt)
	return &sess, nil
}

// DeleteSession removes one session; a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	defer s.authChanged()
	err := s.withReserve(func() error {
		_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
		return err
	})
	if err != nil {
		return wrap("delete session", err)
	}
	return nil
}

// DeleteUserSessions removes every session of a user except the one whose
// hash is keep ("" keeps none).
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, keep string) error {
	defer s.authChanged()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?`, userID, keep); err != nil {
		return wrap(fmt.Sprintf("delete sessions of user %d", userID), err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that expired before now and
// reports how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	defer s.authChanged()
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, millis(now))
	if err != nil {
		return 0, wrap("delete expired sessions", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("delete expired sessions", err)
	}
	return int(n), nil
}

const apiKeyColumns = `id, user_id, name, prefix, hash, created_at, last_used_at`

func scanAPIKey(row scanner) (*pixpool.APIKey, error) {
	var (
		k          pixpool.APIKey
		createdAt  int64
		lastUsedAt sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &createdAt, &lastUsedAt); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMillis(createdAt)
	if lastUsedAt.Valid {
		k.LastUsedAt = fromMillis(lastUsedAt.Int64)
	}
	return &k, nil
}

// CreateAPIKey stores k and sets k.ID and k.CreatedAt. k.LastUsedAt is
// stored too, a zero time as never used.
func (s *Store) CreateAPIKey(ctx context.Context, k *pixpool.APIKey) error {
	t := timeNow()
	var lastUsedAt sql.NullInt64
	if !k.LastUsedAt.IsZero() {
		lastUsedAt = sql.NullInt64{Int64: millis(k.LastUsedAt), Valid: true}
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO api_keys (user_id, name, prefix, hash, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.UserID, k.Name, k.Prefix, k.Hash, millis(t), lastUsedAt)
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "api key already exists")
	} else if err != nil {
		return wrap("create api key", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return wrap("create api key", err)
	}
	k.ID, k.CreatedAt = id, t
	return nil
}

// APIKeyByHash returns the key whose secret hashes to hash, or ENOTFOUND.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*pixpool.APIKey, error) {
	k, err := scanAPIKey(s.stmts[stmtAPIKeyByHash].QueryRowContext(ctx, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "api key not found")
	} else if err != nil {
		return nil, wrap("api key by hash", err)
	}
	return k, nil
}

// APIKeys lists a user's keys, newest first.
func (s *Store) APIKeys(ctx context.Context, userID int64) ([]*pixpool.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, id DESC`, userID)
	if err != nil {
		return nil, wrap(fmt.Sprintf("api keys of user %d", userID), err)
	}
	defer rows.Close()
	var keys []*pixpool.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, wrap(fmt.Sprintf("api keys of user %d", userID), err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("api keys of user %d", userID), err)
	}
	return keys, nil
}

// TouchAPIKey records that a key was used at t. A missing key is
// ENOTFOUND.
func (s *Store) TouchAPIKey(ctx context.Context, id int64, t time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, millis(t), id)
	if err != nil {
		return wrap(fmt.Sprintf("touch api key %d", id), err)
	}
	return mustAffect(res, "api key not found")
}

// DeleteAPIKey removes a user's key. A missing key, or another user's, is
// ENOTFOUND.
func (s *Store) DeleteAPIKey(ctx context.Context, userID, id int64) error {
	defer s.authChanged()
	res, err := s.db.ExecContext(ctx, `DELETE FROM api_keys WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return wrap(fmt.Sprintf("delete api key %d", id), err)
	}
	return mustAffect(res, "api key not found")
}
