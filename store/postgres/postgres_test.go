package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/store/sqlite"
	"github.com/pixpool/pixpool/store/storetest"
)

// The tests need a PostgreSQL server named by PIXPOOL_TEST_POSTGRES
// (pixpooltest.PostgresEnv): a DSN of a database whose role may create and
// drop databases, such as the one `scripts/postgres-test.sh start DIR`
// prints. Each test gets a database of its own, dropped at its end.

// newDatabase creates an empty database for t, dropped when t ends, and
// returns its DSN. Its default collation is ICU's English one, if the
// server has ICU, so that a query sorting keys without COLLATE "C" would
// give a linguistic order and fail the suite.
func newDatabase(t testing.TB) string {
	t.Helper()
	dsn, err := pixpooltest.PostgresDatabase(t, `ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`)
	if err != nil {
		t.Logf("CREATE DATABASE with an ICU collation: %v; using the server's default", err)
		dsn, err = pixpooltest.PostgresDatabase(t, `ENCODING 'UTF8'`)
	}
	if err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	return dsn
}

// open opens a store on a new database.
func open(t *testing.T) *Store {
	t.Helper()
	return openDSN(t, newDatabase(t))
}

func openDSN(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
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
	newDatabase(t) // skip once, not in every subtest
	storetest.Run(t, func(t *testing.T) pixpool.Store { return open(t) })
}

// TestStore_BackupSQLite restores a backup of a SQLite store into
// PostgreSQL, and one of PostgreSQL into SQLite.
func TestStore_BackupSQLite(t *testing.T) {
	newDatabase(t) // skip once, not in every subtest
	openSQLite := func(t *testing.T) pixpool.Store {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "pixpool.db"))
		if err != nil {
			t.Fatalf("sqlite.Open()=%v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	t.Run("FromSQLite", func(t *testing.T) { storetest.CheckBackupCopy(t, openSQLite(t), open(t)) })
	t.Run("ToSQLite", func(t *testing.T) { storetest.CheckBackupCopy(t, open(t), openSQLite(t)) })
}

// TestStore_BackupUnstorable restores rows that SQLite would hold but
// PostgreSQL cannot: each is EINVALID, naming the row, and changes
// nothing.
func TestStore_BackupUnstorable(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	if err := s.SetSetting(ctx, "site.name", "pixpool"); err != nil {
		t.Fatalf("SetSetting()=%v", err)
	}
	users, images, settings := pixpool.BackupTable("users"), pixpool.BackupTable("images"), pixpool.BackupTable("settings")
	tm := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ada := []any{int64(1), "ada", "Ada", "L", "ada@example.org", "1990-05-17", "", false, false, "hash", tm, tm, nil, nil}
	image := func(width int64) []any {
		return []any{int64(1), int64(1), "a.png", "b", "", int64(0), "image/png", width, int64(1), "sum", tm, int64(0), "", int64(0), "", ""}
	}
	type row struct {
		table *pixpool.BackupTableDef
		row   []any
	}
	tests := []struct {
		name string
		rows []row
		want string
	}{
		{"NUL", []row{{settings, []any{"a", "ok"}}, {settings, []any{"b", "nul\x00"}}}, "settings row 2: value"},
		{"NotUTF8", []row{{settings, []any{"bad\xff", "v"}}}, "settings row 1: name"},
		{"WidthOutOfRange", []row{{users, ada}, {images, image(1 << 40)}}, "images row 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ImportTables(ctx, nil, func(yield func(*pixpool.BackupTableDef, []any) error) error {
				for _, r := range tt.rows {
					if err := yield(r.table, r.row); err != nil {
						return err
					}
				}
				return nil
			})
			if pixpool.ErrorCode(err) != pixpool.EINVALID || !strings.Contains(pixpool.ErrorMessage(err), tt.want) {
				t.Fatalf("ImportTables()=%v, want EINVALID naming %q", err, tt.want)
			}
			if got, err := s.Settings(ctx); err != nil || len(got) != 1 || got["site.name"] != "pixpool" {
				t.Fatalf("Settings()=%v, %v; want them unchanged", got, err)
			}
		})
	}
}

func TestStore_SchemaVersion(t *testing.T) {
	s := open(t)
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != len(migrations) {
		t.Fatalf("SchemaVersion()=%d, %v; want %d", v, err, len(migrations))
	}
}

func BenchmarkBackup(b *testing.B) {
	storetest.BenchBackup(b, openDSN(b, newDatabase(b)), 50_000)
}

