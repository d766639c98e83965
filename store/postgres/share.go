package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
)

var _ pixpool.ShareStore = (*Store)(nil)

const shareColumns = `id, owner_id, kind, key, title, created_at, expires_at, max_views, views, revoked_at`

func scanShare(row scanner) (*pixpool.Share, error) {
	var (
		sh               pixpool.Share
		expires, revoked *time.Time
		mx               *int64
	)
	if err := row.Scan(&sh.ID, &sh.OwnerID, &sh.Kind, &sh.Key, &sh.Title, &sh.CreatedAt, &expires, &mx, &sh.Views, &revoked); err != nil {
		return nil, err
	}
	sh.CreatedAt = sh.CreatedAt.UTC()
	if expires != nil {
		sh.ExpiresAt = expires.UTC()
	}
	if revoked != nil {
		sh.RevokedAt = revoked.UTC()
	}
	if mx != nil {
		sh.MaxViews = *mx
	}
	return &sh, nil
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
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
	sh.CreatedAt = ts(sh.CreatedAt)
	if !sh.ExpiresAt.IsZero() {
		sh.ExpiresAt = ts(sh.ExpiresAt)
	}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO shares (owner_id, kind, key, title, created_at, expires_at, max_views, views, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		sh.OwnerID, sh.Kind, sh.Key, sh.Title, sh.CreatedAt, nullTime(sh.ExpiresAt), nullPositive(sh.MaxViews),
		sh.Views, nullTime(sh.RevokedAt)).Scan(&sh.ID)
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
	sh, err := scanShare(s.pool.QueryRow(ctx, `SELECT `+shareColumns+` FROM shares WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, shareNotFound(id)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("share %d", id), err)
	}
	return sh, nil
}

// Shares lists an owner's shares, newest first.
func (s *Store) Shares(ctx context.Context, ownerID int64) ([]*pixpool.Share, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+shareColumns+` FROM shares WHERE owner_id = $1 ORDER BY created_at DESC, id DESC`, ownerID)
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
	sh, err := scanShare(s.pool.QueryRow(ctx, `
		UPDATE shares SET revoked_at = coalesce(revoked_at, $1)
		WHERE id = $2 AND owner_id = $3
		RETURNING `+shareColumns, ts(at), id, ownerID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, shareNotFound(id)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("revoke share %d", id), err)
	}
	return sh, nil
}

// ViewShare counts a view in one UPDATE whose WHERE holds every condition
// of a live share. Under READ COMMITTED, concurrent updates of the row
// queue on its lock, and each re-checks the WHERE against the row the one
// before committed, so no more views count than the limit allows.
func (s *Store) ViewShare(ctx context.Context, id int64, now time.Time) (*pixpool.Share, bool, error) {
	sh, err := scanShare(s.pool.QueryRow(ctx, `
		UPDATE shares SET views = views + 1
		WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) AND (max_views IS NULL OR views < max_views)
			AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = shares.owner_id AND users.disabled)
		RETURNING `+shareColumns, id, ts(now)))
	if err == nil {
		return sh, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, wrap(fmt.Sprintf("view share %d", id), err)
	}
	sh, err = s.Share(ctx, id)
	return sh, false, err
}
