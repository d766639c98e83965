package pixpool

import (
	"context"
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
// analyses and settings. Sessions, login throttling, leases and stats
// samples are not backed up. The search index is derived from analyses and
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
