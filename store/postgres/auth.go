package postgres

import "context"

// AuthGeneration returns the counter that the database bumps in the
// transaction of every change that can end a session's or an API key's
// authority (see migration 7).
func (s *Store) AuthGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT n FROM auth_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, wrap("auth generation", err)
	}
	return n, nil
}

// AuthChanges counts this Store's calls that may have bumped the
// generation, each counted once it has returned.
func (s *Store) AuthChanges() uint64 { return s.authChanges.Load() }

func (s *Store) authChanged() { s.authChanges.Add(1) }
