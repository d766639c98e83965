package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pixpool/pixpool"
)

// execer is a *pgxpool.Pool or a pgx.Tx.
type execer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertUser inserts u and sets u.ID, u.CreatedAt and u.UpdatedAt.
func insertUser(ctx context.Context, db execer, u *pixpool.User, passwordHash string) error {
	t := timeNow()
	var id int64
	err := db.QueryRow(ctx, `
		INSERT INTO users (username, first_name, last_name, email, birthday, phone, admin, disabled, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
		RETURNING id`,
		u.Username, u.FirstName, u.LastName, u.Email, date(u.Birthday), u.Phone, u.Admin, u.Disabled,
		passwordHash, t).Scan(&id)
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "username %q is taken", u.Username)
	} else if err != nil {
		return wrap("create user", err)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, t, t
	return nil
}

// SetSetupToken stores the setup token's hash, replacing any earlier
// one, if no admin exists. A trigger on users deletes it when one appears.
func (s *Store) SetSetupToken(ctx context.Context, hash string, expires time.Time) (bool, error) {
	var stored bool
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM setup_tokens`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO setup_tokens (hash, expires_at) SELECT $1, $2
			WHERE NOT EXISTS (SELECT 1 FROM users WHERE admin)`, hash, ts(expires))
		stored = err == nil && tag.RowsAffected() == 1
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
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE expires_at > $1)
			AND NOT EXISTS (SELECT 1 FROM users WHERE admin)`, ts(now)).Scan(&pending)
	if err != nil {
		return false, wrap("setup pending", err)
	}
	return pending, nil
}

// CreateFirstAdmin creates u with the setup token. The token's row stays
// locked (FOR UPDATE) until the insert commits, so a second use, or the
// trigger of an admin made meanwhile, waits and then finds it gone.
func (s *Store) CreateFirstAdmin(ctx context.Context, u *pixpool.User, passwordHash, tokenHash string, now time.Time) error {
	if !storable(tokenHash) {
		return pixpool.Errorf(pixpool.ENOTFOUND, "no valid setup token")
	}
	u.Admin = true
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM setup_tokens WHERE hash = $1 AND expires_at > $2 FOR UPDATE`, tokenHash, ts(now)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return pixpool.Errorf(pixpool.ENOTFOUND, "no valid setup token")
		} else if err != nil {
			return wrap("create first admin", err)
		}
		var admins bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE admin)`).Scan(&admins); err != nil {
			return wrap("create first admin", err)
		} else if admins {
			return pixpool.Errorf(pixpool.ENOTFOUND, "no valid setup token")
		}
		if err := insertUser(ctx, tx, u, passwordHash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM setup_tokens`); err != nil {
			return wrap("create first admin", err)
		}
		return nil
	})
	if err != nil && pixpool.ErrorCode(err) == pixpool.EINTERNAL && !strings.HasPrefix(err.Error(), "postgres:") {
		return wrap("create first admin", err) // the commit failed
	}
	return err
}

// TakeAttempt reserves an attempt in one upsert: ON CONFLICT DO UPDATE
// locks the row and judges its newest version, so concurrent callers
// count one after another.
func (s *Store) TakeAttempt(ctx context.Context, key string, now time.Time, lim pixpool.AttemptLimit) (time.Duration, error) {
	key = failureKey(key)
	delay, most := lim.Millis()
	// $1 key, $2 now, $3 forget before, $4 free, $5 delay, $6 most, $7 the first attempt's wait (ms).
	tries := `(CASE WHEN attempts.last_at < $3::timestamptz THEN 1 ELSE attempts.tries + 1 END)`
	wait := strings.ReplaceAll(`(CASE WHEN {n} < $4::integer THEN 0 ELSE LEAST($6::bigint, $5::bigint << LEAST({n} - $4::integer, 30)) END)`, "{n}", tries)
	var n int
	err := s.pool.QueryRow(ctx, `
		INSERT INTO attempts (key, tries, next_at, last_at)
		VALUES ($1, 1, $2::timestamptz + $7::bigint * interval '1 millisecond', $2::timestamptz)
		ON CONFLICT (key) DO UPDATE SET tries = `+tries+`,
			next_at = $2::timestamptz + `+wait+` * interval '1 millisecond', last_at = $2::timestamptz
		WHERE attempts.next_at <= $2::timestamptz OR attempts.last_at < $3::timestamptz
		RETURNING tries`,
		key, ts(now), ts(now.Add(-lim.Forget)), lim.Free, delay, most, lim.Wait(1).Milliseconds()).Scan(&n)
	if err == nil {
		return 0, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return 0, wrap("take attempt", err)
	}
	var next time.Time
	if err := s.pool.QueryRow(ctx, `SELECT next_at FROM attempts WHERE key = $1`, key).Scan(&next); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, wrap("take attempt", err)
	}
	return max(next.Sub(now), time.Millisecond), nil
}

