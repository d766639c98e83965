package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// backupRow is one row of a backup: a table of pixpool.BackupTables and
// its values.
type backupRow struct {
	table *pixpool.BackupTableDef
	row   []any
}

func (r backupRow) String() string { return fmt.Sprintf("%s %v", r.table.Name, r.row) }

// export calls ExportTables and returns the rows, failing t unless they
// come table after table in the order of BackupTables, in primary key
// order, with values of the Go types of their columns' kinds.
func export(t *testing.T, s pixpool.Store) []backupRow {
	t.Helper()
	var (
		rows []backupRow
		last = -1 // index in BackupTables of the last row's table
	)
	err := s.ExportTables(t.Context(), func(tb *pixpool.BackupTableDef, row []any) error {
		i := slices.Index(pixpool.BackupTables, tb)
		switch {
		case i < 0:
			return fmt.Errorf("table %q is not one of BackupTables", tb.Name)
		case i < last:
			return fmt.Errorf("table %s after %s", tb.Name, pixpool.BackupTables[last].Name)
		}
		if err := checkBackupRow(tb, row); err != nil {
			return err
		}
		if i == last {
			if prev := rows[len(rows)-1].row[0]; !keyLess(prev, row[0]) {
				return fmt.Errorf("%s: row with key %v after %v, want primary key order", tb.Name, row[0], prev)
			}
		}
		last = i
		rows = append(rows, backupRow{tb, row})
		return nil
	})
	if err != nil {
		t.Fatalf("ExportTables()=%v", err)
	}
	return rows
}

// checkBackupRow reports whether row has values of the Go types of tb's
// columns: int64, string, bool, time.Time in UTC to the millisecond, and
// "YYYY-MM-DD", nil only where the column may be NULL.
func checkBackupRow(tb *pixpool.BackupTableDef, row []any) error {
	if len(row) != len(tb.Columns) {
		return fmt.Errorf("%s: %d values, want %d: %v", tb.Name, len(row), len(tb.Columns), row)
	}
	for i, c := range tb.Columns {
		v := row[i]
		if v == nil {
			if !c.Null {
				return fmt.Errorf("%s.%s is nil, but the column is NOT NULL", tb.Name, c.Name)
			}
			continue
		}
		ok := false
		switch c.Kind {
		case pixpool.BackupKindInt:
			_, ok = v.(int64)
		case pixpool.BackupKindText:
			_, ok = v.(string)
		case pixpool.BackupKindBool:
			_, ok = v.(bool)
		case pixpool.BackupKindTime:
			var tm time.Time
			tm, ok = v.(time.Time)
			ok = ok && tm.Location() == time.UTC && tm.Nanosecond()%int(time.Millisecond) == 0
		case pixpool.BackupKindDate:
			var d string
			d, ok = v.(string)
			p, err := time.Parse(time.DateOnly, d)
			ok = ok && err == nil && p.Format(time.DateOnly) == d
		}
		if !ok {
			return fmt.Errorf("%s.%s is %T %v, not a %s value", tb.Name, c.Name, v, v, c.Kind)
		}
	}
	return nil
}

// keyLess reports whether primary key a sorts before b: numbers by value,
// text bytewise.
func keyLess(a, b any) bool {
	switch a := a.(type) {
	case int64:
		b, ok := b.(int64)
		return ok && a < b
	case string:
		b, ok := b.(string)
		return ok && a < b
	}
	return false
}

