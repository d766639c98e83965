package pixpool

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// BackupKind is the type of a backed-up column's values, the same in every
// store: a backup taken on one restores onto another.
type BackupKind int

// The kinds of backed-up columns, and the Go type of their values in a row (nil for NULL):
const (
	BackupKindInt  BackupKind = iota // int64
	BackupKindText                   // string
	BackupKindBool                   // bool
	BackupKindTime                   // time.Time in UTC, millisecond precision
	BackupKindDate                   // string "YYYY-MM-DD"
)

func (k BackupKind) String() string {
	switch k {
	case BackupKindInt:
		return "int"
	case BackupKindText:
		return "text"
	case BackupKindBool:
		return "bool"
	case BackupKindTime:
		return "time"
	case BackupKindDate:
		return "date"
	}
	return "unknown"
}

// BackupColumn is one column of a backed-up table.
type BackupColumn struct {
	Name string
	Kind BackupKind
	Null bool // may be NULL
	// Since is the schema version that added the column, 0 for one there
	// from the start. A backup of an older schema lacks it, and its rows
	// take the column's Zero value.
	Since int
}

// Zero is the value a column takes in the rows of a backup made before
// it existed: NULL if it may be, else 0, "" or false (the defaults the
// migration that added it gave the rows already there).
func (c BackupColumn) Zero() any {
	switch {
	case c.Null:
		return nil
	case c.Kind == BackupKindInt:
		return int64(0)
	case c.Kind == BackupKindBool:
		return false
	}
	return ""
}

// BackupTableDef defines a table a backup holds, with its columns in the order a row's
// values come in.
type BackupTableDef struct {
	Name    string
	Columns []BackupColumn
	// Since is the schema version that added the table, 0 for one there
	// from the start. A backup of an older schema lacks it: it restores
	// as empty.
	Since int
}

// InSchema reports whether a backup of the given schema version holds
// t.
func (t *BackupTableDef) InSchema(schema int) bool { return t.Since <= schema }

