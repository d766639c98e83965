package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pixpool/pixpool"
)

// AcquireLease takes or renews the lease name for holder until ttl from
// now, in one statement: the upsert's WHERE lets it overwrite the row only
// if holder has it already or its term has run out, and RETURNING yields
// no row when it did not. The term is measured by the Go clock, which is
// the store's own, since a SQLite file is shared by one machine only. A ttl
// that is not positive is EINVALID.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, pixpool.Errorf(pixpool.EINVALID, "lease term %v is not positive", ttl)
	}
	now := time.Now()
	var got string
	err := s.db.QueryRowContext(ctx, `
		INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
		RETURNING holder`, name, holder, millis(now.Add(ttl)), millis(now)).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, wrap(fmt.Sprintf("acquire lease %q", name), err)
	}
	return true, nil
}

// ReleaseLease ends holder's lease on name at once; a lease held by
// another, or by nobody, is left alone.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return wrap(fmt.Sprintf("release lease %q", name), err)
	}
	return nil
}

// LeaseHolder returns who holds the lease name, its term run out or not,
// and "" when nobody does.
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, error) {
	var holder string
	err := s.db.QueryRowContext(ctx, `SELECT holder FROM leases WHERE name = ?`, name).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", wrap(fmt.Sprintf("lease holder %q", name), err)
	}
	return holder, nil
}
