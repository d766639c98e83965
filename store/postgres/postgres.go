// Package postgres implements pixpool.Store on PostgreSQL (15 or later),
// using github.com/jackc/pgx/v5 and its connection pool, pgxpool. It
// behaves like store/sqlite and passes the same conformance suite,
// store/storetest, so several pixpool processes can share one database.
//
// # DSN
//
// Open takes a libpq connection string, as a URL or as key=value pairs:
//
//	postgres://pixpool:secret@db.example.org:5432/pixpool?sslmode=verify-full
//	host=db.example.org dbname=pixpool user=pixpool sslmode=require
//
// The usual PG* environment variables (PGHOST, PGPASSWORD, ...) and
// ~/.pgpass fill in what the string leaves out, as with psql. The database
// must exist and use the UTF8 encoding; its collation does not matter,
// because every column that is sorted or compared by range (image keys,
// usernames, node names) is declared COLLATE "C" and so compares bytewise,
// as SQLite's BINARY collation does. To keep pixpool's tables in a schema
// of their own, create it and name it in the DSN's search_path
// (...?search_path=pixpool).
//
// # Schema
//
// Open creates the schema in an empty database and applies any pending
// migrations (see migrations), so the role in the DSN needs the right to
// create tables there. Several processes may Open one new database at once:
// the migrations run under a transaction-scoped advisory lock and the later
// ones find the work done. A database migrated by a newer pixpool is
// refused.
//
// # Pool sizing
//
// A Store holds a pgxpool.Pool. Its size comes from the DSN, where pgxpool
// reads these parameters (and removes them before connecting):
//
//	pool_max_conns            at most this many connections; default max(4, runtime.NumCPU())
//	pool_min_conns            keep at least this many open; default 2 (at most pool_max_conns)
//	pool_max_conn_lifetime    close a connection this old; default 1h
//	pool_max_conn_idle_time   close a connection idle this long; default 30m
//	pool_health_check_period  how often idle connections are checked; default 1m
//
// for example postgres://pixpool@db/pixpool?pool_max_conns=20. Each request
// uses one connection at a time, briefly, so the default suits one replica
// on a small machine; size it to the requests a replica serves at once,
// and keep the sum over all replicas below the server's max_connections
// (100 by default) less what backups and psql need. A request that finds
// every connection busy waits for one, bounded by its context.
//
// Statements are prepared and cached per connection (pgx's default). Behind
// a pooler in transaction mode, such as PgBouncer, add
// default_query_exec_mode=exec to the DSN.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pixpool/pixpool"
)

var _ pixpool.Store = (*Store)(nil)

// Store is a pixpool.Store in a PostgreSQL database. It is safe for
// concurrent use, also by several processes sharing the database.
type Store struct {
	pool *pgxpool.Pool
	// authChanges counts calls that may have bumped AuthGeneration.
	authChanges atomic.Uint64
}

// Open connects to the database named by dsn (see the package comment),
// checks that it answers and uses UTF8, and brings its schema up to date.
// It refuses a database whose schema is newer than this build knows. A
// dsn that does not parse is quoted in the error with its password masked,
// which pgx does as best it can.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "pixpool" // names it in pg_stat_activity
	}
	if !hasParam(dsn, "pool_min_conns") {
		// Keep a few connections open from the start, so the first
		// requests after a quiet spell do not each open one.
		cfg.MinConns = min(defaultMinConns, cfg.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.check(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return s, nil
}

// defaultMinConns is pool_min_conns when the DSN does not set it.
const defaultMinConns = 2

// hasParam reports whether the DSN, a URL or key=value pairs, names the
// parameter.
func hasParam(dsn, name string) bool {
	return strings.Contains(dsn, "?"+name+"=") || strings.Contains(dsn, "&"+name+"=") ||
		strings.HasPrefix(dsn, name+"=") || strings.Contains(dsn, " "+name+"=")
}

// check connects (pgxpool connects lazily) and refuses a database whose
// encoding is not UTF8: keys are UTF-8, and their bytewise order under
// COLLATE "C" is that of their UTF-8 bytes only in a UTF8 database.
func (s *Store) check(ctx context.Context) error {
	var enc string
	if err := s.pool.QueryRow(ctx, `SELECT pg_catalog.current_setting('server_encoding')`).Scan(&enc); err != nil {
		return err
	}
	if enc != "UTF8" {
		return fmt.Errorf("database encoding is %s, want UTF8 (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)", enc)
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes every connection, waiting for those in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// withTx runs fn in a READ COMMITTED transaction and commits if fn returns
// nil. The level is explicit, whatever the server's default, because
// PutImage and migrate rely on each statement seeing what other
// transactions committed before it began (after a lock wait, say).
func (s *Store) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// isUnique reports whether err is a violated UNIQUE or PRIMARY KEY
// constraint.
func isUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505" // unique_violation
}

// wrap returns err as the failure of op. Text PostgreSQL cannot store (NUL
// bytes, invalid UTF-8), which SQLite would have taken, is EINVALID rather
// than internal: it is the caller's input that is wrong. A server out of
// disk space is ESTORAGEFULL.
func wrap(op string, err error) error {
	var e *pgconn.PgError
	if errors.As(err, &e) && (e.Code == "22021" || e.Code == "22P05") { // character_not_in_repertoire, untranslatable_character
		return pixpool.Errorf(pixpool.EINVALID, "Text must be valid UTF-8 without NUL characters.")
	}
	err = fmt.Errorf("postgres: %s: %w", op, err)
	if errors.As(err, &e) && e.Code == "53100" { // disk_full
		return pixpool.StorageFull(err)
	}
	return err
}

// storable reports whether PostgreSQL can hold s in a text column: valid
// UTF-8 without NUL. Text that is not can name no stored row, so lookups by
// it find nothing without asking the database (which would refuse it).
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// timeNow is the current time as the database keeps it: UTC, whole
// milliseconds.
func timeNow() time.Time {
	return ts(time.Now())
}

// ts converts t for storage in a timestamptz column. It keeps whole
// milliseconds, rounding down as SQLite's Unix milliseconds do, so that
// equal and ordered times (a session expiring "at" a moment, samples
// within one millisecond) compare alike in both stores.
func ts(t time.Time) time.Time {
	return t.UTC().Truncate(time.Millisecond)
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}
