package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
)

// AcquireLease takes or renews the lease name for holder until ttl from
// now, in one statement: the upsert's WHERE lets it overwrite the row only
// if holder has it already or its term has run out, and RETURNING yields
// no row when it did not. Racing inserts of a free lease meet at the
// primary key, and racing updates at the row lock, after which READ
// COMMITTED re-checks the WHERE against the winner's row: one wins.
//
// The term is measured by the server's clock, clock_timestamp() rather
// than now(), which would be the start of a transaction that may have
// waited for that row lock, so that hosts with skewed clocks agree. A ttl
// that is not positive is EINVALID.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, pixpool.Errorf(pixpool.EINVALID, "lease term %v is not positive", ttl)
	}
	var got string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO leases (name, holder, expires_at)
		VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp()
		RETURNING holder`, name, holder, ttl.Microseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, wrap(fmt.Sprintf("acquire lease %q", name), err)
	}
	return true, nil
}

// ReleaseLease ends holder's lease on name at once; a lease held by
// another, or by nobody, is left alone.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if !storable(name) || !storable(holder) {
		return nil // no stored lease has such a name or holder
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return wrap(fmt.Sprintf("release lease %q", name), err)
	}
	return nil
}

// LeaseHolder returns who holds the lease name, its term run out or not,
// and "" when nobody does.
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, error) {
	if !storable(name) {
		return "", nil // no stored lease has such a name
	}
	var holder string
	err := s.pool.QueryRow(ctx, `SELECT holder FROM leases WHERE name = $1`, name).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", wrap(fmt.Sprintf("lease holder %q", name), err)
	}
	return holder, nil
}
