package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/store/sqlite"
)

// newSQLiteFixture is newFixture with the database's path, for rows no
// store method writes (variants).
func newSQLiteFixture(t *testing.T) (*fixture, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, st)
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return f, db
}

// addTrashAndShares puts, through ImportTables, a trash row and two share
// links beside what the store holds.
func addTrashAndShares(t *testing.T, st pixpool.Store) {
	t.Helper()
	rows := export(t, st)
	tm := time.Date(2026, 10, 2, 3, 4, 5, 6e6, time.UTC)
	ada := rows["users"][0][0].(int64)
	id := strings.Repeat("e", 32)
	rows["trash"] = [][]any{{int64(1), ada, "old.png", pixpool.ImageBlobKey(id, "png"), pixpool.ThumbBlobKey(id), int64(500), "image/png",
		int64(3), int64(4), strings.Repeat("ab", 32), tm, int64(77), pixpool.OriginalBlobKey(id, "png"), int64(600), `{"camera":"X"}`,
		strings.Repeat("cd", 32), tm.Add(time.Hour), tm.Add(30 * 24 * time.Hour)}}
	rows["shares"] = [][]any{
		{int64(1), ada, "image", "cat.png", "My cat", tm, tm.Add(time.Hour), int64(5), int64(2), nil},
		{int64(2), ada, "album", "dir/", "", tm, nil, nil, int64(0), tm.Add(time.Minute)},
	}
	err := st.ImportTables(context.Background(), nil, func(yield func(t *pixpool.BackupTableDef, row []any) error) error {
		for _, tb := range pixpool.BackupTables {
			for _, row := range rows[tb.Name] {
				if err := yield(tb, row); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRoundTripTrashShares: a backup carries the trash, share links,
// users' quotas and the images' new columns; a restore clears the
// variants, which are made again on demand.
func TestRoundTripTrashShares(t *testing.T) {
	f, db := newSQLiteFixture(t)
	f.fill(t)
	ctx := context.Background()
	addTrashAndShares(t, f.store)
	ada, _ := f.store.UserByUsername(ctx, "ada")
	b := int64(5 << 20)
	if err := f.store.SetUserQuota(ctx, ada.ID, &b, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetThumbSize(ctx, pixpool.ThumbBlobKey(strings.Repeat("0", 30)+"01"), 4321); err != nil {
		t.Fatal(err)
	}
	before := export(t, f.store)
	if len(before["trash"]) != 1 || len(before["shares"]) != 2 {
		t.Fatalf("trash %v, shares %v", before["trash"], before["shares"])
	}
	info, err := f.svc.Create(ctx, TriggerCLI, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows["trash"] != 1 || info.Rows["shares"] != 2 {
		t.Fatalf("info rows %v", info.Rows)
	}
	// Change everything, and make a variant.
	f.store.DeleteAllImages(ctx)
	if err := f.store.SetUserQuota(ctx, ada.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM trash; DELETE FROM shares`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO variants (blob_key, source_key, owner_id, spec, size, created_at) VALUES ('var/x', 'img/x', ?, 'w=1', 10, 0)`, ada.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RestoreNamed(ctx, info.Name, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	after := export(t, f.store)
	for _, tb := range pixpool.BackupTables {
		if !reflect.DeepEqual(before[tb.Name], after[tb.Name]) {
			t.Errorf("%s differs:\nbefore %v\nafter  %v", tb.Name, before[tb.Name], after[tb.Name])
		}
	}
	var variants int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM variants`).Scan(&variants); err != nil || variants != 0 {
		t.Fatalf("variants after restore: %d, %v; want none", variants, err)
	}
	if u, _ := f.store.User(ctx, ada.ID); u.QuotaBytes == nil || *u.QuotaBytes != b {
		t.Fatalf("quota after restore: %v", u.QuotaBytes)
	}
}

// schema8 rewrites an archive as pixpool wrote it before schema 9: no
// trash or shares parts, no quota columns in users, none of the new
// columns in images. claim is the schema version its manifest gives; at 9
// or more, the trash and shares parts stay.
func schema8(t *testing.T, archive []byte, claim int) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := make(map[string][]byte)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	var m Manifest
	if err := json.Unmarshal(files[manifestFile], &m); err != nil {
		t.Fatal(err)
	}
	drop := func(part string, cols ...string) {
		var out []byte
		for line := range bytes.Lines(files[part]) {
			var obj map[string]any
			d := json.NewDecoder(bytes.NewReader(line))
			d.UseNumber()
			if err := d.Decode(&obj); err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				delete(obj, c)
			}
			b, _ := json.Marshal(obj)
			out = append(append(out, b...), '\n')
		}
		files[part] = out
	}
	drop("users.jsonl", "quota_bytes", "quota_images")
	drop("images.jsonl", "thumb_size", "original_key", "original_size", "metadata", "source_checksum")
	var parts []Part
	for _, p := range m.Parts {
		if (p.Table == "trash" || p.Table == "shares") && claim < 9 {
			continue
		}
		b := files[p.File]
		sum := sha256.Sum256(b)
		p.SHA256, p.Bytes, p.Rows = hex.EncodeToString(sum[:]), int64(len(b)), int64(bytes.Count(b, []byte("\n")))
		parts = append(parts, p)
	}
	m.Parts, m.Schema = parts, claim
	mb, _ := json.Marshal(m)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for _, p := range parts {
		tw.WriteHeader(&tar.Header{Name: p.File, Mode: 0o644, Size: int64(len(files[p.File])), Typeflag: tar.TypeReg})
		tw.Write(files[p.File])
	}
	tw.WriteHeader(&tar.Header{Name: manifestFile, Mode: 0o644, Size: int64(len(mb)), Typeflag: tar.TypeReg})
	tw.Write(mb)
	tw.Close()
	zw.Close()
	return out.Bytes()
}

// TestRestoreSchema8: a backup written before schema 9 restores: its
// users get the default quotas, its images the new columns' defaults, and
// the trash and share links are empty. One that claims schema 9 but lacks
// the columns is refused.
func TestRestoreSchema8(t *testing.T) {
	f := newFixture(t)
	f.fill(t)
	ctx := context.Background()
	addTrashAndShares(t, f.store)
	ada, _ := f.store.UserByUsername(ctx, "ada")
	b := int64(5 << 20)
	f.store.SetUserQuota(ctx, ada.ID, &b, &b)
	good := archiveBytes(t, f)

	_, err := f.svc.Restore(ctx, bytes.NewReader(schema8(t, good, 9)), RestoreOptions{})
	if err == nil || !strings.Contains(err.Error(), "users.jsonl lacks columns that a backup of schema version 9 has") {
		t.Fatalf("Restore(columns missing at schema 9)=%v, want it refused", err)
	}

	rep, err := f.svc.Restore(ctx, bytes.NewReader(schema8(t, good, 8)), RestoreOptions{})
	if err != nil {
		t.Fatalf("Restore(schema 8)=%v", err)
	}
	if rep.Rows["users"] != 3 || rep.Rows["images"] != 9 {
		t.Fatalf("report rows %v", rep.Rows)
	}
	after := export(t, f.store)
	if len(after["trash"]) != 0 || len(after["shares"]) != 0 {
		t.Fatalf("trash %v, shares %v after a schema-8 restore; want none", after["trash"], after["shares"])
	}
	if u, err := f.store.User(ctx, ada.ID); err != nil || u.QuotaBytes != nil || u.QuotaImages != nil {
		t.Fatalf("User()=%+v, %v: want the default quotas", u, err)
	}
	imgs := pixpool.BackupTable("images")
	for _, row := range after["images"] {
		for _, col := range []string{"thumb_size", "original_size"} {
			if v := pixpool.BackupValue(imgs, row, col); v != int64(0) {
				t.Fatalf("images row %v: %s=%v, want 0", row, col, v)
			}
		}
		for _, col := range []string{"original_key", "metadata", "source_checksum"} {
			if v := pixpool.BackupValue(imgs, row, col); v != "" {
				t.Fatalf("images row %v: %s=%v, want empty", row, col, v)
			}
		}
	}
	// A schema-8 archive holding a trash part is damaged.
	withTrash := rewrite(t, good, false, func(files map[string][]byte, m *Manifest) { m.Schema = 8 })
	if _, err := f.svc.Restore(ctx, bytes.NewReader(withTrash), RestoreOptions{}); err == nil {
		t.Fatal("Restore(schema 8 with a trash part) succeeded")
	}
}