// ReturnAttempt takes back one attempt counted under key.
func (s *Store) ReturnAttempt(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE attempts SET tries = GREATEST(tries - 1, 0) WHERE key = $1`, failureKey(key)); err != nil {
		return wrap("return attempt", err)
	}
	return nil
}

// ClearAttempts forgets key's attempts and every key's without an attempt
// since before.
func (s *Store) ClearAttempts(ctx context.Context, key string, before time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM attempts WHERE key = $1 OR last_at < $2`, failureKey(key), ts(before)); err != nil {
		return wrap("clear attempts", err)
	}
	return nil
}

const inviteColumns = `id, hash, prefix, created_by, created_at, expires_at, used_at, used_by`

func scanInvite(row scanner) (*pixpool.Invite, error) {
	var (
		inv    pixpool.Invite
		usedAt *time.Time
		usedBy *int64
	)
	if err := row.Scan(&inv.ID, &inv.Hash, &inv.Prefix, &inv.CreatedBy, &inv.CreatedAt, &inv.ExpiresAt, &usedAt, &usedBy); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt = inv.CreatedAt.UTC(), inv.ExpiresAt.UTC()
	if usedAt != nil {
		inv.UsedAt = usedAt.UTC()
	}
	if usedBy != nil {
		inv.UsedBy = *usedBy
	}
	return &inv, nil
}

// CreateInvite stores inv and sets inv.ID.
func (s *Store) CreateInvite(ctx context.Context, inv *pixpool.Invite) error {
	err := s.pool.QueryRow(ctx, `
		INSERT INTO invites (hash, prefix, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		inv.Hash, inv.Prefix, inv.CreatedBy, ts(inv.CreatedAt), ts(inv.ExpiresAt)).Scan(&inv.ID)
	if isUnique(err) {
		return pixpool.Errorf(pixpool.ECONFLICT, "invite already exists")
	} else if err != nil {
		return wrap("create invite", err)
	}
	return nil
}

// Invites lists every invite, newest first.
func (s *Store) Invites(ctx context.Context) ([]*pixpool.Invite, error) {
	out, err := collect(ctx, s.pool, scanInvite, `SELECT `+inviteColumns+` FROM invites ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, wrap("invites", err)
	}
	return out, nil
}

// DeleteInvite removes an invite; a missing one is ENOTFOUND.
func (s *Store) DeleteInvite(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM invites WHERE id = $1`, id)
	if err != nil {
		return wrap(fmt.Sprintf("delete invite %d", id), err)
	}
	return mustAffect(tag, "invite not found")
}

// CreateUserWithInvite creates u and uses up the invite in one
// transaction; the UPDATE locks the invite's row, so two sign-ups with one
// code cannot both succeed.
func (s *Store) CreateUserWithInvite(ctx context.Context, u *pixpool.User, passwordHash, inviteHash string, now time.Time) error {
	invalid := pixpool.Errorf(pixpool.EINVALID, "This invite code is not valid: it is mistyped, used or expired.")
	if !storable(inviteHash) {
		return invalid
	}
	return s.withTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE invites SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND expires_at > $1`, ts(now), inviteHash)
		if err != nil {
			return wrap("use invite", err)
		} else if tag.RowsAffected() == 0 {
			return invalid
		}
		if err := insertUser(ctx, tx, u, passwordHash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invites SET used_by = $1 WHERE hash = $2`, u.ID, inviteHash); err != nil {
			return wrap("use invite", err)
		}
		return nil
	})
}