// restore calls ImportTables with rows.
func restore(t testing.TB, s pixpool.Store, keep []string, rows []backupRow) error {
	t.Helper()
	return s.ImportTables(t.Context(), keep, func(yield func(*pixpool.BackupTableDef, []any) error) error {
		for _, r := range rows {
			if err := yield(r.table, r.row); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkSameRows fails t unless got and want hold the same rows in the same
// order.
func checkSameRows(t *testing.T, got, want []backupRow) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Fatalf("export lacks row %d: %v", i, want[i])
		case i >= len(want):
			t.Fatalf("export has an extra row %d: %v", i, got[i])
		}
		g, w := got[i], want[i]
		same := g.table == w.table && len(g.row) == len(w.row)
		for j := 0; same && j < len(g.row); j++ {
			same = sameValue(g.row[j], w.row[j])
		}
		if !same {
			t.Fatalf("export row %d=%v, want %v", i, g, w)
		}
	}
}

func sameValue(a, b any) bool {
	if a, ok := a.(time.Time); ok {
		b, ok := b.(time.Time)
		return ok && a.Equal(b)
	}
	return a == b
}

// tableRows returns the rows of the table named name.
func tableRows(rows []backupRow, name string) [][]any {
	var out [][]any
	for _, r := range rows {
		if r.table.Name == name {
			out = append(out, r.row)
		}
	}
	return out
}

// column returns the index of the column named name in the table named
// table.
func column(table, name string) int {
	tb := pixpool.BackupTable(table)
	for i, c := range tb.Columns {
		if c.Name == name {
			return i
		}
	}
	panic("no column " + table + "." + name)
}

// find returns the index in rows of the nth row (from 1) of table.
func find(t *testing.T, rows []backupRow, table string, n int) int {
	t.Helper()
	for i, r := range rows {
		if r.table.Name == table {
			if n--; n == 0 {
				return i
			}
		}
	}
	t.Fatalf("no such row of %s", table)
	return -1
}

// cloneRows copies rows, so that a test may change values.
func cloneRows(rows []backupRow) []backupRow {
	out := make([]backupRow, len(rows))
	for i, r := range rows {
		out[i] = backupRow{r.table, slices.Clone(r.row)}
	}
	return out
}

// maxID returns the largest id of table in rows, 0 if none.
func maxID(rows []backupRow, table string) int64 {
	var m int64
	for _, row := range tableRows(rows, table) {
		m = max(m, row[0].(int64))
	}
	return m
}

// backupFixture is what fillBackup stores.
type backupFixture struct {
	ada, bob, cem                     *pixpool.User
	laptop, phone                     *pixpool.APIKey
	cat, failed, claimed, pending, ok *pixpool.Image // ok is bob's
	session                           string
}

// fillBackup stores some of everything a backup holds, and a session.
func fillBackup(t *testing.T, s pixpool.Store) *backupFixture {
	t.Helper()
	ctx := t.Context()
	var f backupFixture
	f.ada = newUser("ada")
	f.ada.Admin = true
	f.bob = newUser("Bob")
	f.bob.Disabled = true
	f.cem = newUser("cem-ünal")
	f.cem.Birthday = time.Time{} // 0001-01-01
	f.cem.Phone = ""
	for _, u := range []*pixpool.User{f.ada, f.bob, f.cem} {
		if err := s.CreateUser(ctx, u, "hash-"+u.Username); err != nil {
			t.Fatalf("CreateUser(%q)=%v", u.Username, err)
		}
	}

	f.laptop = createAPIKey(t, s, f.ada.ID, "laptop")
	f.phone = createAPIKey(t, s, f.ada.ID, "phone")
	if err := s.TouchAPIKey(ctx, f.phone.ID, t0); err != nil {
		t.Fatalf("TouchAPIKey()=%v", err)
	}
	createAPIKey(t, s, f.bob.ID, "ci")

	f.cat = putImage(t, s, f.ada.ID, "cat.jpg")
	f.failed = putImage(t, s, f.ada.ID, "failed.png")
	f.claimed = putImage(t, s, f.ada.ID, "claimed.png")
	f.pending = putImage(t, s, f.ada.ID, "pending.png")
	for _, key := range oddKeys {
		putImage(t, s, f.ada.ID, key)
	}
	f.ok = putImage(t, s, f.bob.ID, "日本語/犬.png")

	enqueue(t, s, f.cat.ID)
	saveDone(t, s, f.cat, []string{"cat", "sofa"}, "Hello Backup", "Grüße aus Köln")
	enqueue(t, s, f.failed.ID)
	saveAnalysis(t, s, &pixpool.Analysis{ImageID: f.failed.ID, Checksum: f.failed.Checksum, Status: pixpool.AnalysisFailed,
		Error: "recognize: out of memory"})
	enqueue(t, s, f.claimed.ID)
	claim(t, s, time.Hour, f.claimed.ID)
	enqueue(t, s, f.pending.ID)
	enqueue(t, s, f.ok.ID)
	saveDone(t, s, f.ok, []string{"dog"})

	for name, value := range map[string]string{
		"site.name": "pixpool",
		"Zeta":      "last in a dictionary, first bytewise",
		"alpha":     "a",
		"émoji ✨":   "✨\n\"quoted\"",
		"empty":     "",
	} {
		if err := s.SetSetting(ctx, name, value); err != nil {
			t.Fatalf("SetSetting(%q)=%v", name, err)
		}
	}

	f.session = "session-of-ada"
	createSession(t, s, f.ada.ID, f.session, time.Now().Add(time.Hour))
	return &f
}

func testBackupExport(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	if got := export(t, s); len(got) != 0 {
		t.Fatalf("ExportTables() of an empty store gave %v, want nothing", got)
	}
	f := fillBackup(t, s)
	rows := export(t, s)

	users := tableRows(rows, "users")
	if len(users) != 3 {
		t.Fatalf("users=%v, want 3", users)
	}
	wantUser := func(row []any, u *pixpool.User) {
		t.Helper()
		want := []any{u.ID, u.Username, u.FirstName, u.LastName, u.Email, u.Birthday.Format(time.DateOnly), u.Phone,
			u.Admin, u.Disabled, "hash-" + u.Username, u.CreatedAt, u.UpdatedAt}
		for i, w := range want {
			if !sameValue(row[i], w) {
				t.Fatalf("users row of %s=%v, want %v", u.Username, row, want)
			}
		}
	}
	wantUser(users[0], f.ada)
	wantUser(users[1], f.bob)
	wantUser(users[2], f.cem)
	if got := users[2][column("users", "birthday")]; got != "0001-01-01" {
		t.Fatalf("birthday of a user without one=%v, want 0001-01-01", got)
	}

	keys := tableRows(rows, "api_keys")
	if len(keys) != 3 {
		t.Fatalf("api_keys=%v, want 3", keys)
	}
	lastUsed := column("api_keys", "last_used_at")
	if got := keys[0][lastUsed]; got != nil {
		t.Fatalf("last_used_at of an unused key=%v, want nil", got)
	}
	if got := keys[1][lastUsed]; !sameValue(got, pixpool.MillisUTC(t0)) {
		t.Fatalf("last_used_at=%v, want %v", got, pixpool.MillisUTC(t0))
	}
	if got := keys[0][column("api_keys", "hash")]; got != f.laptop.Hash {
		t.Fatalf("hash=%v, want %v", got, f.laptop.Hash)
	}

	images := tableRows(rows, "images")
	if got, want := len(images), 5+len(oddKeys); got != want {
		t.Fatalf("%d images, want %d", got, want)
	}
	var keysSeen []string
	for _, row := range images {
		keysSeen = append(keysSeen, row[column("images", "key")].(string))
	}
	for _, key := range append(slices.Clone(oddKeys), "cat.jpg", "日本語/犬.png") {
		if !slices.Contains(keysSeen, key) {
			t.Fatalf("image keys=%q, want %q among them", keysSeen, key)
		}
	}
	cat := images[0]
	if cat[0] != f.cat.ID || cat[column("images", "key")] != "cat.jpg" || cat[column("images", "size")] != f.cat.Size ||
		cat[column("images", "width")] != int64(f.cat.Width) || !sameValue(cat[column("images", "created_at")], pixpool.MillisUTC(f.cat.CreatedAt)) {
		t.Fatalf("images row=%v, want %+v", cat, f.cat)
	}

	analyses := tableRows(rows, "analyses")
	status := map[int64]string{}
	for _, row := range analyses {
		id := row[0].(int64)
		status[id] = row[column("analyses", "status")].(string)
		if leased := row[column("analyses", "claimed_until")] != nil; leased != (id == f.claimed.ID) {
			t.Fatalf("analyses row %v: claimed_until, want it only for image %d", row, f.claimed.ID)
		}
	}
	wantStatus := map[int64]string{f.cat.ID: "done", f.failed.ID: "failed", f.claimed.ID: "pending", f.pending.ID: "pending", f.ok.ID: "done"}
	if !maps.Equal(status, wantStatus) {
		t.Fatalf("analyses statuses=%v, want %v", status, wantStatus)
	}
	if got := analyses[0][column("analyses", "labels")].(string); !strings.Contains(got, `"sofa"`) {
		t.Fatalf("labels=%s, want JSON naming sofa", got)
	}

	var names []string
	for _, row := range tableRows(rows, "settings") {
		names = append(names, row[0].(string))
	}
	if want := []string{"Zeta", "alpha", "empty", "site.name", "émoji ✨"}; !slices.Equal(names, want) {
		t.Fatalf("settings=%q, want %q (bytewise)", names, want)
	}

	v, err := s.SchemaVersion(ctx)
	if err != nil || v < 1 {
		t.Fatalf("SchemaVersion()=%d, %v; want at least 1", v, err)
	}
}

func testBackupExportError(t *testing.T, s pixpool.Store) {
	fillBackup(t, s)
	stop := errors.New("disk full")
	calls := 0
	err := s.ExportTables(t.Context(), func(*pixpool.BackupTableDef, []any) error {
		if calls++; calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("ExportTables()=%v, want the error of fn", err)
	}
	if calls != 2 {
		t.Fatalf("fn called %d times, want 2: none after its error", calls)
	}
}

// testBackupSnapshot checks that an export reads one snapshot, and does not
// keep writers waiting.
func testBackupSnapshot(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	f := fillBackup(t, s)
	want := export(t, s)
	var got []backupRow
	err := s.ExportTables(ctx, func(tb *pixpool.BackupTableDef, row []any) error {
		if len(got) == 0 {
			late := createUser(t, s, "late")
			putImage(t, s, late.ID, "late.png")
			if _, err := s.DeleteImage(ctx, f.ada.ID, "cat.jpg"); err != nil {
				t.Fatalf("DeleteImage()=%v", err)
			}
			if err := s.SetSetting(ctx, "site.name", "changed"); err != nil {
				t.Fatalf("SetSetting()=%v", err)
			}
		}
		got = append(got, backupRow{tb, row})
		return nil
	})
	if err != nil {
		t.Fatalf("ExportTables()=%v", err)
	}
	checkSameRows(t, got, want)
	if after := export(t, s); len(tableRows(after, "users")) != 4 {
		t.Fatalf("users after the export=%v, want the late one too", tableRows(after, "users"))
	}
}

func testBackupRoundTrip(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	f := fillBackup(t, s)
	version, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("SchemaVersion()=%v", err)
	}
	backup := export(t, s)
	checkSearch(t, s, f.ada.ID, "cat", "cat.jpg")

	// Change and delete some of everything.
	ada := *f.ada
	ada.Username, ada.FirstName = "augusta", "Augusta"
	if err := s.UpdateUser(ctx, &ada); err != nil {
		t.Fatalf("UpdateUser()=%v", err)
	}
	if err := s.SetPasswordHash(ctx, f.ada.ID, "new-hash"); err != nil {
		t.Fatalf("SetPasswordHash()=%v", err)
	}
	if err := s.DeleteAPIKey(ctx, f.ada.ID, f.laptop.ID); err != nil {
		t.Fatalf("DeleteAPIKey()=%v", err)
	}
	if err := s.TouchAPIKey(ctx, f.phone.ID, t0.Add(time.Hour)); err != nil {
		t.Fatalf("TouchAPIKey()=%v", err)
	}
	if _, err := s.DeleteImage(ctx, f.ada.ID, "cat.jpg"); err != nil {
		t.Fatalf("DeleteImage()=%v", err)
	}
	if _, err := s.DeleteImage(ctx, f.ada.ID, oddKeys[3]); err != nil {
		t.Fatalf("DeleteImage()=%v", err)
	}
	saveDone(t, s, f.failed, []string{"parrot"})
	carol := createUser(t, s, "carol")
	putImage(t, s, carol.ID, "carols.png")
	createAPIKey(t, s, carol.ID, "carols")
	for name, value := range map[string]string{"site.name": "changed", "new": "x"} {
		if err := s.SetSetting(ctx, name, value); err != nil {
			t.Fatalf("SetSetting()=%v", err)
		}
	}
	if err := s.DeleteSetting(ctx, "alpha"); err != nil {
		t.Fatalf("DeleteSetting()=%v", err)
	}
	checkSearch(t, s, f.ada.ID, "cat")
	checkSearch(t, s, f.ada.ID, "parrot", "failed.png")

	if err := restore(t, s, nil, backup); err != nil {
		t.Fatalf("ImportTables()=%v", err)
	}
	checkSameRows(t, export(t, s), backup)

	checkSearch(t, s, f.ada.ID, "cat", "cat.jpg")
	checkSearch(t, s, f.ada.ID, "hello backup", "cat.jpg")
	checkSearch(t, s, f.ada.ID, "köln", "cat.jpg")
	checkSearch(t, s, f.ada.ID, "parrot")
	checkSearch(t, s, f.bob.ID, "dog", "日本語/犬.png")
	if a := analysis(t, s, f.claimed.ID); a.Status != pixpool.AnalysisPending || a.Attempts != 1 {
		t.Fatalf("Analysis(claimed)=%+v, want pending after 1 attempt", a)
	}

	if left := sessionsLeft(t, s, f.session); len(left) != 0 {
		t.Fatalf("sessions after ImportTables=%q, want none", left)
	}
	u, err := s.UserByUsername(ctx, "ADA")
	if err != nil {
		t.Fatalf("UserByUsername()=%v", err)
	}
	checkUser(t, u, f.ada)
	if hash, err := s.PasswordHash(ctx, u.ID); err != nil || hash != "hash-ada" {
		t.Fatalf("PasswordHash()=%q, %v; want hash-ada", hash, err)
	}
	_, err = s.UserByUsername(ctx, "carol")
	wantCode(t, "UserByUsername(created after the backup)", err, pixpool.ENOTFOUND)
	k, err := s.APIKeyByHash(ctx, f.laptop.Hash)
	if err != nil {
		t.Fatalf("APIKeyByHash()=%v", err)
	}
	checkAPIKey(t, k, f.laptop)
	if v, err := s.SchemaVersion(ctx); err != nil || v != version {
		t.Fatalf("SchemaVersion()=%d, %v; want %d", v, err, version)
	}
	checkNewIDs(t, s, backup)
}

// checkNewIDs fails t unless new users, API keys and images get ids that
// rows do not hold.
func checkNewIDs(t *testing.T, s pixpool.Store, rows []backupRow) {
	t.Helper()
	u := createUser(t, s, "newcomer")
	if u.ID <= 0 || u.ID <= maxID(rows, "users") {
		t.Fatalf("CreateUser() after ImportTables: ID=%d, want one past %d", u.ID, maxID(rows, "users"))
	}
	k := createAPIKey(t, s, u.ID, "newcomer")
	if k.ID <= 0 || k.ID <= maxID(rows, "api_keys") {
		t.Fatalf("CreateAPIKey() after ImportTables: ID=%d, want one past %d", k.ID, maxID(rows, "api_keys"))
	}
	img := putImage(t, s, u.ID, "new.png")
	if img.ID <= 0 || img.ID <= maxID(rows, "images") {
		t.Fatalf("PutImage() after ImportTables: ID=%d, want one past %d", img.ID, maxID(rows, "images"))
	}
	sh := &pixpool.Share{OwnerID: u.ID, Kind: pixpool.ShareImage, Key: "new.png", CreatedAt: t0}
	if err := s.CreateShare(t.Context(), sh); err != nil {
		t.Fatalf("CreateShare() after ImportTables: %v", err)
	}
	if sh.ID <= 0 || sh.ID <= maxID(rows, "shares") {
		t.Fatalf("CreateShare() after ImportTables: ID=%d, want one past %d", sh.ID, maxID(rows, "shares"))
	}
}

// testBackupIDs restores rows made by hand, as another store's backup, whose
// ids are far beyond those the store has handed out.
func testBackupIDs(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	createUser(t, s, "ada") // id 1, most likely
	users, keys, images, analyses, settings := pixpool.BackupTable("users"), pixpool.BackupTable("api_keys"),
		pixpool.BackupTable("images"), pixpool.BackupTable("analyses"), pixpool.BackupTable("settings")
	trash, shares := pixpool.BackupTable("trash"), pixpool.BackupTable("shares")
	tm := time.Date(2031, 7, 8, 9, 10, 11, 123_000_000, time.UTC)
	labels := `[{"name":"zebra","confidence":91.5,"box":{"x0":1,"y0":2,"x1":30,"y1":40}}]`
	lines := `[{"text":"Hello Zoë","confidence":88,"box":{"x0":0,"y0":0,"x1":100,"y1":20}}]`
	rows := []backupRow{
		{users, []any{int64(7), "yann", "Yann", "Y", "y@example.org", "2000-02-29", "+1 555 0100", false, false, "hash-yann", tm, tm, nil, int64(5)}},
		{users, []any{int64(1000), "zoë", "Zoë", "Z", "z@example.org", "1985-12-31", "", true, true, "hash-zoë", tm, tm.Add(time.Second), int64(1 << 30), nil}},
		{keys, []any{int64(700), int64(1000), "zoës key", "pp_zz", "hash-zz", tm, nil}},
		{keys, []any{int64(701), int64(7), "yanns key", "pp_yy", "hash-yy", tm, tm.Add(time.Hour)}},
		{images, []any{int64(3), int64(7), "y.png", "images/y", "", int64(0), "image/png", int64(1), int64(1), "sum-y", tm,
			int64(0), "", int64(0), "", ""}},
		{images, []any{int64(5000), int64(1000), "z.png", "images/z", "thumbs/z", int64(1 << 40), "image/webp", int64(4000), int64(3000), "sum-z", tm,
			int64(1234), "orig/z", int64(99), `{"camera":"Zeiss"}`, "src-z"}},
		{trash, []any{int64(40), int64(1000), "gone.png", "images/g", "thumbs/g", int64(2000), "image/png", int64(10), int64(20), "sum-g", tm,
			int64(300), "", int64(0), "", "src-g", tm.Add(time.Hour), tm.Add(30 * 24 * time.Hour)}},
		{trash, []any{int64(41), int64(1000), "z.png", "images/z", "thumbs/z", int64(1 << 40), "image/webp", int64(4000), int64(3000), "sum-z", tm,
			int64(1234), "orig/z", int64(99), `{"camera":"Zeiss"}`, "src-z", tm, tm}},
		{analyses, []any{int64(3), "sum-y", "pending", "null", "null", "", int64(0), tm, tm.Add(time.Minute), tm}},
		{analyses, []any{int64(5000), "sum-z", "done", labels, lines, "", int64(2), tm, nil, tm}},
		{settings, []any{"a", "1"}},
		{shares, []any{int64(9), int64(7), "image", "y.png", "Y", tm, tm.Add(time.Hour), int64(10), int64(3), nil}},
		{shares, []any{int64(12), int64(1000), "album", "holiday/", "", tm, nil, nil, int64(0), tm.Add(time.Minute)}},
	}
	if err := restore(t, s, nil, rows); err != nil {
		t.Fatalf("ImportTables()=%v", err)
	}
	checkSameRows(t, export(t, s), rows)
	// The trash counts in usage; its z.png shares the live one's blobs.
	if got, want := usage(t, s, 1000), (pixpool.Usage{Bytes: 1<<40 + 1234 + 99 + 2300, Images: 3, TrashBytes: 2300, TrashImages: 2}); got != want {
		t.Fatalf("Usage after ImportTables=%+v, want %+v", got, want)
	}
	if z, err := s.User(ctx, 1000); err != nil || z.QuotaBytes == nil || *z.QuotaBytes != 1<<30 || z.QuotaImages != nil {
		t.Fatalf("User(1000)=%+v, %v, want its quotas restored", z, err)
	}
	checkSearch(t, s, 1000, "zebra", "z.png")
	checkSearch(t, s, 1000, "zoë HELLO", "z.png")
	checkSearch(t, s, 7, "zebra")
	u, err := s.UserByUsername(ctx, "Zoë")
	if err != nil {
		t.Fatalf("UserByUsername()=%v", err)
	}
	if u.ID != 1000 || !u.Admin || !u.Disabled || !u.Birthday.Equal(time.Date(1985, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("UserByUsername()=%+v, want id 1000, admin, disabled, born 1985-12-31", u)
	}
	_, err = s.UserByUsername(ctx, "ada")
	wantCode(t, "UserByUsername(not in the backup)", err, pixpool.ENOTFOUND)
	checkNewIDs(t, s, rows)
}

func testBackupKeep(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	fillBackup(t, s)
	for name, value := range map[string]string{"kept": "archived", "kept-absent": "archived"} {
		if err := s.SetSetting(ctx, name, value); err != nil {
			t.Fatalf("SetSetting()=%v", err)
		}
	}
	backup := export(t, s)
	for name, value := range map[string]string{"kept": "current", "site.name": "changed", "local": "mine"} {
		if err := s.SetSetting(ctx, name, value); err != nil {
			t.Fatalf("SetSetting()=%v", err)
		}
	}
	if err := s.DeleteSetting(ctx, "kept-absent"); err != nil {
		t.Fatalf("DeleteSetting()=%v", err)
	}
	if err := restore(t, s, []string{"kept", "kept-absent", "local", "never"}, backup); err != nil {
		t.Fatalf("ImportTables()=%v", err)
	}
	got, err := s.Settings(ctx)
	if err != nil {
		t.Fatalf("Settings()=%v", err)
	}
	want := map[string]string{}
	for _, row := range tableRows(backup, "settings") {
		want[row[0].(string)] = row[1].(string)
	}
	want["kept"], want["local"] = "current", "mine"
	delete(want, "kept-absent")
	if !maps.Equal(got, want) {
		t.Fatalf("Settings()=%q, want %q", got, want)
	}
}

func testBackupEmpty(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	f := fillBackup(t, s)
	if err := restore(t, s, nil, nil); err != nil {
		t.Fatalf("ImportTables(nothing)=%v", err)
	}
	if got := export(t, s); len(got) != 0 {
		t.Fatalf("ExportTables() after restoring nothing=%v, want nothing", got)
	}
	if left := sessionsLeft(t, s, f.session); len(left) != 0 {
		t.Fatalf("sessions=%q, want none", left)
	}
	checkSearch(t, s, f.ada.ID, "cat")
	if n := countImages(t, s, pixpool.ImageFilter{}); n != 0 {
		t.Fatalf("CountImages()=%d, want 0", n)
	}
	ada := createUser(t, s, "ada")
	img := putImage(t, s, ada.ID, "cat.jpg")
	checkSearch(t, s, ada.ID, "cat")
	if _, err := s.Analysis(ctx, img.ID); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Analysis(new image)=%v, want ENOTFOUND", err)
	}

	// Kept settings outlive an empty restore too.
	if err := s.SetSetting(ctx, "kept", "yes"); err != nil {
		t.Fatalf("SetSetting()=%v", err)
	}
	if err := s.SetSetting(ctx, "dropped", "yes"); err != nil {
		t.Fatalf("SetSetting()=%v", err)
	}
	if err := restore(t, s, []string{"kept"}, nil); err != nil {
		t.Fatalf("ImportTables(nothing)=%v", err)
	}
	got, err := s.Settings(ctx)
	if err != nil {
		t.Fatalf("Settings()=%v", err)
	}
	if want := map[string]string{"kept": "yes"}; !maps.Equal(got, want) {
		t.Fatalf("Settings()=%q, want %q", got, want)
	}
}

// checkUnchanged fails t unless s holds want, its session and its search
// index as fillBackup left them.
func checkUnchanged(t *testing.T, s pixpool.Store, f *backupFixture, want []backupRow) {
	t.Helper()
	checkSameRows(t, export(t, s), want)
	if left := sessionsLeft(t, s, f.session); len(left) != 1 {
		t.Fatalf("session after a failed ImportTables gone, want it kept")
	}
	checkSearch(t, s, f.ada.ID, "cat", "cat.jpg")
}

// testBackupRollback restores rows that break a constraint part way, and
// checks that nothing changed.
func testBackupRollback(t *testing.T, s pixpool.Store) {
	f := fillBackup(t, s)
	before := export(t, s)
	set := func(table string, n int, col string, v any) func([]backupRow) []backupRow {
		return func(rows []backupRow) []backupRow {
			rows[find(t, rows, table, n)].row[column(table, col)] = v
			return rows
		}
	}
	// many appends n settings rows named s0000... after the others.
	many := func(n int) func([]backupRow) []backupRow {
		return func(rows []backupRow) []backupRow {
			for i := range n {
				rows = append(rows, backupRow{pixpool.BackupTable("settings"), []any{fmt.Sprintf("s%04d", i), "v"}})
			}
			return rows
		}
	}
	tests := []struct {
		name  string
		edit  func([]backupRow) []backupRow
		table string
		row   int
	}{
		{"MissingUser", set("api_keys", 2, "user_id", int64(999_999)), "api_keys", 2},
		{"MissingImage", set("analyses", 3, "image_id", int64(999_999)), "analyses", 3},
		{"SameUsername", set("users", 3, "username", "ADA"), "users", 3},
		{"SameUserID", set("users", 2, "id", f.ada.ID), "users", 2},
		{"SameImageID", set("images", 4, "id", f.cat.ID), "images", 4},
		{"SameImageKey", set("images", 2, "key", "cat.jpg"), "images", 2},
		{"SameAPIKeyHash", set("api_keys", 3, "hash", f.laptop.Hash), "api_keys", 3},
		{"SameAnalysis", set("analyses", 2, "image_id", f.cat.ID), "analyses", 2},
		{"SameSetting", set("settings", 2, "name", "Zeta"), "settings", 2},
		{"Late", func(rows []backupRow) []backupRow {
			rows = many(2500)(rows)
			return set("settings", 2400, "name", "Zeta")(rows)
		}, "settings", 2400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := restore(t, s, nil, tt.edit(cloneRows(before)))
			if code := pixpool.ErrorCode(err); code != pixpool.ECONFLICT && code != pixpool.EINVALID {
				t.Fatalf("ImportTables()=%v, want ECONFLICT or EINVALID", err)
			}
			msg := pixpool.ErrorMessage(err)
			if want := fmt.Sprintf("row %d", tt.row); !strings.Contains(msg, tt.table) || !strings.Contains(msg, want+":") {
				t.Fatalf("ImportTables()=%q, want it to name %s and %s", msg, tt.table, want)
			}
			checkUnchanged(t, s, f, before)
		})
	}

	t.Run("ErrorOfNext", func(t *testing.T) {
		broken := errors.New("archive: unexpected EOF")
		err := s.ImportTables(t.Context(), nil, func(yield func(*pixpool.BackupTableDef, []any) error) error {
			for _, r := range before[:find(t, before, "images", 3)] {
				if err := yield(r.table, r.row); err != nil {
					return err
				}
			}
			return broken
		})
		if !errors.Is(err, broken) {
			t.Fatalf("ImportTables()=%v, want the error of next", err)
		}
		checkUnchanged(t, s, f, before)
	})
	t.Run("ErrorDropped", func(t *testing.T) {
		rows := set("users", 2, "username", "ada")(cloneRows(before))
		err := s.ImportTables(t.Context(), nil, func(yield func(*pixpool.BackupTableDef, []any) error) error {
			for _, r := range rows {
				yield(r.table, r.row) // a careless next
			}
			return nil
		})
		if code := pixpool.ErrorCode(err); code != pixpool.ECONFLICT && code != pixpool.EINVALID {
			t.Fatalf("ImportTables()=%v, want ECONFLICT or EINVALID though next dropped it", err)
		}
		checkUnchanged(t, s, f, before)
	})
}

