package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	blobfs "github.com/pixpool/pixpool/blob/fs"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/store/postgres"
	"github.com/pixpool/pixpool/store/sqlite"
)

type fixture struct {
	store pixpool.Store
	blobs pixpool.BlobStore
	svc   *Service
	clock *clock
}

// clock is a controlled clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, st)
}

// newPostgresFixture is newFixture on a new PostgreSQL database (skipped
// without one: see pixpooltest.PostgresDatabase).
func newPostgresFixture(t *testing.T) *fixture {
	t.Helper()
	dsn, err := pixpooltest.PostgresDatabase(t, "ENCODING 'UTF8'")
	if err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, st)
}

// newFixtureOn makes a fixture of the store st, which it closes when t
// ends.
func newFixtureOn(t *testing.T, st pixpool.Store) *fixture {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	dir := t.TempDir()
	bl, err := blobfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	f := &fixture{store: st, blobs: bl, clock: c}
	f.svc = &Service{Store: st, Blobs: bl, TempDir: t.TempDir(), Now: c.Now, Logger: slog.New(slog.DiscardHandler)}
	return f
}

// fill puts accounts, keys, images, analyses and settings in the store.
func (f *fixture) fill(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for i, name := range []string{"ada", "bob", "Émile"} {
		u := &pixpool.User{Username: name, FirstName: "F" + name, LastName: "L", Email: name + "@example.org",
			Birthday: time.Date(1990+i, 2, 3, 0, 0, 0, 0, time.UTC), Phone: "+1 555 0100", Admin: i == 0, Disabled: i == 2}
		if err := f.store.CreateUser(ctx, u, "hash-of-"+name); err != nil {
			t.Fatal(err)
		}
		k := &pixpool.APIKey{UserID: u.ID, Name: "laptop", Prefix: "pp_" + name, Hash: "keyhash-" + name}
		if err := f.store.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			f.store.TouchAPIKey(ctx, k.ID, time.Date(2026, 10, 1, 1, 2, 3, 4e6, time.UTC))
		}
		for j, key := range []string{"cat.png", "dir/ünïcode key.jpg", "a//b"} {
			id := fmt.Sprintf("%030x%d%d", 0, i, j) // as pixpool names blobs
			img := &pixpool.Image{OwnerID: u.ID, Key: key, BlobKey: pixpool.ImageBlobKey(id, "png"), ThumbKey: "",
				Size: int64(100 * (j + 1)), ContentType: "image/png", Width: 10, Height: 20, Checksum: fmt.Sprintf("%062x%d%d", 0, i, j)}
			if j == 1 {
				img.ThumbKey = pixpool.ThumbBlobKey(id)
			}
			if _, err := f.store.PutImage(ctx, img); err != nil {
				t.Fatal(err)
			}
			if j == 0 {
				f.store.EnqueueAnalysis(ctx, img.ID)
				f.store.SaveAnalysis(ctx, &pixpool.Analysis{ImageID: img.ID, Checksum: img.Checksum, Status: pixpool.AnalysisDone,
					Labels: []pixpool.Label{{Name: "cat", Confidence: 91.5}}, Lines: []pixpool.TextLine{{Text: "hello world", Confidence: 88}}})
			}
		}
	}
	f.store.SetSetting(ctx, "pool.state", `{"capacity_mb":7}`)
	f.store.SetSetting(ctx, "custom", "value")
}

