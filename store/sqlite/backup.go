package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ pixpool.BackupStore = (*Store)(nil)

// SchemaVersion returns the number of schema migrations applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.db)
	if err != nil {
		return 0, wrap("schema version", err)
	}
	return v, nil
}

// ExportTables calls fn with every row of the tables of
// pixpool.BackupTables, rows in primary key order, all read in one
// transaction.
//
// The transaction is read-only, and for this driver that makes it begin
// DEFERRED where every other transaction begins IMMEDIATE (_txlock applies
// only to the others): it takes no write lock, so writers go on while fn
// writes the rows out, and none of them waits up to busyTimeout and fails.
// In WAL mode such a transaction reads one snapshot, fixed by its first
// SELECT, to its end, whatever commits in between. (The driver does not
// otherwise enforce read-only; this transaction only reads.) The cost of a
// long export is that checkpoints cannot wrap the WAL around the snapshot,
// so the WAL file grows until the export ends.
func (s *Store) ExportTables(ctx context.Context, fn func(t *pixpool.BackupTableDef, row []any) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return wrap("export tables", err)
	}
	defer tx.Rollback() // only read
	for _, t := range pixpool.BackupTables {
		if err := exportTable(ctx, tx, t, fn); err != nil {
			return err
		}
	}
	return nil
}

// exportTable calls fn with every row of t, converting its values from
// SQLite's storage (Unix milliseconds, 0 or 1) to the Go types of their
// Kind. An error of fn's is returned as it is.
func exportTable(ctx context.Context, tx *sql.Tx, t *pixpool.BackupTableDef, fn func(t *pixpool.BackupTableDef, row []any) error) error {
	names := columnNames(t)
	// The names are constants of pixpool.BackupTables, whose tables each
	// lead with their primary key.
	rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+t.Name+` ORDER BY `+names[0])
	if err != nil {
		return wrap("export "+t.Name, err)
	}
	defer rows.Close()
	var (
		ints = make([]sql.NullInt64, len(t.Columns)) // int, bool and time columns
		strs = make([]sql.NullString, len(t.Columns))
		dest = make([]any, len(t.Columns))
	)
	for i, c := range t.Columns {
		if c.Kind == pixpool.BackupKindText || c.Kind == pixpool.BackupKindDate {
			dest[i] = &strs[i]
		} else {
			dest[i] = &ints[i]
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return wrap("export "+t.Name, err)
		}
		row := make([]any, len(t.Columns)) // fn's to keep
		for i, c := range t.Columns {
			switch {
			case c.Kind == pixpool.BackupKindText || c.Kind == pixpool.BackupKindDate:
				if strs[i].Valid {
					row[i] = strs[i].String
				}
			case !ints[i].Valid:
			case c.Kind == pixpool.BackupKindInt:
				row[i] = ints[i].Int64
			case c.Kind == pixpool.BackupKindBool:
				row[i] = ints[i].Int64 != 0
			case c.Kind == pixpool.BackupKindTime:
				row[i] = fromMillis(ints[i].Int64)
			}
		}
		if err := fn(t, row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return wrap("export "+t.Name, err)
	}
	return nil
}

// ImportTables replaces the rows of the tables of pixpool.BackupTables with
// those next yields, in one (IMMEDIATE) transaction. It deletes the old
// rows child first, with every session and the search index, then inserts
// each row as it comes through a statement prepared once per table, and
// adds each done analysis to the search index as SaveAnalysis does. Ids are
// kept; SQLite gives a new row the largest rowid plus one, so there is no
// sequence to move. A row that breaks a constraint is ECONFLICT (a
// duplicate) or EINVALID (anything else, such as a missing parent), and a
// row of the wrong shape is EINVALID; the message names the table and the
// row's number among that table's rows, counted from 1.
//
// The transaction holds the write lock throughout, next's reading of the
// archive included: readers see the old rows until it commits, and other
// writers wait up to busyTimeout, then fail.
func (s *Store) ImportTables(ctx context.Context, keep []string, next func(yield func(t *pixpool.BackupTableDef, row []any) error) error) error {
	defer s.authChanged()
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		if err := clearTables(ctx, tx, keep); err != nil {
			return err
		}
		im := &importer{ctx: ctx, tx: tx, keep: make(map[string]bool), table: -1}
		for _, name := range keep {
			im.keep[name] = true
		}
		err := next(im.yield)
		if im.err != nil {
			return im.err // even if next dropped it
		}
		return err
	})
	if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
		return wrap("import tables", err)
	}
	return err
}

// clearTables deletes every row of the backed-up tables, but the settings
// named in keep, and every session, search index entry and variant (the
// images they were made of are replaced; their blobs go to the sweeper).
func clearTables(ctx context.Context, tx *sql.Tx, keep []string) error {
	_, err := tx.ExecContext(ctx, `
		DELETE FROM analysis_search;
		DELETE FROM analyses;
		DELETE FROM variants;
		DELETE FROM trash;
		DELETE FROM shares;
		DELETE FROM images;
		DELETE FROM api_keys;
		DELETE FROM sessions;
		DELETE FROM users;`)
	if err != nil {
		return err
	}
	q, args := `DELETE FROM settings`, make([]any, len(keep))
	if len(keep) > 0 {
		q += ` WHERE name NOT IN (?` + strings.Repeat(", ?", len(keep)-1) + `)`
		for i, name := range keep {
			args[i] = name
		}
	}
	_, err = tx.ExecContext(ctx, q, args...)
	return err
}