// testBackupBadRows restores rows of the wrong shape or type, and checks
// that each is EINVALID, named, and changes nothing.
func testBackupBadRows(t *testing.T, s pixpool.Store) {
	f := fillBackup(t, s)
	before := export(t, s)
	set := func(table string, n int, col string, v any) func([]backupRow) []backupRow {
		return func(rows []backupRow) []backupRow {
			rows[find(t, rows, table, n)].row[column(table, col)] = v
			return rows
		}
	}
	resize := func(table string, n, size int) func([]backupRow) []backupRow {
		return func(rows []backupRow) []backupRow {
			r := &rows[find(t, rows, table, n)]
			r.row = append(r.row, make([]any, max(size-len(r.row), 0))...)[:size]
			return rows
		}
	}
	retable := func(table string, n int, tb *pixpool.BackupTableDef) func([]backupRow) []backupRow {
		return func(rows []backupRow) []backupRow {
			rows[find(t, rows, table, n)].table = tb
			return rows
		}
	}
	users := pixpool.BackupTable("users")
	tests := []struct {
		name string
		edit func([]backupRow) []backupRow
		want []string // in the message
	}{
		{"IntNotInt64", set("users", 2, "id", int(f.bob.ID)), []string{"users", "row 2", "id"}},
		{"FloatNotInt64", set("images", 3, "size", float64(3)), []string{"images", "row 3", "size"}},
		{"IntNotString", set("users", 1, "email", int64(5)), []string{"users", "row 1", "email"}},
		{"BytesNotString", set("settings", 1, "value", []byte("x")), []string{"settings", "row 1", "value"}},
		{"IntNotBool", set("users", 1, "admin", int64(1)), []string{"users", "row 1", "admin"}},
		{"StringNotTime", set("api_keys", 2, "created_at", "2030-01-02T03:04:05Z"), []string{"api_keys", "row 2", "created_at"}},
		{"MillisNotTime", set("analyses", 1, "updated_at", int64(1e12)), []string{"analyses", "row 1", "updated_at"}},
		{"PointerNotTime", set("analyses", 1, "claimed_until", &t0), []string{"analyses", "row 1", "claimed_until"}},
		{"TimeNotDate", set("users", 3, "birthday", t0), []string{"users", "row 3", "birthday"}},
		{"BadDate", set("users", 3, "birthday", "1990-5-17"), []string{"users", "row 3", "birthday"}},
		{"NoSuchDate", set("users", 3, "birthday", "1990-02-30"), []string{"users", "row 3", "birthday"}},
		{"NotADate", set("users", 3, "birthday", "yesterday"), []string{"users", "row 3", "birthday"}},
		{"NilText", set("users", 2, "email", nil), []string{"users", "row 2", "email"}},
		{"NilID", set("images", 1, "id", nil), []string{"images", "row 1", "id"}},
		{"NilTime", set("api_keys", 1, "created_at", nil), []string{"api_keys", "row 1", "created_at"}},
		{"NilSetting", set("settings", 3, "value", nil), []string{"settings", "row 3", "value"}},
		{"Short", resize("users", 2, len(users.Columns)-1), []string{"users", "row 2"}},
		{"Long", resize("api_keys", 1, 8), []string{"api_keys", "row 1"}},
		{"Empty", resize("settings", 2, 0), []string{"settings", "row 2"}},
		{"BadLabels", set("analyses", 1, "labels", "not JSON"), []string{"analyses", "row 1", "labels"}},
		{"BadLines", set("analyses", 1, "lines", `{"text":"an object"}`), []string{"analyses", "row 1", "lines"}},
		{"UnknownTable", retable("settings", 1, &pixpool.BackupTableDef{Name: "sessions", Columns: []pixpool.BackupColumn{{Name: "name"}, {Name: "value"}}}),
			[]string{"sessions"}},
		{"OtherColumns", retable("users", 1, &pixpool.BackupTableDef{Name: "users", Columns: users.Columns[:len(users.Columns)-1]}),
			[]string{"users"}},
		{"OutOfOrder", func(rows []backupRow) []backupRow {
			i := find(t, rows, "settings", 1)
			return slices.Concat(rows[i:], rows[:i]) // settings first
		}, []string{"users"}},
		{"BackAgain", func(rows []backupRow) []backupRow {
			return append(rows, backupRow{users, slices.Clone(rows[0].row)})
		}, []string{"users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := restore(t, s, nil, tt.edit(cloneRows(before)))
			wantCode(t, "ImportTables()", err, pixpool.EINVALID)
			for _, w := range tt.want {
				if msg := pixpool.ErrorMessage(err); !strings.Contains(msg, w) {
					t.Fatalf("ImportTables()=%q, want it to name %q", msg, w)
				}
			}
			checkUnchanged(t, s, f, before)
		})
	}

	// A kept setting's row is checked too, though skipped.
	err := restore(t, s, []string{"Zeta"}, set("settings", 1, "value", int64(1))(cloneRows(before)))
	wantCode(t, "ImportTables(bad kept setting)", err, pixpool.EINVALID)
	checkUnchanged(t, s, f, before)
}

