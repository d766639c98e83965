// Package sqlite implements pixpool.Store on a SQLite database file, using
// the pure-Go modernc.org/sqlite driver.
//
// The database runs in WAL mode, so readers never wait for the writer.
// Write transactions begin IMMEDIATE (they take the write lock at BEGIN
// rather than on their first write), and every connection waits up to
// busyTimeout for that lock: concurrent writers queue up instead of failing
// with SQLITE_BUSY, and a read-modify-write transaction such as PutImage
// cannot lose its snapshot half-way.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pixpool/pixpool"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout bounds how long a statement waits for another connection's
// lock before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

var _ pixpool.Store = (*Store)(nil)

// Store is a pixpool.Store kept in one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	db      *sql.DB
	reserve *reserve
	stmts   [numStmts]*sql.Stmt // the hot statements (auth.go)
	// authChanges counts calls that may have bumped AuthGeneration.
	authChanges atomic.Uint64
	wal         *walSync // makes image writes durable (walsync.go)
}

// Open opens the database file at path, creating it if it does not exist,
// and applies any pending schema migrations. It refuses a database whose
// schema is newer than this build knows. path is a plain file path, not a
// URI, and may not contain '?'.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	if strings.Contains(path, "?") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		// The driver would read a query or URI out of such a name; and an
		// in-memory database would be a different one on each pooled
		// connection.
		return nil, fmt.Errorf("sqlite: open %q: want a plain file path", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		// The driver would only say "unable to open database file".
		return nil, fmt.Errorf("sqlite: open %q: is a folder, not a database file", path)
	}
	// A new database is the owner's only: it holds password hashes and,
	// with --domain, the TLS private key. SQLite gives the -wal and -shm
	// files the database file's mode. (An empty file is a new database;
	// if this fails, SQLite says why below.)
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	r := &reserve{path: path + "-reserve"}
	s, err := openFile(path)
	if isFull(err) && r.release() {
		// The disk filled up since the last start: give SQLite the
		// reserve's room, so the server starts and can delete.
		s, err = openFile(path)
	}
	if err != nil {
		if errCode(err) == sqlite3.SQLITE_NOTADB {
			return nil, wrap(fmt.Sprintf("open %q: not a SQLite database (damaged, or another kind of file)", path), err)
		}
		return nil, wrap(fmt.Sprintf("open %q", path), err)
	}
	s.reserve = r
	return s, nil
}

// openFile opens and migrates the database at path.
func openFile(path string) (*Store, error) {
	db, err := sql.Open(driverName, path+"?"+dsnParams())
	if err != nil {
		return nil, err
	}
	// Keep every connection the pool opens: a connection closed for
	// want of an idle slot must be opened again (and its statements
	// prepared again) by the next request, which under concurrent load
	// was most of the cost of a request. maxConns bounds the connections
	// (and their page caches); more requests at once wait for one.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	s := &Store{db: db, wal: newWALSync(path)}
	ctx := context.Background()
	// The first connection switches a new file to WAL. Another process
	// creating the same file at the same moment (replicas started
	// together) makes that switch fail at once with SQLITE_BUSY, which
	// busy_timeout does not cover: wait for the other, as it would.
	for deadline := time.Now().Add(busyTimeout); ; time.Sleep(10 * time.Millisecond) {
		err = db.PingContext(ctx)
		if errCode(err) != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			break
		}
	}
	if err == nil {
		err = s.migrate(ctx)
	}
	if err == nil {
		err = s.prepare(ctx)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// maxConns bounds the pool's connections. SQLite runs one writer at a
// time and readers beside it (WAL), so a few more than the cores keep
// the CPUs busy while writers wait for the lock.
const maxConns = 16

// driverName is the SQLite driver with persistent write-ahead logs: the
// last connection to close leaves the -wal and -shm files in place rather
// than removing them. A restart then needs no new disk space to open the
// database (SQLite must write out the -shm file's 32 KiB before it can
// read), so the server starts on a full disk.
const driverName = "sqlite-pixpool"

func init() {
	d := &sqlite.Driver{}
	d.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, _ string) error {
		if fc, ok := c.(sqlite.FileControl); ok {
			if _, err := fc.FileControlPersistWAL("main", 1); err != nil {
				return fmt.Errorf("persistent WAL: %w", err)
			}
		}
		return nil
	})
	sql.Register(driverName, d)
}

// dsnParams are the connection settings. They go in the DSN, not in
// statements run after opening, because database/sql opens connections as
// it needs them and each must get them.
func dsnParams() string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return q.Encode()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.reserve.mu.Lock()
	s.reserve.lastFill = time.Time{} // a last try, whenever the one before
	s.reserve.mu.Unlock()
	s.reserve.refill()
	s.closeStmts()
	if err := s.db.Close(); err != nil {
		return wrap("close", err)
	}
	return nil
}

// withTx runs fn in a transaction, which begins IMMEDIATE (see the package
// comment), and commits if fn returns nil.
func (s *Store) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// wrap returns err as the failure of op, the one way the store's errors
// are made, as store/postgres's wrap does: one that says the disk is full
// becomes ESTORAGEFULL, which the client sees, keeping the cause for the
// log.
func wrap(op string, err error) error {
	err = fmt.Errorf("sqlite: %s: %w", op, err)
	if isFull(err) {
		return pixpool.StorageFull(err)
	}
	return err
}

// errCode returns the SQLite result code of err, extended codes reduced to
// their primary code, or 0 if err is not a SQLite error.
func errCode(err error) int {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return 0
	}
	return e.Code() & 0xff
}

// isUnique reports whether err is a violated UNIQUE or PRIMARY KEY
// constraint.
func isUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// timeNow is the current time as the database keeps it: UTC, whole
// milliseconds.
func timeNow() time.Time {
	return time.Now().UTC().Truncate(time.Millisecond)
}

// millis converts t for storage as integer Unix milliseconds, which sort
// and compare as numbers and read the same in any time zone.
func millis(t time.Time) int64 {
	return t.UnixMilli()
}

// fromMillis is the inverse of millis.
func fromMillis(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}