// export reads every backed-up table.
func export(t *testing.T, st pixpool.BackupStore) map[string][][]any {
	t.Helper()
	out := make(map[string][][]any)
	if err := st.ExportTables(context.Background(), func(tb *pixpool.BackupTableDef, row []any) error {
		out[tb.Name] = append(out[tb.Name], row)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	before := export(t, f.store)
	info, err := f.svc.Create(ctx, TriggerCLI, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != StatusOK || info.Rows["users"] != 3 || info.Rows["images"] != 9 || info.Rows["analyses"] != 3 || info.Size == 0 {
		t.Fatalf("info %+v", info)
	}

	// Change and delete things.
	bob, _ := f.store.UserByUsername(ctx, "bob")
	f.store.SetPasswordHash(ctx, bob.ID, "new-hash")
	f.store.DeleteImage(ctx, bob.ID, "cat.png")
	f.store.DeleteAllImages(ctx)
	f.store.SetSetting(ctx, "custom", "changed")
	f.store.SetSetting(ctx, "pool.state", `{"capacity_mb":99}`)
	f.store.SetSetting(ctx, SettingKeep, "5")
	u := &pixpool.User{Username: "mallory", FirstName: "M", LastName: "M", Email: "m@example.org", Birthday: time.Now(), Phone: "1"}
	f.store.CreateUser(ctx, u, "x")
	sess := &pixpool.Session{TokenHash: "t", UserID: bob.ID, CSRFToken: "c", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	f.store.CreateSession(ctx, sess)

	var applied map[string]string
	f.svc.AfterRestore = func(ctx context.Context, settings map[string]string) error { applied = settings; return nil }
	rep, err := f.svc.RestoreNamed(ctx, info.Name, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := export(t, f.store)
	// Kept settings keep their current values; the rest is as backed up.
	for i, row := range before["settings"] {
		if row[0] == SettingKeep {
			t.Fatalf("unexpected %v", row)
		}
		if row[0] == "pool.state" {
			before["settings"][i] = []any{"pool.state", `{"capacity_mb":99}`}
		}
	}
	before["settings"] = append(before["settings"], []any{SettingKeep, "5"})
	sortSettings(before["settings"])
	if !reflect.DeepEqual(before, after) {
		for _, tb := range pixpool.BackupTables {
			if !reflect.DeepEqual(before[tb.Name], after[tb.Name]) {
				t.Errorf("%s differs:\nbefore %v\nafter  %v", tb.Name, before[tb.Name], after[tb.Name])
			}
		}
	}
	if applied["pool.state"] != `{"capacity_mb":7}` || applied["custom"] != "value" {
		t.Errorf("AfterRestore got %v; want the backup's settings", applied)
	}
	if h, _ := f.store.PasswordHash(ctx, bob.ID); h != "hash-of-bob" {
		t.Errorf("bob's hash %q after restore", h)
	}
	if _, err := f.store.Session(ctx, "t"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Errorf("session survived the restore: %v", err)
	}
	if rep.Rows["users"] != 3 || rep.MissingCount != 9 || len(rep.MissingImages) != 9 || rep.MissingImages[0].Owner != "ada" {
		t.Errorf("report %+v", rep)
	}
	if imgs, err := f.store.SearchImages(ctx, bob.ID, "hello", 10); err != nil || len(imgs) != 1 {
		t.Errorf("search after restore: %v, %v", imgs, err)
	}
}

func sortSettings(rows [][]any) {
	for i := range rows {
		for j := i + 1; j < len(rows); j++ {
			if rows[j][0].(string) < rows[i][0].(string) {
				rows[i], rows[j] = rows[j], rows[i]
			}
		}
	}
}

// TestRestoreKeepsSession: the restoring admin stays logged in when the
// backup has their account under the same id and name.
func TestRestoreKeepsSession(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	info, err := f.svc.Create(ctx, TriggerPortal, "ada")
	if err != nil {
		t.Fatal(err)
	}
	ada, _ := f.store.UserByUsername(ctx, "ada")
	sess := &pixpool.Session{TokenHash: "ada-token", UserID: ada.ID, CSRFToken: "c", CreatedAt: time.Now().UTC(), ExpiresAt: time.Now().Add(time.Hour).UTC()}
	if err := f.store.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RestoreNamed(ctx, info.Name, RestoreOptions{KeepSession: sess, KeepUser: ada}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Session(ctx, "ada-token"); err != nil {
		t.Fatalf("the admin's session: %v", err)
	}
}

// TestRetention: after 5 daily runs with a controlled clock exactly the
// newest 3 remain; the schedule runs once a day, not before its time.
func TestRetention(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	f.clock.Set(time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC))
	if err := f.svc.SetConfig(ctx, Config{Schedule: "03:00", Keep: 3}); err != nil {
		t.Fatal(err)
	}
	if info, err := f.svc.Tick(ctx); err != nil || info != nil {
		t.Fatalf("Tick before 03:00 on a new install = %v, %v", info, err)
	}
	var names []string
	for day := 1; day <= 5; day++ {
		f.clock.Set(time.Date(2026, 11, day, 2, 59, 0, 0, time.UTC))
		if info, err := f.svc.Tick(ctx); err != nil || info != nil {
			t.Fatalf("day %d, 02:59: Tick = %v, %v", day, info, err)
		}
		f.clock.Set(time.Date(2026, 11, day, 3, 0, 30, 0, time.UTC))
		info, err := f.svc.Tick(ctx)
		if err != nil || info == nil {
			t.Fatalf("day %d, 03:00: Tick = %v, %v", day, info, err)
		}
		names = append(names, info.Name)
		f.clock.Set(time.Date(2026, 11, day, 17, 0, 0, 0, time.UTC))
		if info, err := f.svc.Tick(ctx); err != nil || info != nil {
			t.Fatalf("day %d, 17:00: a second backup: %v, %v", day, info, err)
		}
	}
	infos, err := f.svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range infos {
		got = append(got, i.Name)
	}
	want := []string{names[4], names[3], names[2]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if archives := f.keys(t, ".tar.gz"); len(archives) != 3 {
		t.Fatalf("archives %v", archives)
	}
	// A day missed while no server ran is caught up at the next check.
	f.clock.Set(time.Date(2026, 11, 8, 9, 0, 0, 0, time.UTC))
	if info, err := f.svc.Tick(ctx); err != nil || info == nil {
		t.Fatalf("catch-up Tick = %v, %v", info, err)
	}
	// Off means off.
	f.svc.SetConfig(ctx, Config{Schedule: "off", Keep: 3})
	f.clock.Set(time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC))
	if info, err := f.svc.Tick(ctx); err != nil || info != nil {
		t.Fatalf("Tick with the schedule off = %v, %v", info, err)
	}
}

func (f *fixture) keys(t *testing.T, suffix string) []string {
	t.Helper()
	var keys []string
	f.blobs.List(context.Background(), Prefix, func(b pixpool.BlobInfo) error {
		if strings.HasSuffix(b.Key, suffix) {
			keys = append(keys, b.Key)
		}
		return nil
	})
	return keys
}

func TestConfig(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if c, err := f.svc.Config(ctx); err != nil || c != (Config{Schedule: "03:00", Keep: 3}) {
		t.Fatalf("default config %+v, %v", c, err)
	}
	for _, c := range []Config{{"25:00", 3}, {"3", 3}, {"03:7", 3}, {"noon", 3}, {"03:00", 0}, {"03:00", MaxKeep + 1}} {
		if err := f.svc.SetConfig(ctx, c); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Errorf("SetConfig(%+v) = %v, want EINVALID", c, err)
		}
	}
	if err := f.svc.SetConfig(ctx, Config{" 4:05 ", 7}); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.svc.Config(ctx); c != (Config{Schedule: "04:05", Keep: 7}) {
		t.Fatalf("config %+v", c)
	}
}

// TestOneAtATime: while another holds the backup lease, backups and
// restores are refused, not run side by side.
func TestOneAtATime(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	info, err := f.svc.Create(ctx, TriggerAPI, "")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.store.AcquireLease(ctx, "backup", "another-replica", time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := f.svc.Create(ctx, TriggerAPI, ""); pixpool.ErrorCode(err) != pixpool.ECONFLICT {
		t.Fatalf("Create while another runs: %v", err)
	}
	if _, err := f.svc.RestoreNamed(ctx, info.Name, RestoreOptions{}); pixpool.ErrorCode(err) != pixpool.ECONFLICT {
		t.Fatalf("Restore while another runs: %v", err)
	}
}

// failingBlobs fails Put of keys with a suffix after some bytes, as a
// crash or a full disk would.
type failingBlobs struct {
	pixpool.BlobStore
	suffix string
}

func (b *failingBlobs) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.HasSuffix(key, b.suffix) {
		return b.BlobStore.Put(ctx, key, io.MultiReader(io.LimitReader(r, 100), iotestErrReader{}))
	}
	return b.BlobStore.Put(ctx, key, r)
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("disk full") }

// TestCrashDuringBackup: a backup that fails part way, or a process that
// dies before the record is written, leaves nothing counted as a backup;
// the next backup removes the leftovers.
func TestCrashDuringBackup(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	good, err := f.svc.Create(ctx, TriggerAPI, "")
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Blobs = &failingBlobs{BlobStore: f.blobs, suffix: ".tar.gz"}
	f.clock.Set(f.clock.Now().Add(time.Minute))
	if _, err := f.svc.Create(ctx, TriggerAPI, ""); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Create with a failing store: %v", err)
	}
	infos, _ := f.svc.List(ctx)
	if len(infos) != 2 || infos[0].Status != StatusFailed || !strings.Contains(infos[0].Error, "disk full") || infos[1].Name != good.Name {
		t.Fatalf("list after a failed backup: %+v", infos)
	}
	if archives := f.keys(t, ".tar.gz"); len(archives) != 1 {
		t.Fatalf("archives after a failed backup: %v", archives)
	}

	// A process that died between the archive and its record.
	f.svc.Blobs = f.blobs
	stray := archiveKey("backup-20261101-120500-abcdef")
	if err := f.blobs.Put(ctx, stray, strings.NewReader("half an archive")); err != nil {
		t.Fatal(err)
	}
	if infos, _ := f.svc.List(ctx); len(infos) != 2 {
		t.Fatalf("a stray archive is listed: %+v", infos)
	}
	f.clock.Set(f.clock.Now().Add(time.Minute))
	if _, err := f.svc.Create(ctx, TriggerAPI, ""); err != nil {
		t.Fatal(err)
	}
	for _, k := range f.keys(t, ".tar.gz") {
		if k == stray {
			t.Fatal("the stray archive survived the next backup")
		}
	}
}

// archiveBytes returns a good backup's archive.
func archiveBytes(t *testing.T, f *fixture) []byte {
	t.Helper()
	info, err := f.svc.Create(context.Background(), TriggerAPI, "")
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := f.svc.Open(context.Background(), info.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rewrite unpacks an archive, lets edit change its files, and packs it
// again, with the manifest's checksums and counts redone unless raw.
func rewrite(t *testing.T, archive []byte, raw bool, edit func(files map[string][]byte, m *Manifest)) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := make(map[string][]byte)
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
		order = append(order, h.Name)
	}
	var m Manifest
	if err := json.Unmarshal(files[manifestFile], &m); err != nil {
		t.Fatal(err)
	}
	edit(files, &m)
	if !raw {
		for i, p := range m.Parts {
			b := files[p.File]
			sum := sha256.Sum256(b)
			m.Parts[i].SHA256, m.Parts[i].Bytes, m.Parts[i].Rows = hex.EncodeToString(sum[:]), int64(len(b)), int64(bytes.Count(b, []byte("\n")))
		}
	}
	files[manifestFile], _ = json.Marshal(m)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for _, name := range order {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		tw.Write(files[name])
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

// TestCorruptArchives: damaged or foreign archives are refused, or rolled
// back, with a clear message, and nothing in the store changes.
func TestCorruptArchives(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	good := archiveBytes(t, f)
	// The store the restores would change: different from the archive.
	bob, _ := f.store.UserByUsername(ctx, "bob")
	f.store.SetPasswordHash(ctx, bob.ID, "changed")
	f.store.DeleteImage(ctx, bob.ID, "cat.png")
	before := export(t, f.store)

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	for _, tt := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"flipped byte", flipped, "damaged"},
		{"truncated", good[:len(good)*2/3], "truncated"},
		{"empty", nil, "not gzip"},
		{"not gzip", []byte("hello, this is not a backup"), "not gzip"},
		{"manifest lies about a checksum", rewrite(t, good, true, func(files map[string][]byte, m *Manifest) {
			m.Parts[0].SHA256 = strings.Repeat("0", 64)
		}), "checksum of users.jsonl does not match"},
		{"manifest lies about rows", rewrite(t, good, true, func(files map[string][]byte, m *Manifest) {
			m.Parts[2].Rows++
		}), "images.jsonl has 9 rows"},
		{"part missing", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			m.Parts = m.Parts[:4]
		}), "lists 4 tables"},
		{"newer schema", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			m.Schema = 999
		}), "newer pixpool"},
		{"newer format", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			m.Format = 2
		}), "archive format 2"},
		{"bad value", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			files["users.jsonl"] = bytes.Replace(files["users.jsonl"], []byte(`"admin":true`), []byte(`"admin":"yes"`), 1)
		}), `users.jsonl row 1: column "admin"`},
		{"unknown column", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			files["settings.jsonl"] = append(files["settings.jsonl"], []byte(`{"name":"x","value":"y","extra":1}`+"\n")...)
		}), `unknown column "extra"`},
		{"a row breaking a constraint", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			files["api_keys.jsonl"] = append(files["api_keys.jsonl"], []byte(`{"id":99,"user_id":12345,"name":"x","prefix":"p","hash":"h99","created_at":"2026-01-01T00:00:00.000Z","last_used_at":null}`+"\n")...)
		}), "api_keys"},
		{"duplicate user", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			first, _, _ := bytes.Cut(files["users.jsonl"], []byte("\n"))
			files["users.jsonl"] = append(files["users.jsonl"], bytes.Replace(first, []byte(`"id":1,`), []byte(`"id":50,`), 1)...)
			files["users.jsonl"] = append(files["users.jsonl"], '\n')
		}), "users"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Restore(ctx, bytes.NewReader(tt.archive), RestoreOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Restore = %v; want an error saying %q", err, tt.want)
			}
			if code := pixpool.ErrorCode(err); code == pixpool.EINTERNAL {
				t.Errorf("error code %s for %v; want a user error", code, err)
			}
			if after := export(t, f.store); !reflect.DeepEqual(before, after) {
				t.Fatal("the store changed")
			}
		})
	}
	// And the good one still restores.
	if _, err := f.svc.Restore(ctx, bytes.NewReader(good), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if h, _ := f.store.PasswordHash(ctx, bob.ID); h != "hash-of-bob" {
		t.Fatalf("hash %q", h)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"backup-20261127-030000-abcdef"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "backup", "../x", "backup-20261127-030000-ABCDEF", "backup-20261127-030000-abcdef.tar.gz", "img/x"} {
		if err := ValidName(bad); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Errorf("ValidName(%q) = %v", bad, err)
		}
	}
}