func BenchmarkUsage(b *testing.B) {
	storetest.BenchUsage(b, openDSN(b, newDatabase(b)), 100_000)
}

// versions returns the versions in schema_migrations.
func versions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	return vs
}

// checkVersions fails t unless s's schema has had every migration, once.
func checkVersions(t *testing.T, s *Store) {
	t.Helper()
	var want []int
	for i := range migrations {
		want = append(want, i+1)
	}
	if got := versions(t, s); !slices.Equal(got, want) {
		t.Fatalf("versions=%v, want %v", got, want)
	}
}

func TestOpen_Migrations(t *testing.T) {
	dsn := newDatabase(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open()=%v", err)
	}
	checkVersions(t, s)
	u := &pixpool.User{Username: "ada"}
	if err := s.CreateUser(t.Context(), u, "hash"); err != nil {
		t.Fatalf("CreateUser()=%v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close()=%v", err)
	}

	// Reopening applies nothing again and keeps the data.
	s = openDSN(t, dsn)
	checkVersions(t, s)
	if _, err := s.UserByUsername(t.Context(), "ada"); err != nil {
		t.Fatalf("UserByUsername() after reopening=%v", err)
	}
}

func TestOpen_NewerSchema(t *testing.T) {
	dsn := newDatabase(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open()=%v", err)
	}
	newer := len(migrations) + 1
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, newer); err != nil {
		t.Fatalf("insert version: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close()=%v", err)
	}

	s, err = Open(t.Context(), dsn)
	if err == nil {
		s.Close()
		t.Fatalf("Open() of a schema newer than the code=nil, want an error")
	}
	if want := fmt.Sprintf("version %d is newer", newer); !strings.Contains(err.Error(), want) {
		t.Fatalf("Open()=%v, want an error saying %q", err, want)
	}
}

// TestOpen_Concurrent opens one new database from several stores at once,
// as replicas starting together do: each must succeed, and the migrations
// must run once.
func TestOpen_Concurrent(t *testing.T) {
	dsn := newDatabase(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Open: %v", err)
	}
	checkVersions(t, stores[0])
	// Every store works on the one schema.
	for i, s := range stores {
		u := &pixpool.User{Username: fmt.Sprintf("user%d", i)}
		if err := s.CreateUser(t.Context(), u, "hash"); err != nil {
			t.Fatalf("CreateUser() on store %d=%v", i, err)
		}
	}
	if users, err := stores[0].Users(t.Context(), 0, 0); err != nil || len(users) != n {
		t.Fatalf("Users()=%d users, %v, want %d", len(users), err, n)
	}
}

func TestOpen_Unreachable(t *testing.T) {
	// Port 1 on loopback refuses at once; connect_timeout bounds the rest.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, "postgres://pixpool:secret-pw@127.0.0.1:1/pixpool?sslmode=disable&connect_timeout=5")
	if err == nil {
		s.Close()
		t.Fatalf("Open(unreachable)=nil, want an error")
	}
	if !strings.HasPrefix(err.Error(), "postgres: open: ") || strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("Open(unreachable)=%v, want a postgres: open: error without the password", err)
	}
}

func TestOpen_BadDSN(t *testing.T) {
	s, err := Open(t.Context(), "postgres://pixpool:secret-pw@127.0.0.1/pixpool?pool_max_conns=none")
	if err == nil {
		s.Close()
		t.Fatalf("Open(bad pool_max_conns)=nil, want an error")
	}
	if strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("Open()=%v, shows the password", err)
	}
}

