package pixpooltest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresEnv names the DSN of the PostgreSQL server tests use, one whose
// role may create databases; scripts/postgres-test.sh starts one and
// scripts/with-services.sh sets it.
const PostgresEnv = "PIXPOOL_TEST_POSTGRES"

var pgAdmin struct {
	once sync.Once
	pool *pgxpool.Pool
	err  error
}

// PostgresDatabase creates an empty database from template0 with the given
// CREATE DATABASE options (e.g. "ENCODING 'UTF8'"), dropped when tb ends,
// and returns its DSN. Without PostgresEnv set it skips tb, except in CI,
// where a skipped backend would pass unnoticed.
func PostgresDatabase(tb testing.TB, options string) (string, error) {
	tb.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		msg := PostgresEnv + " is not set; start a throwaway server with " +
			PostgresEnv + "=$(scripts/postgres-test.sh start /tmp/pgtest), stop it with scripts/postgres-test.sh stop /tmp/pgtest"
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	pgAdmin.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pgAdmin.pool, pgAdmin.err = pgxpool.New(ctx, dsn)
		if pgAdmin.err == nil {
			pgAdmin.err = pgAdmin.pool.Ping(ctx)
		}
	})
	if pgAdmin.err != nil {
		tb.Fatalf("connect to %s: %v", PostgresEnv, pgAdmin.err)
	}
	name := "pixpool_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := pgAdmin.pool.Exec(context.Background(), `CREATE DATABASE `+name+` TEMPLATE template0 `+options); err != nil {
		return "", err
	}
	tb.Cleanup(func() {
		if _, err := pgAdmin.pool.Exec(context.Background(), `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return withDatabase(tb, dsn, name), nil
}

// withDatabase returns dsn naming database name instead.
func withDatabase(tb testing.TB, dsn, name string) string {
	tb.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " dbname=" + name // key=value form: the last setting wins
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}
