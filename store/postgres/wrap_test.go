package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pixpool/pixpool"
)

// TestWrap_DiskFull: a server out of disk space (SQLSTATE 53100) is
// ESTORAGEFULL, which clients see as 507; other failures stay internal.
func TestWrap_DiskFull(t *testing.T) {
	for _, tc := range []struct{ sqlstate, want string }{
		{"53100", pixpool.ESTORAGEFULL},
		{"57P01", pixpool.EINTERNAL}, // admin_shutdown
	} {
		err := wrap("put image", &pgconn.PgError{Code: tc.sqlstate, Message: "x"})
		if got := pixpool.ErrorCode(err); got != tc.want {
			t.Errorf("wrap(SQLSTATE %s) code %q, want %q (%v)", tc.sqlstate, got, tc.want, err)
		}
	}
}