// TestStore_Unstorable checks text PostgreSQL cannot hold (NUL, invalid
// UTF-8), which SQLite takes: lookups by it find nothing, a failed login
// under it is still counted, filters by it compare bytewise, and writing
// it is EINVALID rather than an internal error.
func TestStore_Unstorable(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	u := &pixpool.User{Username: "ada"}
	if err := s.CreateUser(ctx, u, "hash"); err != nil {
		t.Fatalf("CreateUser()=%v", err)
	}
	for _, key := range []string{"é1.png", "é2.png", "e.png"} {
		img := &pixpool.Image{OwnerID: u.ID, Key: key, BlobKey: "b/" + key, ContentType: "image/png"}
		if _, err := s.PutImage(ctx, img); err != nil {
			t.Fatalf("PutImage(%q)=%v", key, err)
		}
	}
	for _, bad := range []string{"nul\x00", "bad\xff", "\xc3"} {
		if _, err := s.UserByUsername(ctx, bad); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("UserByUsername(%q)=%v, want ENOTFOUND", bad, err)
		}
		if _, err := s.Image(ctx, u.ID, bad); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("Image(%q)=%v, want ENOTFOUND", bad, err)
		}
		if _, err := s.Setting(ctx, bad); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("Setting(%q)=%v, want ENOTFOUND", bad, err)
		}
		if err := s.SetSetting(ctx, "name", bad); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("SetSetting(value %q)=%v, want EINVALID", bad, err)
		}
		if _, err := s.AddSetting(ctx, "name", bad); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("AddSetting(value %q)=%v, want EINVALID", bad, err)
		}
		key := "user:" + bad
		lim := pixpool.AttemptLimit{Free: 1, Delay: time.Hour, MaxDelay: time.Hour, Forget: time.Hour}
		if wait, err := s.TakeAttempt(ctx, key, time.Now(), lim); err != nil || wait != 0 {
			t.Fatalf("TakeAttempt(%q)=%v, %v, want 0", key, wait, err)
		}
		if wait, err := s.TakeAttempt(ctx, key, time.Now(), lim); err != nil || wait == 0 {
			t.Fatalf("TakeAttempt(%q) again=%v, %v, want a wait", key, wait, err)
		}
		if err := s.ClearAttempts(ctx, key, time.Now().Add(-time.Hour)); err != nil {
			t.Fatalf("ClearAttempts(%q)=%v", key, err)
		}
		if err := s.CreateUserWithInvite(ctx, &pixpool.User{Username: "x"}, "h", bad, time.Now()); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("CreateUserWithInvite(invite %q)=%v, want EINVALID", bad, err)
		}
		if err := s.CreateFirstAdmin(ctx, &pixpool.User{Username: "x"}, "h", bad, time.Now()); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("CreateFirstAdmin(token %q)=%v, want ENOTFOUND", bad, err)
		}
	}
	tests := []struct {
		f    pixpool.ImageFilter
		want []string
	}{
		{pixpool.ImageFilter{Prefix: "\xc3"}, []string{"é1.png", "é2.png"}}, // the first byte of é
		{pixpool.ImageFilter{Prefix: "e\x00"}, nil},
		{pixpool.ImageFilter{After: "\xc3\xa91\xff"}, []string{"é2.png"}},
		{pixpool.ImageFilter{Prefix: "\xc3", After: "\xc3\xa91\xff"}, []string{"é2.png"}},
	}
	for _, tt := range tests {
		images, err := s.Images(ctx, tt.f)
		if err != nil {
			t.Fatalf("Images(%+v)=%v", tt.f, err)
		}
		var got []string
		for _, img := range images {
			got = append(got, img.Key)
		}
		if !slices.Equal(got, tt.want) {
			t.Fatalf("Images(%+v)=%q, want %q", tt.f, got, tt.want)
		}
	}
	if n, err := s.CountImages(ctx, pixpool.ImageFilter{Prefix: "\xc3"}); err != nil || n != 2 {
		t.Fatalf("CountImages(Prefix: %q)=%d, %v, want 2", "\xc3", n, err)
	}
}

// TestStore_PutImageRace puts one key from many stores, as replicas do, with
// deletes between, and checks that every replaced row is reported exactly
// once: a row replaced but not returned would leak its blob.
func TestStore_PutImageRace(t *testing.T) {
	dsn := newDatabase(t)
	stores := []*Store{openDSN(t, dsn), openDSN(t, dsn), openDSN(t, dsn)}
	ctx := t.Context()
	u := &pixpool.User{Username: "ada"}
	if err := stores[0].CreateUser(ctx, u, "hash"); err != nil {
		t.Fatalf("CreateUser()=%v", err)
	}
	const perWorker = 30
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex          // guards put, gone, errs
		put      = map[string]bool{} // blob keys stored
		gone     = map[string]int{}  // blob keys reported replaced or deleted, and how often
		errs     []error
		workers  = 6
		blobName = func(w, i int) string { return fmt.Sprintf("blob-%d-%d", w, i) }
	)
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for i := range perWorker {
				img := &pixpool.Image{OwnerID: u.ID, Key: "shared", BlobKey: blobName(w, i), ContentType: "image/png"}
				old, err := s.PutImage(ctx, img)
				var deleted *pixpool.Image
				if err == nil && i%5 == 4 {
					deleted, err = s.DeleteImage(ctx, u.ID, "shared")
					if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
						err = nil // another worker's delete came first
					}
				}
				mu.Lock()
				put[img.BlobKey] = true
				for _, r := range []*pixpool.Image{old, deleted} {
					if r != nil {
						gone[r.BlobKey]++
					}
				}
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	left, err := stores[0].Images(ctx, pixpool.ImageFilter{})
	if err != nil {
		t.Fatalf("Images()=%v", err)
	}
	for _, img := range left {
		gone[img.BlobKey]++
	}
	for key := range put {
		if gone[key] != 1 {
			t.Fatalf("blob %q was reported replaced, deleted or left %d times, want once", key, gone[key])
		}
	}
}

