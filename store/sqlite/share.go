package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pixpool/pixpool"
)

var _ pixpool.ShareStore = (*Store)(nil)

const shareColumns = `id, owner_id, kind, key, title, created_at, expires_at, max_views, views, revoked_at`

func scanShare(row scanner) (*pixpool.Share, error) {
	var (
		sh                   pixpool.Share
		created              int64
		expires, revoked, mx sql.NullInt64
	)
	if err := row.Scan(&sh.ID, &sh.OwnerID, &sh.Kind, &sh.Key, &sh.Title, &created, &expires, &mx, &sh.Views, &revoked); err != nil {
		return nil, err
	}
	sh.CreatedAt = fromMillis(created)
	if expires.Valid {
		sh.ExpiresAt = fromMillis(expires.Int64)
	}
	if revoked.Valid {
		sh.RevokedAt = fromMillis(revoked.Int64)
	}
	sh.MaxViews = mx.Int64
	return &sh, nil
}

// nullMillis stores a zero time as NULL.
func nullMillis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return millis(t)
}

// nullPositive stores 0 (no limit) as NULL.
func nullPositive(n int64) any {
	if n <= 0 {
		return nil
	}
	return n
}

// CreateShare stores sh and sets its ID.
func (s *Store) CreateShare(ctx context.Context, sh *pixpool.Share) error {
	if sh.CreatedAt.IsZero() {
		sh.CreatedAt = timeNow()
	}
	sh.CreatedAt = pixpool.MillisUTC(sh.CreatedAt)
	if !sh.ExpiresAt.IsZero() {
		sh.ExpiresAt = pixpool.MillisUTC(sh.ExpiresAt)
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO shares (owner_id, kind, key, title, created_at, expires_at, max_views, views, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sh.OwnerID, sh.Kind, sh.Key, sh.Title, millis(sh.CreatedAt), nullMillis(sh.ExpiresAt), nullPositive(sh.MaxViews),
		sh.Views, nullMillis(sh.RevokedAt))
	if err != nil {
		return wrap("create share", err)
	}
	sh.ID, err = res.LastInsertId()
	if err != nil {
		return wrap("create share", err)
	}
	return nil
}

func shareNotFound(id int64) error {
	return pixpool.Errorf(pixpool.ENOTFOUND, "No share link %d.", id)
}

// Share returns a share by id.
func (s *Store) Share(ctx context.Context, id int64) (*pixpool.Share, error) {
	sh, err := scanShare(s.db.QueryRowContext(ctx, `SELECT `+shareColumns+` FROM shares WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, shareNotFound(id)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("share %d", id), err)
	}
	return sh, nil
}

// Shares lists an owner's shares, newest first.
func (s *Store) Shares(ctx context.Context, ownerID int64) ([]*pixpool.Share, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+shareColumns+` FROM shares WHERE owner_id = ? ORDER BY created_at DESC, id DESC`, ownerID)
	if err != nil {
		return nil, wrap("shares", err)
	}
	defer rows.Close()
	var out []*pixpool.Share
	for rows.Next() {
		sh, err := scanShare(rows)
		if err != nil {
			return nil, wrap("shares", err)
		}
		out = append(out, sh)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("shares", err)
	}
	return out, nil
}

// RevokeShare marks an owner's share revoked, keeping an earlier
// revocation's time.
func (s *Store) RevokeShare(ctx context.Context, ownerID, id int64, at time.Time) (*pixpool.Share, error) {
	sh, err := scanShare(s.db.QueryRowContext(ctx, `
		UPDATE shares SET revoked_at = coalesce(revoked_at, ?)
		WHERE id = ? AND owner_id = ?
		RETURNING `+shareColumns, millis(at), id, ownerID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, shareNotFound(id)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("revoke share %d", id), err)
	}
	return sh, nil
}

// ViewShare counts a view in one UPDATE whose WHERE holds every condition
// of a live share: SQLite runs one writer at a time, so concurrent calls
// each see the count the one before left.
func (s *Store) ViewShare(ctx context.Context, id int64, now time.Time) (*pixpool.Share, bool, error) {
	ms := millis(now)
	sh, err := scanShare(s.db.QueryRowContext(ctx, `
		UPDATE shares SET views = views + 1
		WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND (max_views IS NULL OR views < max_views)
			AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = shares.owner_id AND users.disabled)
		RETURNING `+shareColumns, id, ms))
	if err == nil {
		return sh, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, wrap(fmt.Sprintf("view share %d", id), err)
	}
	sh, err = s.Share(ctx, id)
	return sh, false, err
}
