package sqlite

import "context"

// AuthGeneration returns the counter that the database bumps in the
// transaction of every change that can end a session's or an API key's
// authority (see migration 7).
func (s *Store) AuthGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := s.stmts[stmtAuthGeneration].QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, wrap("auth generation", err)
	}
	return n, nil
}

// AuthChanges counts this Store's calls that may have bumped the
// generation, each counted once it has returned.
func (s *Store) AuthChanges() uint64 { return s.authChanges.Load() }

func (s *Store) authChanged() { s.authChanges.Add(1) }

// Hot statements, prepared once per connection: database/sql keeps a
// Stmt's preparation on each connection it has run on, and the pool keeps
// its connections (see openFile), so a request parses no SQL.
const (
	stmtAuthGeneration = iota
	stmtSession
	stmtAPIKeyByHash
	stmtUser
	stmtUserByUsername
	stmtImage
	numStmts
)

var stmtText = [numStmts]string{
	stmtAuthGeneration: `SELECT n FROM auth_generation WHERE id = 1`,
	stmtSession:        `SELECT user_id, csrf_token, created_at, expires_at FROM sessions WHERE token_hash = ?`,
	stmtAPIKeyByHash:   `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE hash = ?`,
	stmtUser:           `SELECT ` + userColumns + ` FROM users WHERE id = ?`,
	stmtUserByUsername: `SELECT ` + userColumns + ` FROM users WHERE lower(username) = lower(?)`,
	stmtImage:          `SELECT ` + imageColumns + ` FROM images WHERE owner_id = ? AND key = ?`,
}

// prepare prepares the hot statements.
func (s *Store) prepare(ctx context.Context) error {
	for i, q := range stmtText {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			s.closeStmts()
			return err
		}
		s.stmts[i] = st
	}
	return nil
}

// closeStmts closes the hot statements. The array is left as it is: a
// caller racing Close gets "statement is closed" from database/sql.
func (s *Store) closeStmts() {
	for _, st := range s.stmts {
		if st != nil {
			st.Close()
		}
	}
}