// CheckBackupCopy fills from, restores a backup of it into to, which must be
// new and empty, and checks that to then holds the same rows and serves
// them: searches, logins, and fresh ids for new rows. Run calls it with two
// stores of one kind; a backend's own tests may call it with a store of
// another kind too, since a backup taken from one restores onto any.
func CheckBackupCopy(t *testing.T, from, to pixpool.Store) {
	t.Helper()
	ctx := t.Context()
	f := fillBackup(t, from)
	backup := export(t, from)
	if err := restore(t, to, nil, backup); err != nil {
		t.Fatalf("ImportTables()=%v", err)
	}
	checkSameRows(t, export(t, to), backup)
	checkSearch(t, to, f.ada.ID, "cat", "cat.jpg")
	checkSearch(t, to, f.ada.ID, "grüße", "cat.jpg")
	checkSearch(t, to, f.bob.ID, "dog", "日本語/犬.png")
	for _, u := range []*pixpool.User{f.ada, f.bob, f.cem} {
		got, err := to.UserByUsername(ctx, u.Username)
		if err != nil {
			t.Fatalf("UserByUsername(%q)=%v", u.Username, err)
		}
		checkUser(t, got, u)
	}
	if got := analysis(t, to, f.failed.ID); got.Status != pixpool.AnalysisFailed || got.Error != "recognize: out of memory" {
		t.Fatalf("Analysis(failed)=%+v, want failed, with its error", got)
	}
	checkNewIDs(t, to, backup)
}