// TestUnknownBackup: names that do not exist are ENOTFOUND, not errors.
func TestUnknownBackup(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.RestoreNamed(context.Background(), "backup-20260101-000000-000000", RestoreOptions{}); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("RestoreNamed(missing) = %v", err)
	}
	if _, _, err := f.svc.Open(context.Background(), "../../etc/passwd"); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("Open(bad name) = %v", err)
	}
}

// TestOneAtATimeInProcess: two operations of one service do not run side
// by side either.
func TestOneAtATimeInProcess(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- f.svc.lease(ctx, func(context.Context) error { close(inside); <-release; return nil })
	}()
	<-inside
	if _, err := f.svc.Create(ctx, TriggerPortal, ""); pixpool.ErrorCode(err) != pixpool.ECONFLICT {
		t.Fatalf("Create while a restore of the same service runs: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, TriggerPortal, ""); err != nil {
		t.Fatalf("Create once it ended: %v", err)
	}
}

// TestScheduleSurvivesPruning: a scheduled backup pruned by retention
// (after manual ones) does not make the schedule run again the same day.
func TestScheduleSurvivesPruning(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC))
	f.svc.SetConfig(ctx, Config{Schedule: "03:00", Keep: 1})
	f.clock.Set(time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC))
	if info, err := f.svc.Tick(ctx); err != nil || info == nil {
		t.Fatalf("Tick at 03:00 = %v, %v", info, err)
	}
	f.clock.Set(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC))
	manual, err := f.svc.Create(ctx, TriggerPortal, "ada")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(time.Date(2026, 11, 2, 10, 1, 0, 0, time.UTC))
	if info, err := f.svc.Tick(ctx); err != nil || info != nil {
		t.Fatalf("Tick after the scheduled record was pruned = %v, %v; want none", info, err)
	}
	if infos, _ := f.svc.List(ctx); len(infos) != 1 || infos[0].Name != manual.Name {
		t.Fatalf("kept %+v, want the manual backup", infos)
	}
}

// TestSecretsNotBackedUp: the cache nodes' password and the device
// cookies' key never leave in an archive, and a restore keeps the running
// server's.
func TestSecretsNotBackedUp(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	for _, name := range NotBackedUp {
		f.store.SetSetting(ctx, name, "old-secret-"+name)
	}
	archive := archiveBytes(t, f)
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range NotBackedUp {
		if bytes.Contains(all, []byte("old-secret-"+name)) || bytes.Contains(all, []byte(name)) {
			t.Fatalf("the archive holds %s", name)
		}
		f.store.SetSetting(ctx, name, "new-secret-"+name)
	}
	if _, err := f.svc.Restore(ctx, bytes.NewReader(archive), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{"pool.secret", "device.key"}, NotBackedUp...) {
		if !slices.Contains(KeepOnRestore, name) {
			continue
		}
		if v, _ := f.store.Setting(ctx, name); v != "new-secret-"+name {
			t.Fatalf("%s after restore = %q, want the running server's", name, v)
		}
	}
	// The key of share links is dropped, so that no link from before the
	// restore works after it.
	if v, err := f.store.Setting(ctx, "share.key"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("share.key after restore = %q, %v; want it gone", v, err)
	}
}