// importer inserts the rows ImportTables' next yields.
type importer struct {
	ctx    context.Context
	tx     *sql.Tx
	keep   map[string]bool // settings not to restore
	table  int             // index in pixpool.BackupTables of the table being restored; -1 before the first
	n      int             // its rows so far
	insert *sql.Stmt       // its INSERT
	search *sql.Stmt       // the search index's INSERT, once needed
	err    error           // the first error yield returned
}

// yield inserts one row. After an error it returns that error again and
// does nothing.
func (im *importer) yield(t *pixpool.BackupTableDef, row []any) error {
	if im.err == nil {
		im.err = im.add(t, row)
	}
	return im.err
}

func (im *importer) add(t *pixpool.BackupTableDef, row []any) error {
	if err := im.enter(t); err != nil {
		return err
	}
	t = pixpool.BackupTables[im.table]
	im.n++
	args, err := rowArgs(t, im.n, row)
	if err != nil {
		return err
	}
	if t.Name == "settings" && im.keep[pixpool.BackupValue(t, row, "name").(string)] {
		return nil
	}
	var doc *string
	if t.Name == "analyses" {
		if doc, err = analysisDoc(t, im.n, row); err != nil {
			return err
		}
	}
	if _, err := im.insert.ExecContext(im.ctx, args...); err != nil {
		return constraintError(t, im.n, err)
	}
	if doc == nil {
		return nil
	}
	if im.search == nil {
		if im.search, err = im.tx.PrepareContext(im.ctx, `INSERT INTO analysis_search (rowid, doc) VALUES (?, ?)`); err != nil {
			return err
		}
	}
	_, err = im.search.ExecContext(im.ctx, pixpool.BackupValue(t, row, "image_id"), *doc)
	return err
}

// enter makes t the table being restored, if it is not already, and
// prepares its INSERT. Tables must come in the order of BackupTables.
func (im *importer) enter(t *pixpool.BackupTableDef) error {
	i, err := pixpool.BackupTableIndex(t)
	if err != nil {
		return err
	}
	switch {
	case i == im.table:
		return nil
	case i < im.table:
		return pixpool.Errorf(pixpool.EINVALID, "table %s comes after %s: a backup's tables must come in the order of pixpool.BackupTables",
			t.Name, pixpool.BackupTables[im.table].Name)
	}
	if im.insert != nil {
		im.insert.Close()
	}
	t = pixpool.BackupTables[i]
	names := columnNames(t)
	stmt, err := im.tx.PrepareContext(im.ctx, `INSERT INTO `+t.Name+` (`+strings.Join(names, ", ")+`) VALUES (?`+strings.Repeat(", ?", len(names)-1)+`)`)
	if err != nil {
		return err
	}
	im.table, im.n, im.insert = i, 0, stmt
	return nil
}

// rowArgs checks row, the nth of t (pixpool.CheckBackupRow), and returns
// its values as SQLite keeps them: times as Unix milliseconds.
func rowArgs(t *pixpool.BackupTableDef, n int, row []any) ([]any, error) {
	if err := pixpool.CheckBackupRow(t, n, row); err != nil {
		return nil, err
	}
	args := make([]any, len(row))
	for i, v := range row {
		if tm, ok := v.(time.Time); ok {
			v = millis(tm)
		}
		args[i] = v
	}
	return args, nil
}

// analysisDoc checks the labels and lines of row, the nth of analyses,
// and returns the search document of a done analysis (nil for any other).
func analysisDoc(t *pixpool.BackupTableDef, n int, row []any) (*string, error) {
	a, err := pixpool.BackupAnalysis(t, n, row)
	if err != nil || a.Status != pixpool.AnalysisDone {
		return nil, err
	}
	doc := searchDoc(a)
	return &doc, nil
}

// columnNames returns the names of t's columns.
func columnNames(t *pixpool.BackupTableDef) []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// constraintError returns a broken constraint, in the nth row of t, as
// ECONFLICT (a duplicate key) or EINVALID (any other, such as a missing
// parent row), and any other error as it is.
func constraintError(t *pixpool.BackupTableDef, n int, err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
		return err
	}
	// The driver's message is "constraint failed: SQLite's message (code)".
	msg := strings.TrimSuffix(e.Error(), fmt.Sprintf(" (%d)", e.Code()))
	if _, m, ok := strings.Cut(msg, ": "); ok {
		msg = m
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_ROWID:
		return pixpool.Errorf(pixpool.ECONFLICT, "%s row %d: a duplicate (%s)", t.Name, n, msg)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return pixpool.Errorf(pixpool.EINVALID, "%s row %d: refers to a row that is not there (%s)", t.Name, n, msg)
	}
	return pixpool.Errorf(pixpool.EINVALID, "%s row %d: %s", t.Name, n, msg)
}
