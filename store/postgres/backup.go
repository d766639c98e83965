package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/pixpool/pixpool"
)

var _ pixpool.BackupStore = (*Store)(nil)

// importBatch is how many rows ImportTables sends in one round trip.
const importBatch = 1000

// SchemaVersion returns the number of schema migrations applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.pool)
	if err != nil {
		return 0, wrap("schema version", err)
	}
	return v, nil
}

// ExportTables calls fn with every row of the tables of
// pixpool.BackupTables, rows in primary key order, all read in one
// REPEATABLE READ, READ ONLY transaction: one snapshot, which blocks no
// writer. Text keys (settings' names) are ordered COLLATE "C", bytewise,
// as store/sqlite orders them, whatever the database's collation.
func (s *Store) ExportTables(ctx context.Context, fn func(t *pixpool.BackupTableDef, row []any) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return wrap("export tables", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // only read
	for _, t := range pixpool.BackupTables {
		if err := exportTable(ctx, tx, t, fn); err != nil {
			return err
		}
	}
	return nil
}

// exportTable calls fn with every row of t, converting its values to the
// Go types of their Kind. An error of fn's is returned as it is.
func exportTable(ctx context.Context, tx pgx.Tx, t *pixpool.BackupTableDef, fn func(t *pixpool.BackupTableDef, row []any) error) error {
	names := columnNames(t)
	// The names are constants of pixpool.BackupTables, whose tables each
	// lead with their primary key.
	order := names[0]
	if t.Columns[0].Kind == pixpool.BackupKindText {
		order += ` COLLATE "C"`
	}
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+t.Name+` ORDER BY `+order)
	if err != nil {
		return wrap("export "+t.Name, err)
	}
	defer rows.Close()
	dest := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		switch c.Kind {
		case pixpool.BackupKindInt:
			dest[i] = new(pgtype.Int8)
		case pixpool.BackupKindText:
			dest[i] = new(pgtype.Text)
		case pixpool.BackupKindBool:
			dest[i] = new(pgtype.Bool)
		case pixpool.BackupKindTime:
			dest[i] = new(pgtype.Timestamptz)
		case pixpool.BackupKindDate:
			dest[i] = new(pgtype.Date)
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return wrap("export "+t.Name, err)
		}
		row := make([]any, len(t.Columns)) // fn's to keep; nil for NULL
		for i := range dest {
			switch d := dest[i].(type) {
			case *pgtype.Int8:
				if d.Valid {
					row[i] = d.Int64
				}
			case *pgtype.Text:
				if d.Valid {
					row[i] = d.String
				}
			case *pgtype.Bool:
				if d.Valid {
					row[i] = d.Bool
				}
			case *pgtype.Timestamptz:
				if d.Valid {
					row[i] = ts(d.Time)
				}
			case *pgtype.Date:
				if d.Valid {
					row[i] = d.Time.Format(time.DateOnly)
				}
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
// those next yields, in one transaction. It locks the tables against
// writers (readers see the old rows until it commits), deletes the old rows
// child first, with every session, then inserts the rows in batches of
// importBatch, each done analysis with its search vector as SaveAnalysis
// computes it, and last moves the id sequences past the largest ids. A row
// that breaks a constraint is ECONFLICT (a duplicate) or EINVALID
// (anything else, such as a missing parent or a number too large for its
// column), and a row of the wrong shape, or with text PostgreSQL cannot
// hold, is EINVALID; the message names the table and the row's number
// among that table's rows, counted from 1.
func (s *Store) ImportTables(ctx context.Context, keep []string, next func(yield func(t *pixpool.BackupTableDef, row []any) error) error) error {
	defer s.authChanged()
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		if err := clearTables(ctx, tx, keep); err != nil {
			return err
		}
		im := &importer{ctx: ctx, tx: tx, keep: make(map[string]bool), table: -1, batch: &pgx.Batch{}}
		for _, name := range keep {
			im.keep[name] = true
		}
		err := next(im.yield)
		if im.err != nil {
			return im.err // even if next dropped it
		}
		if err != nil {
			return err
		}
		if err := im.flush(); err != nil {
			return err
		}
		return moveSequences(ctx, tx)
	})
	if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
		return fmt.Errorf("postgres: import tables: %w", err)
	}
	return err
}

