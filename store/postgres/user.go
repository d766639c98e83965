package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pixpool/pixpool"
)

const userColumns = `id, username, first_name, last_name, email, birthday, phone, admin, disabled, created_at, updated_at,
	quota_bytes, quota_images`

func scanUser(row scanner) (*pixpool.User, error) {
	var u pixpool.User
	err := row.Scan(&u.ID, &u.Username, &u.FirstName, &u.LastName, &u.Email, &u.Birthday, &u.Phone,
		&u.Admin, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &u.QuotaBytes, &u.QuotaImages)
	if err != nil {
		return nil, err
	}
	// pgx reads a date as midnight UTC, and a timestamptz in time.Local.
	u.CreatedAt = u.CreatedAt.UTC()
	u.UpdatedAt = u.UpdatedAt.UTC()
	return &u, nil
}

// date is a birthday as the date it names in its own location, as
// store/sqlite formats it. The zero time is 0001-01-01, which reads back as
// the zero time.
func date(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// CreateUser inserts u with the given password hash and sets u.ID,
// u.CreatedAt and u.UpdatedAt. A username taken in any case is ECONFLICT.
func (s *Store) CreateUser(ctx context.Context, u *pixpool.User, passwordHash string) error {
	return insertUser(ctx, s.pool, u, passwordHash)
}

// User returns the user with the given id, or ENOTFOUND.
func (s *Store) User(ctx context.Context, id int64) (*pixpool.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "user not found")
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("user %d", id), err)
	}
	return u, nil
}

// UserByUsername finds a user without regard to case, or returns
// ENOTFOUND.
func (s *Store) UserByUsername(ctx context.Context, username string) (*pixpool.User, error) {
	notFound := pixpool.Errorf(pixpool.ENOTFOUND, "user %q not found", username)
	if !storable(username) {
		return nil, notFound
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(username) = lower($1)`, username))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("user %q", username), err)
	}
	return u, nil
}

// UpdateUser saves every field of u but ID, CreatedAt and the quotas
// (SetUserQuota), and sets u.UpdatedAt. A missing user is ENOTFOUND; a username taken by another
// user, in any case, is ECONFLICT.
func (s *Store) UpdateUser(ctx context.Context, u *pixpool.User) error {
	defer s.authChanged()
	t := timeNow()
	tag, err := s.pool.Exec(ctx, `
		UPDATE users SET username = $1, first_name = $2, last_name = $3, email = $4, birthday = $5, phone = $6,
			admin = $7, disabled = $8, updated_at = $9
		WHERE id = $10`,
		u.Username, u.FirstName, u.LastName, u.Email, date(u.Birthday), u.Phone, u.Admin, u.Disabled, t, u.ID)
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "username %q is taken", u.Username)
	} else if err != nil {
		return wrap(fmt.Sprintf("update user %d", u.ID), err)
	}
	if err := mustAffect(tag, "user not found"); err != nil {
		return err
	}
	u.UpdatedAt = t
	return nil
}

// Users lists users ordered by username, case-insensitively (lower() of a
// COLLATE "C" column sorts bytewise). A limit of zero or less means no
// limit.
func (s *Store) Users(ctx context.Context, offset, limit int) ([]*pixpool.User, error) {
	q, args := paged(`SELECT `+userColumns+` FROM users ORDER BY lower(username)`, nil, offset, limit)
	users, err := collect(ctx, s.pool, scanUser, q, args...)
	if err != nil {
		return nil, wrap("users", err)
	}
	return users, nil
}

// CountAdmins counts users with Admin set, disabled or not.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE admin`).Scan(&n); err != nil {
		return 0, wrap("count admins", err)
	}
	return n, nil
}

// PasswordHash returns the stored hash of a user's password, or ENOTFOUND.
func (s *Store) PasswordHash(ctx context.Context, userID int64) (string, error) {
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", pixpool.Errorf(pixpool.ENOTFOUND, "user not found")
	} else if err != nil {
		return "", wrap(fmt.Sprintf("password hash of user %d", userID), err)
	}
	return hash, nil
}

// SetPasswordHash replaces a user's password hash. A missing user is
// ENOTFOUND.
func (s *Store) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	defer s.authChanged()
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
	if err != nil {
		return wrap(fmt.Sprintf("set password hash of user %d", userID), err)
	}
	return mustAffect(tag, "user not found")
}

// mustAffect returns an ENOTFOUND error with message msg if tag reports no
// rows affected.
func mustAffect(tag pgconn.CommandTag, msg string) error {
	if tag.RowsAffected() == 0 {
		return pixpool.Errorf(pixpool.ENOTFOUND, "%s", msg)
	}
	return nil
}

// paged appends LIMIT and OFFSET to q, as parameters after args, where a
// limit of zero or less means none.
func paged(q string, args []any, offset, limit int) (string, []any) {
	if limit > 0 {
		args = append(args, limit)
		q += fmt.Sprintf(` LIMIT $%d`, len(args))
	}
	if offset > 0 {
		args = append(args, offset)
		q += fmt.Sprintf(` OFFSET $%d`, len(args))
	}
	return q, args
}

// querier is a *pgxpool.Pool or a pgx.Tx.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// collect runs q and scans every row with scan.
func collect[T any](ctx context.Context, db querier, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