// BackupTables are the tables a backup holds, parents before children (the
// order rows are restored in): accounts, API keys, image metadata, the
// trash, the images' analyses, settings and share links. Sessions, login and
// sign-up pacing, invites, the admin setup token, leases and stats
// samples are not backed up. The search index is derived from analyses and
// rebuilt on restore; variants are derived from images, made again on
// demand, and cleared by a restore.
var BackupTables = []*BackupTableDef{
	{Name: "users", Columns: []BackupColumn{
		{Name: "id", Kind: BackupKindInt},
		{Name: "username", Kind: BackupKindText},
		{Name: "first_name", Kind: BackupKindText},
		{Name: "last_name", Kind: BackupKindText},
		{Name: "email", Kind: BackupKindText},
		{Name: "birthday", Kind: BackupKindDate},
		{Name: "phone", Kind: BackupKindText},
		{Name: "admin", Kind: BackupKindBool},
		{Name: "disabled", Kind: BackupKindBool},
		{Name: "password_hash", Kind: BackupKindText},
		{Name: "created_at", Kind: BackupKindTime},
		{Name: "updated_at", Kind: BackupKindTime},
		{Name: "quota_bytes", Kind: BackupKindInt, Null: true, Since: 9},
		{Name: "quota_images", Kind: BackupKindInt, Null: true, Since: 9},
	}},
	{Name: "api_keys", Columns: []BackupColumn{
		{Name: "id", Kind: BackupKindInt},
		{Name: "user_id", Kind: BackupKindInt},
		{Name: "name", Kind: BackupKindText},
		{Name: "prefix", Kind: BackupKindText},
		{Name: "hash", Kind: BackupKindText},
		{Name: "created_at", Kind: BackupKindTime},
		{Name: "last_used_at", Kind: BackupKindTime, Null: true},
	}},
	{Name: "images", Columns: []BackupColumn{
		{Name: "id", Kind: BackupKindInt},
		{Name: "owner_id", Kind: BackupKindInt},
		{Name: "key", Kind: BackupKindText},
		{Name: "blob_key", Kind: BackupKindText},
		{Name: "thumb_key", Kind: BackupKindText},
		{Name: "size", Kind: BackupKindInt},
		{Name: "content_type", Kind: BackupKindText},
		{Name: "width", Kind: BackupKindInt},
		{Name: "height", Kind: BackupKindInt},
		{Name: "checksum", Kind: BackupKindText},
		{Name: "created_at", Kind: BackupKindTime},
		{Name: "thumb_size", Kind: BackupKindInt, Since: 9},
		{Name: "original_key", Kind: BackupKindText, Since: 9},
		{Name: "original_size", Kind: BackupKindInt, Since: 9},
		{Name: "metadata", Kind: BackupKindText, Since: 9},
		{Name: "source_checksum", Kind: BackupKindText, Since: 9},
	}},
	{Name: "trash", Since: 9, Columns: []BackupColumn{
		{Name: "id", Kind: BackupKindInt},
		{Name: "owner_id", Kind: BackupKindInt},
		{Name: "key", Kind: BackupKindText},
		{Name: "blob_key", Kind: BackupKindText},
		{Name: "thumb_key", Kind: BackupKindText},
		{Name: "size", Kind: BackupKindInt},
		{Name: "content_type", Kind: BackupKindText},
		{Name: "width", Kind: BackupKindInt},
		{Name: "height", Kind: BackupKindInt},
		{Name: "checksum", Kind: BackupKindText},
		{Name: "created_at", Kind: BackupKindTime},
		{Name: "thumb_size", Kind: BackupKindInt},
		{Name: "original_key", Kind: BackupKindText},
		{Name: "original_size", Kind: BackupKindInt},
		{Name: "metadata", Kind: BackupKindText},
		{Name: "source_checksum", Kind: BackupKindText},
		{Name: "deleted_at", Kind: BackupKindTime},
		{Name: "purge_at", Kind: BackupKindTime},
	}},
	{Name: "analyses", Columns: []BackupColumn{
		{Name: "image_id", Kind: BackupKindInt},
		{Name: "checksum", Kind: BackupKindText},
		{Name: "status", Kind: BackupKindText},
		{Name: "labels", Kind: BackupKindText}, // JSON of []Label
		{Name: "lines", Kind: BackupKindText},  // JSON of []TextLine
		{Name: "error", Kind: BackupKindText},
		{Name: "attempts", Kind: BackupKindInt},
		{Name: "updated_at", Kind: BackupKindTime},
		{Name: "claimed_until", Kind: BackupKindTime, Null: true},
		{Name: "queued_at", Kind: BackupKindTime},
	}},
	{Name: "settings", Columns: []BackupColumn{
		{Name: "name", Kind: BackupKindText},
		{Name: "value", Kind: BackupKindText},
	}},
	{Name: "shares", Since: 9, Columns: []BackupColumn{
		{Name: "id", Kind: BackupKindInt},
		{Name: "owner_id", Kind: BackupKindInt},
		{Name: "kind", Kind: BackupKindText},
		{Name: "key", Kind: BackupKindText},
		{Name: "title", Kind: BackupKindText},
		{Name: "created_at", Kind: BackupKindTime},
		{Name: "expires_at", Kind: BackupKindTime, Null: true},
		{Name: "max_views", Kind: BackupKindInt, Null: true},
		{Name: "views", Kind: BackupKindInt},
		{Name: "revoked_at", Kind: BackupKindTime, Null: true},
	}},
}

