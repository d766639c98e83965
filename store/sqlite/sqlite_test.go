package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/store/storetest"
)

// open opens a store on a new database file in t's temporary directory.
func open(t *testing.T) *Store {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "pixpool.db"))
}

func openPath(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open()=%v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close()=%v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) pixpool.Store { return open(t) })
}

func TestStore_SchemaVersion(t *testing.T) {
	s := open(t)
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != len(migrations) {
		t.Fatalf("SchemaVersion()=%d, %v; want %d", v, err, len(migrations))
	}
}

func BenchmarkBackup(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "pixpool.db"))
	if err != nil {
		b.Fatalf("Open()=%v", err)
	}
	defer s.Close()
	storetest.BenchBackup(b, s, 50_000)
}

func BenchmarkUsage(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "pixpool.db"))
	if err != nil {
		b.Fatalf("Open()=%v", err)
	}
	defer s.Close()
	storetest.BenchUsage(b, s, 100_000)
}

func TestOpen_Migrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pixpool.db")
	versions := func(s *Store) []int {
		t.Helper()
		rows, err := s.db.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatalf("query schema_migrations: %v", err)
		}
		defer rows.Close()
		var vs []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				t.Fatalf("scan: %v", err)
			}
			vs = append(vs, v)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows: %v", err)
		}
		return vs
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open()=%v", err)
	}
	got := versions(s)
	if len(got) != len(migrations) {
		t.Fatalf("len(versions)=%d, want %d", len(got), len(migrations))
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("versions=%v, want 1 to %d", got, len(migrations))
		}
	}
	u := &pixpool.User{Username: "ada"}
	if err := s.CreateUser(t.Context(), u, "hash"); err != nil {
		t.Fatalf("CreateUser()=%v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close()=%v", err)
	}

	// Reopening applies nothing again and keeps the data.
	s = openPath(t, path)
	if again := versions(s); len(again) != len(got) {
		t.Fatalf("versions after reopening=%v, want %v", again, got)
	}
	if _, err := s.UserByUsername(t.Context(), "ada"); err != nil {
		t.Fatalf("UserByUsername() after reopening=%v", err)
	}
}

func TestOpen_NewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pixpool.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open()=%v", err)
	}
	newer := len(migrations) + 1
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, newer); err != nil {
		t.Fatalf("insert version: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close()=%v", err)
	}

	s, err = Open(path)
	if err == nil {
		s.Close()
		t.Fatalf("Open() of a schema newer than the code=nil, want an error")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open()=%v, want an error saying the schema is newer", err)
	}
}

func TestOpen_BadPath(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{
		"",
		":memory:",
		"file:" + filepath.Join(dir, "x.db"),
		filepath.Join(dir, "what?.db"),
		filepath.Join(dir, "missing", "x.db"),
	} {
		if s, err := Open(path); err == nil {
			s.Close()
			t.Fatalf("Open(%q)=nil, want an error", path)
		}
	}
}

// TestOpen_Pragmas checks that every pooled connection, not only the
// first, gets the settings.
func TestOpen_Pragmas(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	var conns []*sql.Conn
	for range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatalf("Conn()=%v", err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	tests := []struct {
		pragma, want string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "1"}, // NORMAL
	}
	for i, c := range conns {
		for _, tt := range tests {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
			}
			if got != tt.want {
				t.Fatalf("connection %d: PRAGMA %s=%q, want %q", i, tt.pragma, got, tt.want)
			}
		}
	}
}

func TestStore_ImageBlobKeysBatches(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	u := &pixpool.User{Username: "ada"}
	if err := s.CreateUser(ctx, u, "hash"); err != nil {
		t.Fatalf("CreateUser()=%v", err)
	}
	n := 2*blobKeysBatch + 1
	// One transaction for speed; PutImage would take one each.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("BeginTx()=%v", err)
	}
	for i := range n {
		_, err := tx.Exec(`INSERT INTO images (owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at)
			VALUES (?, ?, ?, '', 0, 'image/png', 1, 1, '', 0)`, u.ID, i, i)
		if err != nil {
			t.Fatalf("insert: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit()=%v", err)
	}
	seen := make(map[string]bool)
	err = s.ImageBlobKeys(ctx, func(key string) error {
		if seen[key] {
			t.Fatalf("ImageBlobKeys yielded %q twice", key)
		}
		seen[key] = true
		return nil
	})
	if err != nil {
		t.Fatalf("ImageBlobKeys()=%v", err)
	}
	if got := len(seen); got != n {
		t.Fatalf("ImageBlobKeys yielded %d keys, want %d", got, n)
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		prefix, want string
		ok           bool
	}{
		{"a", "b", true},
		{"ab", "ac", true},
		{"a%", "a&", true},
		{"a\xff", "b", true},
		{"a\xff\xff", "b", true},
		{"é", "\xc3\xaa", true},
		{"\xff", "", false},
	}
	for _, tt := range tests {
		got, ok := prefixEnd(tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Fatalf("prefixEnd(%q)=%q, %v, want %q, %v", tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}

// TestSearchImages_OwnerFirst: a search walks the owner's images and asks
// the full-text index about each, never matching across every user's
// analyses first (the plan's outer loop is the owner's images).
func TestSearchImages_OwnerFirst(t *testing.T) {
	s := open(t)
	rows, err := s.db.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+searchQuery, 1, `"dog"`, pixpool.AnalysisDone, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 || !strings.HasPrefix(steps[0], "SEARCH i USING") || !strings.Contains(steps[0], "(owner_id=?)") {
		t.Fatalf("search plan %q: want the owner's images (owner_id=?) first", steps)
	}
}

// TestOpen_NewFileIsPrivate creates a database in a folder others may
// read: the file, and its write-ahead log, are the owner's only, for they
// hold password hashes and, with --domain, the TLS private key.
func TestOpen_NewFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pixpool.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutCertFile(t.Context(), "certificates/ca/a.example/a.example.key", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
