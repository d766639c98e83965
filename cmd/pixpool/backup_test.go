package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/backup"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/service"
)

// admin runs a pixpool admin command against s's stores (its --data, and
// --db when it runs on PostgreSQL) and returns its output and error.
func (s *server) admin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	flags := []string{"--data", s.Config.Data}
	if s.Config.DB != "" {
		flags = append(flags, "--db", s.Config.DB)
	}
	args = append(args[:2:2], append(flags, args[2:]...)...)
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, errOut.String())
	}
	return out.String(), err
}

// must is admin for a command that must succeed.
func (s *server) must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := s.admin(t, stdin, args...)
	if err != nil {
		t.Fatalf("pixpool %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// account creates a user with password "password123" and returns an API
// client of theirs.
func (s *server) account(t *testing.T, name string, admin bool) *client {
	t.Helper()
	args := []string{"user", "create"}
	if admin {
		args = append(args, "--admin")
	}
	s.must(t, "password123\n", append(args, name)...)
	return &client{t, s.url, strings.TrimSpace(s.must(t, "", "apikey", "create", name))}
}

// pgServer starts serve on a new PostgreSQL database.
func pgServer(t *testing.T, c Config) *server {
	t.Helper()
	dsn, err := pixpooltest.PostgresDatabase(t, "ENCODING 'UTF8'")
	if err != nil {
		t.Fatal(err)
	}
	c.DB = dsn
	return startServer(t, c)
}

// exported is every row of every backed-up table, each row as text. The
// settings a restore keeps as they are (backup.KeepOnRestore) are listed
// apart, under keptSettings.
type exported map[string][]string

const keptSettings = "settings kept on restore"

func export(t *testing.T, st pixpool.Store) exported {
	t.Helper()
	ex := exported{}
	err := st.ExportTables(context.Background(), func(tb *pixpool.BackupTableDef, row []any) error {
		name := tb.Name
		if tb.Name == "settings" && slices.Contains(backup.NotBackedUp, row[0].(string)) {
			return nil // never in an archive
		}
		if tb.Name == "settings" && slices.Contains(backup.KeepOnRestore, row[0].(string)) {
			name = keptSettings
		}
		vals := make([]string, len(row))
		for i, v := range row {
			switch v := v.(type) {
			case nil:
				vals[i] = "NULL"
			case time.Time:
				vals[i] = v.UTC().Format(time.RFC3339Nano)
			default:
				vals[i] = fmt.Sprintf("%#v", v)
			}
		}
		ex[name] = append(ex[name], strings.Join(vals, " | "))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// wantSameRows compares two exports table by table, row by row.
func wantSameRows(t *testing.T, got, want exported) {
	t.Helper()
	for _, tb := range pixpool.BackupTables {
		g, w := got[tb.Name], want[tb.Name]
		for i := range max(len(g), len(w)) {
			var gr, wr string
			if i < len(g) {
				gr = g[i]
			}
			if i < len(w) {
				wr = w[i]
			}
			if gr != wr {
				t.Errorf("%s row %d:\n got  %s\n want %s", tb.Name, i+1, gr, wr)
			}
		}
	}
}

// counts returns the rows per table of an export.
func (ex exported) counts() map[string]int64 {
	n := map[string]int64{}
	for _, tb := range pixpool.BackupTables {
		n[tb.Name] = int64(len(ex[tb.Name]))
	}
	n["settings"] += int64(len(ex[keptSettings]))
	return n
}

// fill gives a server's store accounts (ada with an API key), images of
// two users, their analyses and a setting, and returns ada's client.
func fill(t *testing.T, s *server) (ada *client) {
	t.Helper()
	ctx := context.Background()
	ada = s.account(t, "ada", false)
	bob := s.account(t, "bob", false)
	for i, key := range []string{"cat", "dog", "fish", "holiday/beach #1.png"} {
		expect(t, ada.do("PUT", keyPath(key), bytes.NewReader(pixpooltest.PNG(t, 30+i, 20, uint8(i)))), http.StatusCreated)
	}
	expect(t, bob.do("PUT", keyPath("cat"), bytes.NewReader(pixpooltest.PNG(t, 12, 12, 9))), http.StatusCreated)
	s.Images.Wait() // the thumbnails made, their sizes in the rows
	for _, who := range []struct{ user, key string }{{"ada", "cat"}, {"ada", "fish"}, {"bob", "cat"}} {
		u, err := s.Store.UserByUsername(ctx, who.user)
		if err != nil {
			t.Fatal(err)
		}
		img, err := s.Store.Image(ctx, u.ID, who.key)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store.EnqueueAnalysis(ctx, img.ID); err != nil {
			t.Fatal(err)
		}
		err = s.Store.SaveAnalysis(ctx, &pixpool.Analysis{ImageID: img.ID, Checksum: img.Checksum, Status: pixpool.AnalysisDone,
			Labels:    []pixpool.Label{{Name: "cat", Confidence: 91.25, Box: pixpool.Box{X0: 1, Y0: 2, X1: 10, Y1: 12}}},
			Lines:     []pixpool.TextLine{{Text: "Größe: ünïcode «text»", Confidence: 80, Box: pixpool.Box{X1: 5, Y1: 5}}},
			Attempts:  1,
			UpdatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Store.SetSetting(ctx, "test.note", "set before the backup"); err != nil {
		t.Fatal(err)
	}
	return ada
}

// webLogin logs in through the login form and reports whether it worked.
func webLogin(t *testing.T, base, user, pw string) bool {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/login", url.Values{"username": {user}, "password": {pw}, "next": {"/images"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/images"
}

// backupJSON and reportJSON decode the admin API's answers.
type backupJSON struct {
	Name   string
	Status string
	Size   int64
	Rows   map[string]int64
}

type reportJSON struct {
	Backup        string
	Rows          map[string]int64
	MissingImages []backup.MissingImage `json:"missing_images"`
	MissingCount  int                   `json:"missing_count"`
	Warnings      []string
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// TestBackup_RoundTrip backs up through the API, changes and deletes
// things, restores, and finds the store as it was, on both stores.
func TestBackup_RoundTrip(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		testRoundTrip(t, startServer(t, Config{CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"}))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		testRoundTrip(t, pgServer(t, Config{CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"}))
	})
}

func testRoundTrip(t *testing.T, s *server) {
	ctx := context.Background()
	root := s.account(t, "root", true)
	ada := fill(t, s)
	adaUser, _ := s.Store.UserByUsername(ctx, "ada")
	bobUser, _ := s.Store.UserByUsername(ctx, "bob")
	expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK)

	bk := decode[backupJSON](t, expect(t, root.do("POST", "/api/v1/admin/backups", nil), http.StatusCreated))
	before := export(t, s.Store) // nothing changed since the backup
	if bk.Status != "ok" || !mapsEqual(bk.Rows, before.counts()) {
		t.Fatalf("backup %+v, want rows %v", bk, before.counts())
	}
	oldCat, err := s.Store.Image(ctx, adaUser.ID, "cat")
	if err != nil {
		t.Fatal(err)
	}
	oldCatBytes := expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK)
	fishBytes := expect(t, ada.do("GET", keyPath("fish"), nil), http.StatusOK)

	// Change and delete things.
	s.must(t, "a new password\n", "user", "set-password", "ada")
	expect(t, root.do("PATCH", fmt.Sprintf("/api/v1/admin/users/%d", bobUser.ID), strings.NewReader(`{"disabled":true}`)), http.StatusOK)
	carol := s.account(t, "carol", false) // pixpool deletes no accounts; a new one must go
	expect(t, carol.do("PUT", keyPath("mine"), bytes.NewReader(pixpooltest.PNG(t, 9, 9, 4))), http.StatusCreated)
	newCat := pixpooltest.PNG(t, 44, 44, 77)
	expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(newCat)), http.StatusCreated)
	expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK)
	expect(t, ada.do("DELETE", keyPath("dog"), nil), http.StatusOK)
	expect(t, ada.do("DELETE", "/api/v1/trash", nil), http.StatusOK) // for good, with its bytes
	expect(t, ada.do("PUT", keyPath("new"), bytes.NewReader(pixpooltest.PNG(t, 9, 9, 5))), http.StatusCreated)
	expect(t, root.do("PUT", "/api/v1/admin/cache", strings.NewReader(`{"capacity_mb":16,"policy":"rr"}`)), http.StatusOK)
	expect(t, root.do("PUT", "/api/v1/admin/pool/mode", strings.NewReader(`{"mode":"auto"}`)), http.StatusOK)
	if err := s.Store.SetSetting(ctx, "test.note", "changed"); err != nil {
		t.Fatal(err)
	}
	// Replacing an image deletes its old bytes. Put them back, as a blob
	// store that keeps versions would have them, so that reading the image
	// tells the restored bytes from the newer ones the cache holds.
	s.Images.Wait()
	if err := s.Blobs.Put(ctx, oldCat.BlobKey, bytes.NewReader(oldCatBytes)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Get(ctx, service.CacheKey(adaUser.ID, "cat")); err != nil {
		t.Fatalf("the new cat is not cached: %v", err)
	}

	rep := decode[reportJSON](t, expect(t, root.do("POST", "/api/v1/admin/backups/"+bk.Name+"/restore", nil), http.StatusOK))
	after := export(t, s.Store)
	wantSameRows(t, after, before)
	if rep.Backup != bk.Name || !mapsEqual(rep.Rows, before.counts()) || len(rep.Warnings) != 0 {
		t.Fatalf("report %+v", rep)
	}
	// dog was deleted after the backup, with its bytes.
	if rep.MissingCount != 1 || len(rep.MissingImages) != 1 || rep.MissingImages[0].Owner != "ada" || rep.MissingImages[0].Key != "dog" {
		t.Fatalf("missing images %+v", rep.MissingImages)
	}

	t.Run("OldPassword", func(t *testing.T) {
		if !webLogin(t, s.url, "ada", "password123") {
			t.Fatal("the password of the backup does not log in")
		}
		if webLogin(t, s.url, "ada", "a new password") {
			t.Fatal("the password set after the backup still logs in")
		}
		if !webLogin(t, s.url, "bob", "password123") {
			t.Fatal("bob, disabled after the backup, cannot log in")
		}
		if webLogin(t, s.url, "carol", "password123") {
			t.Fatal("carol, made after the backup, logs in")
		}
		expect(t, carol.do("GET", "/api/v1/me", nil), http.StatusUnauthorized)
	})

	t.Run("Images", func(t *testing.T) {
		if got := expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK); !bytes.Equal(got, oldCatBytes) {
			t.Fatal("cat: not the restored bytes (the cache was not cleared?)")
		}
		if got := expect(t, ada.do("GET", keyPath("fish"), nil), http.StatusOK); !bytes.Equal(got, fishBytes) {
			t.Fatal("fish: wrong bytes")
		}
		expect(t, ada.do("GET", keyPath("new"), nil), http.StatusNotFound)
		if b := expect(t, ada.do("GET", "/api/v1/images", nil), http.StatusOK); !strings.Contains(string(b), `"holiday/beach #1.png"`) {
			t.Fatalf("list: %s", b)
		}
	})

	t.Run("Pool", func(t *testing.T) {
		st := s.Manager.State()
		if st.CapacityMB != 8 || st.Policy != "lru" || st.Mode != manager.ModeManual {
			t.Fatalf("pool after the restore: %d MB, %s, %s", st.CapacityMB, st.Policy, st.Mode)
		}
		type poolJSON struct {
			CapacityMB int `json:"capacity_mb"`
			Nodes      []struct{ Capacity int64 }
		}
		pool := decode[poolJSON](t, expect(t, root.do("GET", "/api/v1/admin/pool", nil), http.StatusOK))
		if pool.CapacityMB != 8 || len(pool.Nodes) != 1 || pool.Nodes[0].Capacity != 8<<20 {
			t.Fatalf("pool %+v", pool)
		}
	})
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestBackup_CrossStore restores a backup of SQLite onto PostgreSQL and one
// of PostgreSQL onto SQLite, through the archive downloaded from one
// server and uploaded to the other, which shares the first one's blobs.
func TestBackup_CrossStore(t *testing.T) {
	serve := func(t *testing.T, pg bool, c Config) *server {
		if pg {
			return pgServer(t, c)
		}
		return startServer(t, c)
	}
	for _, tt := range []struct {
		name         string
		fromPG, toPG bool
	}{
		{"SQLiteToPostgreSQL", false, true},
		{"PostgreSQLToSQLite", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			from := serve(t, tt.fromPG, Config{})
			root := from.account(t, "root", true)
			ada := fill(t, from)
			bk := decode[backupJSON](t, expect(t, root.do("POST", "/api/v1/admin/backups", nil), http.StatusCreated))
			before := export(t, from.Store)
			resp := root.do("GET", "/api/v1/admin/backups/"+bk.Name+"/archive", nil)
			archive := expect(t, resp, http.StatusOK)
			if resp.Header.Get("Content-Type") != "application/gzip" ||
				resp.Header.Get("Content-Disposition") != `attachment; filename="pixpool-`+bk.Name+`.tar.gz"` ||
				resp.Header.Get("Content-Length") != fmt.Sprint(len(archive)) {
				t.Fatalf("download headers %v", resp.Header)
			}
			cat := expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK)

			// The other server's sweep must spare the images it does not
			// know yet (the test's are younger than the default grace).
			to := serve(t, tt.toPG, Config{Blob: "file:" + filepath.Join(from.Config.Data, "blobs"), SweepGrace: time.Hour})
			other := to.account(t, "other", true)
			rep := decode[reportJSON](t, expect(t, other.do("POST", "/api/v1/admin/backups/restore", bytes.NewReader(archive),
				"Content-Type", "application/gzip"), http.StatusOK))
			if rep.Backup != bk.Name || !mapsEqual(rep.Rows, before.counts()) || rep.MissingCount != 0 {
				t.Fatalf("report %+v", rep)
			}
			wantSameRows(t, export(t, to.Store), before)
			// The accounts and images of the first server work on the other.
			adaThere := &client{t, to.url, ada.key}
			if got := expect(t, adaThere.do("GET", keyPath("cat"), nil), http.StatusOK); !bytes.Equal(got, cat) {
				t.Fatal("cat: wrong bytes after the move")
			}
			if !webLogin(t, to.url, "ada", "password123") {
				t.Fatal("ada cannot log in after the move")
			}
			expect(t, other.do("GET", "/api/v1/me", nil), http.StatusUnauthorized) // not in the backup
			// New rows get ids past the restored ones.
			expect(t, adaThere.do("PUT", keyPath("after the move"), bytes.NewReader(pixpooltest.PNG(t, 5, 5, 1))), http.StatusCreated)
			to.must(t, "password123\n", "user", "create", "dave")
		})
	}
}

// TestBackup_NonAdmins: users who are not admins cannot list, take,
// download or restore backups, nor set their schedule; the portal page is
// not there for them.
func TestBackup_NonAdmins(t *testing.T) {
	s := startServer(t, Config{})
	root := s.account(t, "root", true)
	ada := s.account(t, "ada", false)
	bk := decode[backupJSON](t, expect(t, root.do("POST", "/api/v1/admin/backups", nil), http.StatusCreated))
	archive := expect(t, root.do("GET", "/api/v1/admin/backups/"+bk.Name+"/archive", nil), http.StatusOK)
	anon := &client{t, s.url, ""}
	for _, c := range []struct {
		method, path string
		body         []byte
	}{
		{"GET", "/api/v1/admin/backups", nil},
		{"POST", "/api/v1/admin/backups", nil},
		{"GET", "/api/v1/admin/backups/" + bk.Name, nil},
		{"GET", "/api/v1/admin/backups/" + bk.Name + "/archive", nil},
		{"POST", "/api/v1/admin/backups/" + bk.Name + "/restore", nil},
		{"POST", "/api/v1/admin/backups/restore", archive},
		{"PUT", "/api/v1/admin/backups/config", []byte(`{"schedule":"off"}`)},
	} {
		b := expect(t, ada.do(c.method, c.path, bytes.NewReader(c.body), "Content-Type", "application/gzip"), http.StatusNotFound)
		if code, _ := apiError(t, b); code != pixpool.ENOTFOUND {
			t.Fatalf("%s %s: %s", c.method, c.path, b)
		}
		expect(t, anon.do(c.method, c.path, bytes.NewReader(c.body), "Content-Type", "application/gzip"), http.StatusUnauthorized)
	}
	list := decode[struct{ Backups []backupJSON }](t, expect(t, root.do("GET", "/api/v1/admin/backups", nil), http.StatusOK))
	if len(list.Backups) != 1 {
		t.Fatalf("refused calls took backups: %+v", list)
	}
	if cfg, _ := s.Backups.Config(context.Background()); cfg.Schedule != backup.DefaultSchedule {
		t.Fatalf("a refused call set the schedule: %+v", cfg)
	}

	// The portal: 404 for ada, the login page for nobody.
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := web.PostForm(s.url+"/login", url.Values{"username": {"ada"}, "password": {"password123"}, "next": {"/"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	for _, path := range []string{"/admin/backups", "/admin/backups/" + bk.Name + "/download", "/admin/backups/restore?name=" + bk.Name} {
		resp, err := web.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte(bk.Name)) {
			t.Fatalf("ada GET %s: %d", path, resp.StatusCode)
		}
		resp, err = (&http.Client{CheckRedirect: web.CheckRedirect}).Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Fatalf("anonymous GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestBackup_CLI takes, lists and restores backups from the command line,
// with a server running and without one, and sets the schedule.
func TestBackup_CLI(t *testing.T) {
	s := startServer(t, Config{CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"})
	root := s.account(t, "root", true)
	fill(t, s)
	before := export(t, s.Store)

	out := s.must(t, "", "backup", "create")
	name, _, _ := strings.Cut(out, ":")
	if backup.ValidName(name) != nil || !strings.Contains(out, "verified") ||
		!strings.Contains(out, "rows: users 3, api_keys 3, images 5, trash 0, analyses 3, settings ") {
		t.Fatalf("create:\n%s", out)
	}
	out = s.must(t, "", "backup", "list")
	if !strings.Contains(out, name) || !strings.Contains(out, "daily at 03:00 UTC; keeping the newest 3") || !strings.Contains(out, " cli ") {
		t.Fatalf("list:\n%s", out)
	}
	if b := expect(t, root.do("GET", "/api/v1/admin/backups/"+name, nil), http.StatusOK); !strings.Contains(string(b), `"trigger":"cli"`) {
		t.Fatalf("the API does not see the CLI's backup: %s", b)
	}
	file := filepath.Join(t.TempDir(), "pixpool-"+name+".tar.gz")
	if err := os.WriteFile(file, expect(t, root.do("GET", "/api/v1/admin/backups/"+name+"/archive", nil), http.StatusOK), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("Config", func(t *testing.T) {
		for _, args := range [][]string{{"--schedule", "24:00"}, {"--schedule", "noon"}, {"--keep", "0"}, {"--keep", "many"}, {"--keep", "101"}} {
			if out, err := s.admin(t, "", append([]string{"backup", "config"}, args...)...); err == nil {
				t.Fatalf("config %v accepted: %s", args, out)
			} else {
				t.Logf("config %v: %v", args, err)
			}
		}
		if out := s.must(t, "", "backup", "config", "--schedule", "1:05", "--keep", "5"); out != "saved: daily at 01:05 UTC; keeping the newest 5\n" {
			t.Fatalf("config: %q", out)
		}
		if out := s.must(t, "", "backup", "config", "--schedule", "off"); out != "saved: no scheduled backups; keeping the newest 5\n" {
			t.Fatalf("config: %q", out)
		}
		if out := s.must(t, "", "backup", "config"); out != "no scheduled backups; keeping the newest 5\n" {
			t.Fatalf("config: %q", out)
		}
	})

	t.Run("RestoreConfirm", func(t *testing.T) {
		s.must(t, "password123\n", "user", "create", "erin")
		for _, stdin := range []string{"", "yes\n", "restore\n"} {
			if _, err := s.admin(t, stdin, "backup", "restore", file); err == nil {
				t.Fatalf("restore confirmed by %q", stdin)
			}
		}
		if _, err := s.admin(t, "", "backup", "restore", "--yes", "backup-20000101-000000-abcdef"); err == nil {
			t.Fatal("restored a backup that does not exist")
		}
		if _, err := s.admin(t, "", "backup", "restore", "--yes", filepath.Join(t.TempDir(), "missing.tar.gz")); err == nil {
			t.Fatal("restored a file that does not exist")
		}
		if _, err := s.Store.UserByUsername(context.Background(), "erin"); err != nil {
			t.Fatalf("a refused restore restored: %v", err)
		}
	})

	t.Run("RestoreFileServerRunning", func(t *testing.T) {
		expect(t, root.do("PUT", "/api/v1/admin/cache", strings.NewReader(`{"capacity_mb":16}`)), http.StatusOK)
		out := s.must(t, "RESTORE\n", "backup", "restore", file)
		for _, want := range []string{"restored " + name, "users     3", "every restored image has its bytes",
			"cache: the running server applied the backup's pool settings and cleared the cache"} {
			if !strings.Contains(out, want) {
				t.Fatalf("restore output lacks %q:\n%s", want, out)
			}
		}
		wantSameRows(t, export(t, s.Store), before)
		if st := s.Manager.State(); st.CapacityMB != 8 {
			t.Fatalf("capacity %d after the restore", st.CapacityMB)
		}
	})

	t.Run("RestoreNameNoServer", func(t *testing.T) {
		expect(t, root.do("PUT", "/api/v1/admin/cache", strings.NewReader(`{"capacity_mb":16,"policy":"rr"}`)), http.StatusOK)
		data := s.Config.Data
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		out := cli(t, data, "", "backup", "restore", "--yes", name)
		if !strings.Contains(out, "restored "+name) || !strings.Contains(out, "no cache pool was running, so there was no cache to clear") ||
			!strings.Contains(out, "(8 MB per node, lru, manual mode)") {
			t.Fatalf("restore output:\n%s", out)
		}
		// The next serve runs the pool with the backup's settings.
		s2 := startServer(t, Config{Data: data, CacheSize: 1, CacheCapacity: 32, CachePolicy: "rr"})
		if st := s2.Manager.State(); st.CapacityMB != 8 || st.Policy != "lru" {
			t.Fatalf("pool after a restore without a server: %d MB, %s", st.CapacityMB, st.Policy)
		}
		wantSameRows(t, export(t, s2.Store), before)

		// The portal lists the CLI's backup, "by" whoever ran it.
		resp, body := portalGet(t, s2, "root", "/admin/backups")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, name) || !strings.Contains(body, "Command line") {
			t.Fatalf("portal: %d\n%s", resp.StatusCode, body)
		}
	})
}

// portalGet logs user (password "password123") in and gets a page.
func portalGet(t *testing.T, s *server, user, path string) (*http.Response, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := web.PostForm(s.url+"/login", url.Values{"username": {user}, "password": {"password123"}, "next": {"/"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v", err)
	}
	resp.Body.Close()
	resp, err = web.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(readAll(t, resp))
}

// TestBackup_MissingBytes: a restore lists the images whose bytes are
// gone from the blob store.
func TestBackup_MissingBytes(t *testing.T) {
	s := startServer(t, Config{})
	ctx := context.Background()
	root := s.account(t, "root", true)
	ada := fill(t, s)
	bk := decode[backupJSON](t, expect(t, root.do("POST", "/api/v1/admin/backups", nil), http.StatusCreated))
	u, _ := s.Store.UserByUsername(ctx, "ada")
	img, err := s.Store.Image(ctx, u.ID, "holiday/beach #1.png")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.Config.Data, "blobs", filepath.FromSlash(img.BlobKey))); err != nil {
		t.Fatal(err)
	}
	rep := decode[reportJSON](t, expect(t, root.do("POST", "/api/v1/admin/backups/"+bk.Name+"/restore", nil), http.StatusOK))
	want := []backup.MissingImage{{Owner: "ada", Key: "holiday/beach #1.png", BlobKey: img.BlobKey}}
	if rep.MissingCount != 1 || !slices.Equal(rep.MissingImages, want) {
		t.Fatalf("missing %d: %+v, want %+v", rep.MissingCount, rep.MissingImages, want)
	}
	expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK)
}

// TestBackup_CLIFixedNodes: a restore with no server running clears the
// existing nodes of --cache-nodes, which outlive it.
func TestBackup_CLIFixedNodes(t *testing.T) {
	a, b := pixpooltest.Memcached(t), pixpooltest.Memcached(t)
	s := startServer(t, Config{CacheNodes: a + "," + b, CacheCapacity: 32})
	ctx := context.Background()
	ada := s.account(t, "ada", false)
	expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(pixpooltest.PNG(t, 12, 12, 5))), http.StatusCreated)
	u, _ := s.Store.UserByUsername(ctx, "ada")
	out := s.must(t, "", "backup", "create")
	name, _, _ := strings.Cut(out, ":")
	data := s.Config.Data
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	nodes := &pool.Client{Logger: discardLogger()}
	defer nodes.Close()
	nodes.SetLayout(1, []pool.NodeInfo{{ID: a, Addr: a}, {ID: b, Addr: b}})
	if _, err := nodes.Get(ctx, service.CacheKey(u.ID, "cat")); err != nil {
		t.Fatalf("cat is not in the cache: %v", err)
	}
	out = cli(t, data, "", "backup", "restore", "--yes", name)
	if !strings.Contains(out, "the 2 cache nodes of --cache-nodes were cleared") {
		t.Fatalf("restore output:\n%s", out)
	}
	if _, err := nodes.Get(ctx, service.CacheKey(u.ID, "cat")); !errors.Is(err, pixpool.ErrCacheMiss) {
		t.Fatalf("cat after the restore: %v", err)
	}
}