func TestOpen_NotUTF8(t *testing.T) {
	dsn, err := pixpooltest.PostgresDatabase(t, `ENCODING 'SQL_ASCII' LOCALE 'C'`)
	if err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	s, err := Open(t.Context(), dsn)
	if err == nil {
		s.Close()
		t.Fatalf("Open(SQL_ASCII database)=nil, want an error")
	}
	if !strings.Contains(err.Error(), "UTF8") {
		t.Fatalf("Open(SQL_ASCII database)=%v, want an error naming UTF8", err)
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
		{"é", "ê", true},
		{"¿", "À", true}, // U+00BF: the last byte would become 0xc0, which is not UTF-8
		{"\u007f", "\u0080", true},
		{"\u07ff", "\u0800", true},
		{"\ud7ff", "\ue000", true}, // past the surrogates
		{"\uffff", "\U00010000", true},
		{"x\U0010ffff", "y", true},
		{"\U0010ffff\U0010ffff", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := prefixEnd(tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Fatalf("prefixEnd(%q)=%q, %v, want %q, %v", tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}

// TestSearchImages_OwnerFirst: a search scans the owner's images and looks
// each one's analysis up, never matching across every user's analyses by
// the GIN index first, even where that index would be the cheaper start
// (a rare word, an owner with many images).
func TestSearchImages_OwnerFirst(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	for _, q := range []string{
		`INSERT INTO users (username, first_name, last_name, email, birthday, phone, password_hash, created_at, updated_at)
			SELECT 'u' || n, 'U', 'U', 'u@example.org', '1990-01-01', '', '', now(), now() FROM generate_series(1, 2) n`,
		`INSERT INTO images (owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at)
			SELECT (SELECT min(id) FROM users) + (n % 10 = 0)::int, 'k' || n, 'b' || n, '', 1, 'image/png', 1, 1, '', now() FROM generate_series(1, 20000) n`,
		`INSERT INTO analyses (image_id, checksum, status, labels, lines, error, attempts, updated_at, queued_at, search)
			SELECT id, '', 'done', '[]', '[]', '', 1, now(), now(),
				to_tsvector('simple', CASE WHEN id % 199 = 0 THEN 'zebra' ELSE 'cat dog' END) FROM images`,
		`ANALYZE`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var owner int64
	if err := s.pool.QueryRow(ctx, `SELECT min(id) FROM users`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	var plan []struct{ Plan planNode }
	var raw []byte
	if err := s.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+searchQuery, owner, "zebra", pixpool.AnalysisDone, 10).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) != 1 {
		t.Fatalf("plan %s: %v", raw, err)
	}
	n := plan[0].Plan
	for n.Relation == "" && len(n.Plans) > 0 {
		n = n.Plans[0] // the outer side of a join
	}
	if n.Relation != "images" {
		t.Fatalf("the search starts with %s of %q, want the owner's images: %s", n.Type, n.Relation, raw)
	}
	// Analyses are only looked up by image, one of the owner's at a time:
	// neither the GIN index nor a scan reads every user's.
	var walk func(planNode)
	walk = func(n planNode) {
		if n.Relation == "analyses" && (n.Type != "Index Scan" || n.Index != "analyses_pkey") {
			t.Fatalf("the search reads analyses by %s %s, want by image: %s", n.Type, n.Index, raw)
		}
		if n.Index == "analyses_search" {
			t.Fatalf("the search uses the full-text index across every user: %s", raw)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plan[0].Plan)
	var want int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM images i JOIN analyses a ON a.image_id = i.id
		WHERE i.owner_id = $1 AND a.search @@ to_tsquery('simple', 'zebra')`, owner).Scan(&want); err != nil {
		t.Fatal(err)
	}
	images, err := s.SearchImages(ctx, owner, "zebra", 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range images {
		if img.OwnerID != owner {
			t.Fatalf("SearchImages(zebra) found %q of owner %d, want only %d's", img.Key, img.OwnerID, owner)
		}
	}
	if len(images) != want || want == 0 {
		t.Fatalf("SearchImages(zebra) found %d images, want %d", len(images), want)
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON)'s plan.
type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}
