package pixpool

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Kind is the type of a backed-up column's values, the same in every
// store: a backup taken on one restores onto another.
type Kind int

// Column kinds, and the Go type of their values in a row (nil for NULL):
const (
	KindInt  Kind = iota // int64
	KindText             // string
	KindBool             // bool
	KindTime             // time.Time in UTC, millisecond precision
	KindDate             // string "YYYY-MM-DD"
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindText:
		return "text"
	case KindBool:
		return "bool"
	case KindTime:
		return "time"
	case KindDate:
		return "date"
	}
	return "unknown"
}

// Column is one column of a backed-up table.
type Column struct {
	Name string
	Kind Kind
	Null bool // may be NULL
}

// Table is a table a backup holds, with its columns in the order a row's
// values come in.
type Table struct {
	Name    string
	Columns []Column
}

// BackupTables are the tables a backup holds, parents before children (the
// order rows are restored in): accounts, API keys, image metadata, their
// analyses and settings. Sessions, login and sign-up pacing, invites, the
// admin setup token, leases and stats samples are not backed up. The search index is derived from analyses and
// rebuilt on restore.
var BackupTables = []*Table{
	{Name: "users", Columns: []Column{
		{Name: "id", Kind: KindInt},
		{Name: "username", Kind: KindText},
		{Name: "first_name", Kind: KindText},
		{Name: "last_name", Kind: KindText},
		{Name: "email", Kind: KindText},
		{Name: "birthday", Kind: KindDate},
		{Name: "phone", Kind: KindText},
		{Name: "admin", Kind: KindBool},
		{Name: "disabled", Kind: KindBool},
		{Name: "password_hash", Kind: KindText},
		{Name: "created_at", Kind: KindTime},
		{Name: "updated_at", Kind: KindTime},
	}},
	{Name: "api_keys", Columns: []Column{
		{Name: "id", Kind: KindInt},
		{Name: "user_id", Kind: KindInt},
		{Name: "name", Kind: KindText},
		{Name: "prefix", Kind: KindText},
		{Name: "hash", Kind: KindText},
		{Name: "created_at", Kind: KindTime},
		{Name: "last_used_at", Kind: KindTime, Null: true},
	}},
	{Name: "images", Columns: []Column{
		{Name: "id", Kind: KindInt},
		{Name: "owner_id", Kind: KindInt},
		{Name: "key", Kind: KindText},
		{Name: "blob_key", Kind: KindText},
		{Name: "thumb_key", Kind: KindText},
		{Name: "size", Kind: KindInt},
		{Name: "content_type", Kind: KindText},
		{Name: "width", Kind: KindInt},
		{Name: "height", Kind: KindInt},
		{Name: "checksum", Kind: KindText},
		{Name: "created_at", Kind: KindTime},
	}},
	{Name: "analyses", Columns: []Column{
		{Name: "image_id", Kind: KindInt},
		{Name: "checksum", Kind: KindText},
		{Name: "status", Kind: KindText},
		{Name: "labels", Kind: KindText}, // JSON of []Label
		{Name: "lines", Kind: KindText},  // JSON of []TextLine
		{Name: "error", Kind: KindText},
		{Name: "attempts", Kind: KindInt},
		{Name: "updated_at", Kind: KindTime},
		{Name: "claimed_until", Kind: KindTime, Null: true},
		{Name: "queued_at", Kind: KindTime},
	}},
	{Name: "settings", Columns: []Column{
		{Name: "name", Kind: KindText},
		{Name: "value", Kind: KindText},
	}},
}

// BackupTable returns the table of BackupTables named name, or nil.
func BackupTable(name string) *Table {
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
	ExportTables(ctx context.Context, fn func(t *Table, row []any) error) error
	// ImportTables replaces every row of the tables of BackupTables with
	// the rows next yields, in one transaction: on any error, including a
	// row that breaks a constraint (ECONFLICT or EINVALID, naming the
	// table), nothing changes. next calls yield for each row, parents
	// before children as in BackupTables; rows of settings named in keep
	// are skipped and those settings keep their current values. It ends
	// every session (ids may now name other users), rebuilds the search
	// index from the analyses, and moves id sequences past the largest id.
	ImportTables(ctx context.Context, keep []string, next func(yield func(t *Table, row []any) error) error) error
}

// MillisUTC truncates t to the millisecond precision stores keep, in UTC,
// as KindTime values are.
func MillisUTC(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// goType names the Go type of k's values, for error messages.
func (k Kind) goType() string {
	if k == KindTime {
		return "time.Time"
	}
	if k == KindInt {
		return "int64"
	}
	if k == KindBool {
		return "bool"
	}
	return "string"
}

// BackupTableIndex returns the index in BackupTables of t, which must be
// one of them or have the name and columns of one (EINVALID if not).
func BackupTableIndex(t *Table) (int, error) {
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
func CheckBackupRow(t *Table, n int, row []any) error {
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
		case KindInt:
			_, ok = v.(int64)
		case KindText:
			_, ok = v.(string)
		case KindBool:
			_, ok = v.(bool)
		case KindTime:
			_, ok = v.(time.Time)
		case KindDate:
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
func BackupValue(t *Table, row []any, name string) any {
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
func BackupAnalysis(t *Table, n int, row []any) (*Analysis, error) {
	a := &Analysis{Status: BackupValue(t, row, "status").(string)}
	if err := json.Unmarshal([]byte(BackupValue(t, row, "labels").(string)), &a.Labels); err != nil {
		return nil, Errorf(EINVALID, "%s row %d: labels are not JSON of labels: %v", t.Name, n, err)
	}
	if err := json.Unmarshal([]byte(BackupValue(t, row, "lines").(string)), &a.Lines); err != nil {
		return nil, Errorf(EINVALID, "%s row %d: lines are not JSON of text lines: %v", t.Name, n, err)
	}
	return a, nil
}