func testBackupCopy(t *testing.T, open func(t *testing.T) pixpool.Store) {
	CheckBackupCopy(t, open(t), open(t))
}

// BenchBackup measures ImportTables and ExportTables on s with a backup of
// n images, each with a done analysis, of n/100 users with an API key
// each: about 2n rows.
func BenchBackup(b *testing.B, s pixpool.Store, n int) {
	rows := benchRows(n)
	b.Run("Import", func(b *testing.B) {
		for b.Loop() {
			if err := restore(b, s, nil, rows); err != nil {
				b.Fatalf("ImportTables()=%v", err)
			}
		}
		b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("Export", func(b *testing.B) {
		for b.Loop() {
			n := 0
			err := s.ExportTables(b.Context(), func(*pixpool.BackupTableDef, []any) error {
				n++
				return nil
			})
			if err != nil || n != len(rows) {
				b.Fatalf("ExportTables()=%v after %d rows, want %d", err, n, len(rows))
			}
		}
		b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// benchRows returns the rows BenchBackup restores.
func benchRows(n int) []backupRow {
	var (
		users  = max(n/100, 1)
		tm     = time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
		labels = `[{"name":"cat","confidence":91.5,"box":{"x0":1,"y0":2,"x1":30,"y1":40}},{"name":"sofa","confidence":60,"box":{"x0":0,"y0":0,"x1":64,"y1":48}}]`
		lines  = `[{"text":"Hello from the benchmark","confidence":88,"box":{"x0":0,"y0":0,"x1":100,"y1":20}}]`
		rows   []backupRow
	)
	for i := range int64(users) {
		rows = append(rows, backupRow{pixpool.BackupTable("users"), []any{i + 1, fmt.Sprintf("user%d", i), "First", "Last",
			"user@example.org", "1990-05-17", "", false, false, "hash", tm, tm, nil, nil}})
	}
	for i := range int64(users) {
		rows = append(rows, backupRow{pixpool.BackupTable("api_keys"), []any{i + 1, i + 1, "key", "pp_x", fmt.Sprintf("hash-%d", i), tm, tm}})
	}
	for i := range int64(n) {
		rows = append(rows, backupRow{pixpool.BackupTable("images"), []any{i + 1, i%int64(users) + 1, fmt.Sprintf("photos/%07d.jpg", i),
			fmt.Sprintf("images/%d", i), fmt.Sprintf("thumbs/%d", i), int64(123456), "image/jpeg", int64(4000), int64(3000), "sum", tm,
			int64(0), "", int64(0), "", ""}})
	}
	for i := range int64(n) {
		rows = append(rows, backupRow{pixpool.BackupTable("analyses"), []any{i + 1, "sum", pixpool.AnalysisDone, labels, lines, "", int64(1), tm, nil, tm}})
	}
	for i := range 10 {
		rows = append(rows, backupRow{pixpool.BackupTable("settings"), []any{fmt.Sprintf("setting.%d", i), "value"}})
	}
	return rows
}
