package pixpool

import (
	"context"
	"time"
)

// LeaseStore elects one process among those sharing the store for a role
// (part of Store).
type LeaseStore interface {
	// AcquireLease takes or renews the lease name for holder until ttl
	// from now, if nobody holds it, its term has run out, or holder has it
	// already; it reports whether holder has it afterwards. Leases elect
	// one process among those sharing the store for a role (the pool's
	// manager); the term is measured by the store's own clock, so
	// processes on hosts with skewed clocks agree. A ttl of zero or less
	// is EINVALID.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease ends holder's lease on name at once; a lease held by
	// another is left alone.
	ReleaseLease(ctx context.Context, name, holder string) error
	// LeaseHolder returns who holds the lease name, its term run out or
	// not, and "" when nobody does. With ReleaseLease it lets a process
	// that can prove the holder dead (on its own host) end the lease at
	// once, rather than wait out the term.
	LeaseHolder(ctx context.Context, name string) (string, error)
}
