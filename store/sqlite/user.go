package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pixpool/pixpool"
)

const userColumns = `id, username, first_name, last_name, email, birthday, phone, admin, disabled, created_at, updated_at,
	quota_bytes, quota_images`

func scanUser(row scanner) (*pixpool.User, error) {
	var (
		u                    pixpool.User
		birthday             string
		createdAt, updatedAt int64
	)
	err := row.Scan(&u.ID, &u.Username, &u.FirstName, &u.LastName, &u.Email, &birthday, &u.Phone,
		&u.Admin, &u.Disabled, &createdAt, &updatedAt, &u.QuotaBytes, &u.QuotaImages)
	if err != nil {
		return nil, err
	}
	if u.Birthday, err = time.Parse(time.DateOnly, birthday); err != nil {
		return nil, fmt.Errorf("user %d: birthday: %w", u.ID, err)
	}
	u.CreatedAt = fromMillis(createdAt)
	u.UpdatedAt = fromMillis(updatedAt)
	return &u, nil
}

// date formats a birthday for storage. The zero time gives "0001-01-01",
// which parses back to the zero time.
func date(t time.Time) string {
	return t.Format(time.DateOnly)
}

// CreateUser inserts u with the given password hash and sets u.ID,
// u.CreatedAt and u.UpdatedAt. A username taken in any case is ECONFLICT.
func (s *Store) CreateUser(ctx context.Context, u *pixpool.User, passwordHash string) error {
	return insertUser(ctx, s.db, u, passwordHash)
}

// User returns the user with the given id, or ENOTFOUND.
func (s *Store) User(ctx context.Context, id int64) (*pixpool.User, error) {
	u, err := scanUser(s.stmts[stmtUser].QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "user not found")
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("user %d", id), err)
	}
	return u, nil
}

// UserByUsername finds a user without regard to case, or returns
// ENOTFOUND.
func (s *Store) UserByUsername(ctx context.Context, username string) (*pixpool.User, error) {
	u, err := scanUser(s.stmts[stmtUserByUsername].QueryRowContext(ctx, username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "user %q not found", username)
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
	res, err := s.db.ExecContext(ctx, `
		UPDATE users SET username = ?, first_name = ?, last_name = ?, email = ?, birthday = ?, phone = ?,
			admin = ?, disabled = ?, updated_at = ?
		WHERE id = ?`,
		u.Username, u.FirstName, u.LastName, u.Email, date(u.Birthday), u.Phone, u.Admin, u.Disabled, millis(t), u.ID)
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "username %q is taken", u.Username)
	} else if err != nil {
		return wrap(fmt.Sprintf("update user %d", u.ID), err)
	}
	if err := mustAffect(res, "user not found"); err != nil {
		return err
	}
	u.UpdatedAt = t
	return nil
}

// Users lists users ordered by username, case-insensitively. A limit of
// zero or less means no limit.
func (s *Store) Users(ctx context.Context, offset, limit int) ([]*pixpool.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY lower(username) LIMIT ? OFFSET ?`,
		sqlLimit(limit), max(offset, 0))
	if err != nil {
		return nil, wrap("users", err)
	}
	defer rows.Close()
	var users []*pixpool.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("users", err)
	}
	return users, nil
}

// CountAdmins counts users with Admin set, disabled or not.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE admin`).Scan(&n); err != nil {
		return 0, wrap("count admins", err)
	}
	return n, nil
}

// PasswordHash returns the stored hash of a user's password, or ENOTFOUND.
func (s *Store) PasswordHash(ctx context.Context, userID int64) (string, error) {
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, userID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
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
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
	if err != nil {
		return wrap(fmt.Sprintf("set password hash of user %d", userID), err)
	}
	return mustAffect(res, "user not found")
}

// mustAffect returns an ENOTFOUND error with message msg if res affected
// no rows.
func mustAffect(res sql.Result, msg string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("rows affected", err)
	}
	if n == 0 {
		return pixpool.Errorf(pixpool.ENOTFOUND, "%s", msg)
	}
	return nil
}

// sqlLimit turns a limit where zero means none into SQLite's, where -1
// does.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}