// clearTables locks the backed-up tables, sessions and variants against
// writers and deletes their rows, but the settings named in keep (variants
// are made of the images being replaced; their blobs go to the sweeper). EXCLUSIVE mode lets
// readers go on. The tables are locked children first, the order in which
// a writer locks them (its row, then the parent's key), so that a writer
// holding a child's lock while it waits for the parent's finishes first
// rather than deadlocking with the import.
func clearTables(ctx context.Context, tx pgx.Tx, keep []string) error {
	_, err := tx.Exec(ctx, `
		LOCK TABLE analyses, variants, trash, shares, images, api_keys, sessions, settings, users IN EXCLUSIVE MODE;
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
	// Names PostgreSQL cannot hold name no setting; the array must not be
	// nil, which would be NULL and keep every row.
	names := []string{}
	for _, name := range keep {
		if storable(name) {
			names = append(names, name)
		}
	}
	_, err = tx.Exec(ctx, `DELETE FROM settings WHERE name <> ALL($1::text[])`, names)
	return err
}

// moveSequences moves the identity sequences of users, api_keys, images,
// trash and shares past their tables' largest ids, so that new rows get new ids. It never
// moves one back, even if the table is now empty: setval is not undone by
// a rollback, so were the commit to fail after it, a sequence moved back
// would hand out ids the old rows still hold.
func moveSequences(ctx context.Context, tx pgx.Tx) error {
	for _, table := range []string{"users", "api_keys", "images", "trash", "shares"} {
		_, err := tx.Exec(ctx, `
			SELECT setval(seq, greatest(nextval(seq), (SELECT coalesce(max(id), 0) + 1 FROM `+table+`)), false)
			FROM (SELECT pg_get_serial_sequence($1, 'id')::regclass AS seq) s`, table)
		if err != nil {
			return fmt.Errorf("sequence of %s: %w", table, err)
		}
	}
	return nil
}

// importer inserts the rows ImportTables' next yields, in batches.
type importer struct {
	ctx    context.Context
	tx     pgx.Tx
	keep   map[string]bool // settings not to restore
	table  int             // index in pixpool.BackupTables of the table being restored; -1 before the first
	n      int             // its rows so far
	insert string          // its INSERT
	batch  *pgx.Batch      // INSERTs not yet sent
	queued []queuedRow     // which row each of batch's is
	err    error           // the first error yield returned
}

// queuedRow names a row whose INSERT is in a batch.
type queuedRow struct {
	table *pixpool.BackupTableDef
	n     int
}

// yield queues one row, and sends the batch once it is full. After an
// error it returns that error again and does nothing.
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
	if t.Name == "analyses" {
		doc, err := analysisDoc(t, im.n, row)
		if err != nil {
			return err
		}
		args = append(args, doc)
	}
	im.batch.Queue(im.insert, args...)
	im.queued = append(im.queued, queuedRow{t, im.n})
	if len(im.queued) >= importBatch {
		return im.flush()
	}
	return nil
}

// flush sends the queued INSERTs, and returns the first one's error, if
// any, as the error of its row.
func (im *importer) flush() error {
	if len(im.queued) == 0 {
		return nil
	}
	br := im.tx.SendBatch(im.ctx, im.batch)
	for _, q := range im.queued {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return constraintError(q.table, q.n, err)
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	im.batch, im.queued = &pgx.Batch{}, im.queued[:0]
	return nil
}

// enter makes t the table being restored, if it is not already. Tables
// must come in the order of BackupTables.
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
	im.table, im.n, im.insert = i, 0, insertSQL(pixpool.BackupTables[i])
	return nil
}

// pgTypes are the types the parameters of each Kind are sent as. They are
// wider than some columns (integer), so that PostgreSQL, not the driver,
// refuses a number out of a column's range, and the error is a row's.
var pgTypes = map[pixpool.BackupKind]string{
	pixpool.BackupKindInt:  "bigint",
	pixpool.BackupKindText: "text",
	pixpool.BackupKindBool: "boolean",
	pixpool.BackupKindTime: "timestamptz",
	pixpool.BackupKindDate: "date",
}

// insertSQL returns the INSERT of a row of t. That of analyses takes the
// search document as one more parameter, NULL for none, and computes the
// search vector from it as SaveAnalysis does.
func insertSQL(t *pixpool.BackupTableDef) string {
	names := columnNames(t)
	params := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		params[i] = fmt.Sprintf("$%d::%s", i+1, pgTypes[c.Kind])
	}
	if t.Name == "analyses" {
		names = append(names, "search")
		params = append(params, fmt.Sprintf("to_tsvector('simple', $%d::text)", len(params)+1))
	}
	return `INSERT INTO ` + t.Name + ` (` + strings.Join(names, ", ") + `) VALUES (` + strings.Join(params, ", ") + `)`
}

// rowArgs checks row, the nth of t (pixpool.CheckBackupRow), and that
// its text is text PostgreSQL can hold, and returns its values as pgx
// sends them: times truncated to the millisecond, dates as times.
func rowArgs(t *pixpool.BackupTableDef, n int, row []any) ([]any, error) {
	if err := pixpool.CheckBackupRow(t, n, row); err != nil {
		return nil, err
	}
	args := make([]any, len(row))
	for i, c := range t.Columns {
		v := row[i]
		switch v := v.(type) {
		case time.Time:
			args[i] = ts(v)
			continue
		case string:
			if !storable(v) {
				return nil, pixpool.Errorf(pixpool.EINVALID, "%s row %d: %s is not valid UTF-8 without NUL characters", t.Name, n, c.Name)
			}
			if c.Kind == pixpool.BackupKindDate {
				args[i], _ = time.Parse(time.DateOnly, v) // checked above
				continue
			}
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

// constraintError returns a broken constraint or a value out of a
// column's range, in the nth row of t, as ECONFLICT (a duplicate key) or
// EINVALID (any other, such as a missing parent row), and any other error
// as it is.
func constraintError(t *pixpool.BackupTableDef, n int, err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return err
	}
	msg := e.Message
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	switch {
	case e.Code == "23505": // unique_violation
		return pixpool.Errorf(pixpool.ECONFLICT, "%s row %d: a duplicate (%s)", t.Name, n, msg)
	case e.Code == "23503": // foreign_key_violation
		return pixpool.Errorf(pixpool.EINVALID, "%s row %d: refers to a row that is not there (%s)", t.Name, n, msg)
	case strings.HasPrefix(e.Code, "23"), strings.HasPrefix(e.Code, "22"): // integrity_constraint_violation, data_exception
		return pixpool.Errorf(pixpool.EINVALID, "%s row %d: %s", t.Name, n, msg)
	}
	return err
}
