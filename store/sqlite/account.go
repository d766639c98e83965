package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertUser inserts u and sets u.ID, u.CreatedAt and u.UpdatedAt.
func insertUser(ctx context.Context, db execer, u *pixpool.User, passwordHash string) error {
	t := timeNow()
	res, err := db.ExecContext(ctx, `
		INSERT INTO users (username, first_name, last_name, email, birthday, phone, admin, disabled, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.Username, u.FirstName, u.LastName, u.Email, date(u.Birthday), u.Phone, u.Admin, u.Disabled,
		passwordHash, millis(t), millis(t))
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "username %q is taken", u.Username)
	} else if err != nil {
		return wrap("create user", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return wrap("create user", err)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, t, t
	return nil
}

// SetSetupToken stores the setup token's hash, replacing any earlier
// one, if no admin exists. Triggers on users delete it when one appears.
func (s *Store) SetSetupToken(ctx context.Context, hash string, expires time.Time) (bool, error) {
	var stored bool
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM setup_tokens`); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO setup_tokens (hash, expires_at) SELECT ?, ?
			WHERE NOT EXISTS (SELECT 1 FROM users WHERE admin)`, hash, millis(expires))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		stored = n == 1
		return err
	})
	if err != nil {
		return false, wrap("set setup token", err)
	}
	return stored, nil
}

// SetupPending reports whether an unexpired setup token waits while no
// admin exists.
func (s *Store) SetupPending(ctx context.Context, now time.Time) (bool, error) {
	var pending bool
	err := s.db.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE expires_at > ?)
			AND NOT EXISTS (SELECT 1 FROM users WHERE admin)`, millis(now)).Scan(&pending)
	if err != nil {
		return false, wrap("setup pending", err)
	}
	return pending, nil
}

// CreateFirstAdmin creates u with the setup token, checked in the same
// (IMMEDIATE) transaction as the insert.
func (s *Store) CreateFirstAdmin(ctx context.Context, u *pixpool.User, passwordHash, tokenHash string, now time.Time) error {
	u.Admin = true
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var ok bool
		err := tx.QueryRowContext(ctx, `
			SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE hash = ? AND expires_at > ?)
				AND NOT EXISTS (SELECT 1 FROM users WHERE admin)`, tokenHash, millis(now)).Scan(&ok)
		if err != nil {
			return err
		}
		if !ok {
			return pixpool.Errorf(pixpool.ENOTFOUND, "no valid setup token")
		}
		if err := insertUser(ctx, tx, u, passwordHash); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM setup_tokens`)
		return err
	})
	if err != nil && pixpool.ErrorCode(err) == pixpool.EINTERNAL {
		return wrap("create first admin", err)
	}
	return err
}

// TakeAttempt reserves an attempt in one upsert; SQLite runs it alone, so
// no two callers read the same count.
func (s *Store) TakeAttempt(ctx context.Context, key string, now time.Time, lim pixpool.AttemptLimit) (time.Duration, error) {
	delay, most := lim.Millis()
	// ?1 key, ?2 now, ?3 forget before, ?4 free, ?5 delay, ?6 most, ?7 the first attempt's wait.
	tries := `(CASE WHEN attempts.last_at < ?3 THEN 1 ELSE attempts.tries + 1 END)`
	wait := strings.ReplaceAll(`(CASE WHEN {n} < ?4 THEN 0 ELSE min(?6, ?5 << min({n} - ?4, 30)) END)`, "{n}", tries)
	var n int
	// Logging in must work on a full disk (to free space through the
	// portal), so the attempt may use the reserve; see CreateSession.
	err := s.withReserve(func() error {
		return s.db.QueryRowContext(ctx, `
		INSERT INTO attempts (key, tries, next_at, last_at) VALUES (?1, 1, ?2 + ?7, ?2)
		ON CONFLICT (key) DO UPDATE SET tries = `+tries+`, next_at = ?2 + `+wait+`, last_at = ?2
		WHERE attempts.next_at <= ?2 OR attempts.last_at < ?3
		RETURNING tries`,
			key, millis(now), millis(now.Add(-lim.Forget)), lim.Free, delay, most, lim.Wait(1).Milliseconds()).Scan(&n)
	})
	if err == nil {
		return 0, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return 0, wrap("take attempt", err)
	}
	var next int64
	if err := s.db.QueryRowContext(ctx, `SELECT next_at FROM attempts WHERE key = ?`, key).Scan(&next); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, wrap("take attempt", err)
	}
	return max(fromMillis(next).Sub(now), time.Millisecond), nil
}

// ReturnAttempt takes back one attempt counted under key.
func (s *Store) ReturnAttempt(ctx context.Context, key string) error {
	err := s.withReserve(func() error {
		_, err := s.db.ExecContext(ctx, `UPDATE attempts SET tries = max(tries - 1, 0) WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return wrap("return attempt", err)
	}
	return nil
}