// BackupTable returns the definition in BackupTables of the table named
// name, or nil.
func BackupTable(name string) *BackupTableDef {
	for _, t := range BackupTables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// BackupStore reads and replaces, as a whole, the tables a backup holds.
// store/sqlite and store/postgres implement it (storetest checks them).
type BackupStore interface {
	// SchemaVersion returns the number of schema migrations applied.
	SchemaVersion(ctx context.Context) (int, error)
	// ExportTables calls fn with every row of every table of BackupTables,
	// table after table in that order, rows in primary key order, all
	// read from one consistent snapshot. A row's values follow the table's
	// columns with the Go types of their Kind. An error from fn stops the
	// export and is returned.
	ExportTables(ctx context.Context, fn func(t *BackupTableDef, row []any) error) error
	// ImportTables replaces every row of the tables of BackupTables with
	// the rows next yields, in one transaction: on any error, including a
	// row that breaks a constraint (ECONFLICT or EINVALID, naming the
	// table), nothing changes. next calls yield for each row, parents
	// before children as in BackupTables; rows of settings named in keep
	// are skipped and those settings keep their current values. It ends
	// every session (ids may now name other users), rebuilds the search
	// index from the analyses, and moves id sequences past the largest id.
	ImportTables(ctx context.Context, keep []string, next func(yield func(t *BackupTableDef, row []any) error) error) error
}

// MillisUTC truncates t to the millisecond precision stores keep, in UTC,
// as BackupKindTime values are.
func MillisUTC(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// goType names the Go type of k's values, for error messages.
func (k BackupKind) goType() string {
	if k == BackupKindTime {
		return "time.Time"
	}
	if k == BackupKindInt {
		return "int64"
	}
	if k == BackupKindBool {
		return "bool"
	}
	return "string"
}

// BackupTableIndex returns the index in BackupTables of t, which must be
// one of them or have the name and columns of one (EINVALID if not).
func BackupTableIndex(t *BackupTableDef) (int, error) {
	if t == nil {
		return 0, Errorf(EINVALID, "no table")
	}
	for i, bt := range BackupTables {
		if t == bt || t.Name == bt.Name && slices.Equal(t.Columns, bt.Columns) {
			return i, nil
		}
	}
	return 0, Errorf(EINVALID, "table %q is not one a backup holds, or not with these columns", t.Name)
}

// CheckBackupRow checks that row, the nth of t, has a value of the Go
// type of each column's Kind (a date a real YYYY-MM-DD one), nil only
// where the column may be NULL. Errors are EINVALID and name the table,
// row and column, as ImportTables's must.
func CheckBackupRow(t *BackupTableDef, n int, row []any) error {
	if len(row) != len(t.Columns) {
		return Errorf(EINVALID, "%s row %d: %d values, want %d", t.Name, n, len(row), len(t.Columns))
	}
	for i, c := range t.Columns {
		v := row[i]
		if v == nil {
			if !c.Null {
				return Errorf(EINVALID, "%s row %d: %s may not be null", t.Name, n, c.Name)
			}
			continue
		}
		ok := false
		switch c.Kind {
		case BackupKindInt:
			_, ok = v.(int64)
		case BackupKindText:
			_, ok = v.(string)
		case BackupKindBool:
			_, ok = v.(bool)
		case BackupKindTime:
			_, ok = v.(time.Time)
		case BackupKindDate:
			var d string
			if d, ok = v.(string); ok {
				if tm, err := time.Parse(time.DateOnly, d); err != nil || tm.Format(time.DateOnly) != d {
					return Errorf(EINVALID, "%s row %d: %s is %q, want a date YYYY-MM-DD", t.Name, n, c.Name, d)
				}
			}
		}
		if !ok {
			return Errorf(EINVALID, "%s row %d: %s is %T, want %s", t.Name, n, c.Name, v, c.Kind.goType())
		}
	}
	return nil
}

// BackupValue returns the value of row, of t, in the column named name.
// It panics if t has no such column.
func BackupValue(t *BackupTableDef, row []any, name string) any {
	for i, c := range t.Columns {
		if c.Name == name {
			return row[i]
		}
	}
	panic("pixpool: no column " + name + " in " + t.Name)
}

// BackupAnalysis reads the status, labels and lines of row, the nth of
// the analyses table (checked by CheckBackupRow), checking that the
// labels and lines are JSON that Analysis can hold.
func BackupAnalysis(t *BackupTableDef, n int, row []any) (*Analysis, error) {
	a := &Analysis{Status: BackupValue(t, row, "status").(string)}
	if err := json.Unmarshal([]byte(BackupValue(t, row, "labels").(string)), &a.Labels); err != nil {
		return nil, Errorf(EINVALID, "%s row %d: labels are not JSON of labels: %v", t.Name, n, err)
	}
	if err := json.Unmarshal([]byte(BackupValue(t, row, "lines").(string)), &a.Lines); err != nil {
		return nil, Errorf(EINVALID, "%s row %d: lines are not JSON of text lines: %v", t.Name, n, err)
	}
	return a, nil
}