// ClearAttempts forgets key's attempts and every key's without an attempt
// since before.
func (s *Store) ClearAttempts(ctx context.Context, key string, before time.Time) error {
	err := s.withReserve(func() error {
		_, err := s.db.ExecContext(ctx, `DELETE FROM attempts WHERE key = ? OR last_at < ?`, key, millis(before))
		return err
	})
	if err != nil {
		return wrap("clear attempts", err)
	}
	return nil
}

const inviteColumns = `id, hash, prefix, created_by, created_at, expires_at, used_at, used_by`

func scanInvite(row scanner) (*pixpool.Invite, error) {
	var (
		inv                  pixpool.Invite
		createdAt, expiresAt int64
		usedAt, usedBy       sql.NullInt64
	)
	if err := row.Scan(&inv.ID, &inv.Hash, &inv.Prefix, &inv.CreatedBy, &createdAt, &expiresAt, &usedAt, &usedBy); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt = fromMillis(createdAt), fromMillis(expiresAt)
	if usedAt.Valid {
		inv.UsedAt = fromMillis(usedAt.Int64)
	}
	inv.UsedBy = usedBy.Int64
	return &inv, nil
}

// CreateInvite stores inv and sets inv.ID.
func (s *Store) CreateInvite(ctx context.Context, inv *pixpool.Invite) error {
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO invites (hash, prefix, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		inv.Hash, inv.Prefix, inv.CreatedBy, millis(inv.CreatedAt), millis(inv.ExpiresAt))
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "invite already exists")
	} else if err != nil {
		return wrap("create invite", err)
	}
	if inv.ID, err = res.LastInsertId(); err != nil {
		return wrap("create invite", err)
	}
	return nil
}

// Invites lists every invite, newest first.
func (s *Store) Invites(ctx context.Context) ([]*pixpool.Invite, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+inviteColumns+` FROM invites ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap("invites", err)
	}
	defer rows.Close()
	var out []*pixpool.Invite
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, wrap("invites", err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("invites", err)
	}
	return out, nil
}

// DeleteInvite removes an invite; a missing one is ENOTFOUND.
func (s *Store) DeleteInvite(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM invites WHERE id = ?`, id)
	if err != nil {
		return wrap(fmt.Sprintf("delete invite %d", id), err)
	}
	return mustAffect(res, "invite not found")
}

// CreateUserWithInvite creates u and uses up the invite in one
// transaction.
func (s *Store) CreateUserWithInvite(ctx context.Context, u *pixpool.User, passwordHash, inviteHash string, now time.Time) error {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE invites SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`,
			millis(now), inviteHash, millis(now))
		if err != nil {
			return wrap("use invite", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap("use invite", err)
		} else if n == 0 {
			return pixpool.Errorf(pixpool.EINVALID, "This invite code is not valid: it is mistyped, used or expired.")
		}
		if err := insertUser(ctx, tx, u, passwordHash); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invites SET used_by = ? WHERE hash = ?`, u.ID, inviteHash); err != nil {
			return wrap("use invite", err)
		}
		return nil
	})
	return err
}
