package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

// The archive: a gzipped tar of one JSON Lines file per table of
// pixpool.BackupTables, in that order ("users.jsonl", ...), then
// manifest.json. Each line is one row as a JSON object of its columns,
// in column order: ints as numbers, text as strings, booleans, times as
// RFC 3339 UTC strings with milliseconds, dates as "YYYY-MM-DD", NULL as
// null. The manifest comes last because it holds each part's SHA-256 and
// row count, known only once the part is written.
const (
	// Format is the version of the archive layout this build writes and
	// reads.
	Format       = 1
	manifestFile = "manifest.json"
	// maxLine bounds one row's JSON (analyses carry the text read).
	maxLine = 16 << 20
	// maxManifest bounds manifest.json.
	maxManifest = 1 << 20
)

// Manifest describes an archive.
type Manifest struct {
	Format    int       `json:"format"`
	Schema    int       `json:"schema"` // the store's schema version
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Trigger   string    `json:"trigger"`
	By        string    `json:"by,omitempty"` // the admin who asked for it
	Version   string    `json:"pixpool_version"`
	Parts     []Part    `json:"parts"`
}

// Part is one table's file in the archive.
type Part struct {
	Table   string   `json:"table"`
	File    string   `json:"file"`
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"`
	Bytes   int64    `json:"bytes"`
	SHA256  string   `json:"sha256"`
}

// Rows returns the row count of each table.
func (m *Manifest) Rows() map[string]int64 {
	rows := make(map[string]int64, len(m.Parts))
	for _, p := range m.Parts {
		rows[p.Table] = p.Rows
	}
	return rows
}

// encodeRow appends row, of table t, as one JSON line.
func encodeRow(buf []byte, t *pixpool.BackupTableDef, row []any) ([]byte, error) {
	if len(row) != len(t.Columns) {
		return nil, fmt.Errorf("%s: a row of %d values for %d columns", t.Name, len(row), len(t.Columns))
	}
	buf = append(buf, '{')
	for i, c := range t.Columns {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, c.Name...) // column names are plain identifiers
		buf = append(buf, '"', ':')
		v, err := encodeValue(c, row[i])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name, c.Name, err)
		}
		buf = append(buf, v...)
	}
	return append(buf, '}', '\n'), nil
}

func encodeValue(c pixpool.BackupColumn, v any) ([]byte, error) {
	if v == nil {
		if !c.Null {
			return nil, errors.New("NULL in a NOT NULL column")
		}
		return []byte("null"), nil
	}
	switch c.Kind {
	case pixpool.BackupKindInt:
		if n, ok := v.(int64); ok {
			return fmt.Appendf(nil, "%d", n), nil
		}
	case pixpool.BackupKindText:
		if s, ok := v.(string); ok {
			return json.Marshal(s)
		}
	case pixpool.BackupKindBool:
		if b, ok := v.(bool); ok {
			return json.Marshal(b)
		}
	case pixpool.BackupKindTime:
		if t, ok := v.(time.Time); ok {
			return json.Marshal(t.UTC().Format(timeLayout))
		}
	case pixpool.BackupKindDate:
		if s, ok := v.(string); ok {
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				return nil, fmt.Errorf("date %q is not YYYY-MM-DD", s)
			}
			return json.Marshal(s)
		}
	}
	return nil, fmt.Errorf("a %T for a %s column", v, c.Kind)
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// decodeRow parses one JSON line of table t into its values; it insists on
// every column, and on no others, but a column added by a later schema
// (Since) may be missing: it takes its Zero value, and missing reports the
// latest schema version of those missing (0 if none), which readArchive
// checks against the manifest's.
func decodeRow(t *pixpool.BackupTableDef, line []byte) (row []any, missing int, err error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, 0, fmt.Errorf("not a JSON object: %v", err)
	}
	if d.More() {
		return nil, 0, errors.New("more than one JSON value on the line")
	}
	if len(obj) != len(t.Columns) {
		for name := range obj {
			if !hasColumn(t, name) {
				return nil, 0, fmt.Errorf("unknown column %q", name)
			}
		}
	}
	row = make([]any, len(t.Columns))
	for i, c := range t.Columns {
		raw, ok := obj[c.Name]
		if !ok && c.Since > 0 {
			row[i], missing = c.Zero(), max(missing, c.Since)
			continue
		} else if !ok {
			return nil, 0, fmt.Errorf("column %q is missing", c.Name)
		}
		v, err := decodeValue(c, raw)
		if err != nil {
			return nil, 0, fmt.Errorf("column %q: %w", c.Name, err)
		}
		row[i] = v
	}
	return row, missing, nil
}

func hasColumn(t *pixpool.BackupTableDef, name string) bool {
	for _, c := range t.Columns {
		if c.Name == name {
			return true
		}
	}
	return false
}

func decodeValue(c pixpool.BackupColumn, raw any) (any, error) {
	if raw == nil {
		if !c.Null {
			return nil, errors.New("null in a NOT NULL column")
		}
		return nil, nil
	}
	switch c.Kind {
	case pixpool.BackupKindInt:
		if n, ok := raw.(json.Number); ok {
			return n.Int64()
		}
	case pixpool.BackupKindText:
		if s, ok := raw.(string); ok {
			return s, nil
		}
	case pixpool.BackupKindBool:
		if b, ok := raw.(bool); ok {
			return b, nil
		}
	case pixpool.BackupKindTime:
		if s, ok := raw.(string); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("time %q is not RFC 3339", s)
			}
			return pixpool.MillisUTC(t), nil
		}
	case pixpool.BackupKindDate:
		if s, ok := raw.(string); ok {
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				return nil, fmt.Errorf("date %q is not YYYY-MM-DD", s)
			}
			return s, nil
		}
	}
	return nil, fmt.Errorf("%s value expected, not %v", c.Kind, raw)
}

// spool collects a store's export into one temporary file per table, so
// the tar headers can carry each part's size.
type spool struct {
	dir   string
	files map[string]*os.File
	parts []Part
}

func newSpool(dir string) (*spool, error) {
	d, err := os.MkdirTemp(dir, "pixpool-backup-")
	if err != nil {
		return nil, err
	}
	sp := &spool{dir: d, files: make(map[string]*os.File)}
	for _, t := range pixpool.BackupTables {
		f, err := os.Create(d + "/" + t.Name + ".jsonl")
		if err != nil {
			sp.Close()
			return nil, err
		}
		sp.files[t.Name] = f
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c.Name
		}
		sp.parts = append(sp.parts, Part{Table: t.Name, File: t.Name + ".jsonl", Columns: cols})
	}
	return sp, nil
}

func (sp *spool) Close() error {
	for _, f := range sp.files {
		f.Close()
	}
	return os.RemoveAll(sp.dir)
}

// fill writes every row export yields to its table's file, counting them.
func (sp *spool) fill(export func(fn func(t *pixpool.BackupTableDef, row []any) error) error) error {
	var buf []byte
	writers := make(map[string]*bufio.Writer, len(sp.files))
	for name, f := range sp.files {
		writers[name] = bufio.NewWriterSize(f, 256<<10)
	}
	counts := make(map[string]int64)
	err := export(func(t *pixpool.BackupTableDef, row []any) error {
		w := writers[t.Name]
		if w == nil {
			return fmt.Errorf("backup: the store exported a row of unknown table %q", t.Name)
		}
		var err error
		if buf, err = encodeRow(buf[:0], t, row); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		counts[t.Name]++
		_, err = w.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	for i := range sp.parts {
		p := &sp.parts[i]
		if err := writers[p.Table].Flush(); err != nil {
			return err
		}
		p.Rows = counts[p.Table]
	}
	return nil
}

// writeTo writes the archive: the spooled parts, then the manifest m with
// their sizes and checksums.
func (sp *spool) writeTo(w io.Writer, m *Manifest) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	m.Parts = nil
	for _, p := range sp.parts {
		f := sp.files[p.Table]
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: p.File, Mode: 0o644, Size: size, ModTime: m.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(tw, h), f); err != nil {
			return err
		}
		p.Bytes, p.SHA256 = size, hex.EncodeToString(h.Sum(nil))
		m.Parts = append(m.Parts, p)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	mb = append(mb, '\n')
	if err := tw.WriteHeader(&tar.Header{Name: manifestFile, Mode: 0o644, Size: int64(len(mb)), ModTime: m.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(mb); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// invalid is an archive error users can act on.
func invalid(format string, args ...any) error {
	return pixpool.Errorf(pixpool.EINVALID, "The backup is damaged or not a pixpool backup: "+format, args...)
}

// readArchive reads an archive through, checking every part against the
// manifest and every row against its table, and returns the manifest. If
// yield is not nil, it is called with each row, in order, as it is read,
// before the manifest is checked: callers that change anything with the
// rows verify the archive first with a nil yield. schema is the newest
// store schema this build knows; a newer backup is refused.
func readArchive(r io.Reader, schema int, yield func(t *pixpool.BackupTableDef, row []any) error) (*Manifest, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, invalid("not gzip data (%v).", err)
	}
	tr := tar.NewReader(zr)
	type seen struct {
		rows    int64
		bytes   int64
		sum     string
		missing int // the latest Since of the columns its rows lacked
	}
	var (
		parts    = make(map[string]seen)
		order    []string
		manifest *Manifest
	)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, invalid("the archive is truncated or corrupt (%v).", err)
		}
		if manifest != nil {
			return nil, invalid("%q follows the manifest.", hdr.Name)
		}
		if hdr.Name == manifestFile {
			b, err := io.ReadAll(io.LimitReader(tr, maxManifest+1))
			if err != nil {
				return nil, invalid("the archive is truncated or corrupt: the manifest cannot be read (%v).", err)
			}
			if len(b) > maxManifest {
				return nil, invalid("the manifest is larger than %d bytes.", maxManifest)
			}
			manifest = new(Manifest)
			if err := json.Unmarshal(b, manifest); err != nil {
				return nil, invalid("the manifest is not valid JSON (%v).", err)
			}
			continue
		}
		name, ok := strings.CutSuffix(hdr.Name, ".jsonl")
		t := pixpool.BackupTable(name)
		if !ok || t == nil {
			return nil, invalid("unexpected file %q in the archive.", hdr.Name)
		}
		if _, dup := parts[name]; dup {
			return nil, invalid("%q appears twice.", hdr.Name)
		}
		h := sha256.New()
		n, rows, missing, err := readRows(io.TeeReader(tr, h), t, yield)
		if err != nil {
			return nil, err
		}
		parts[name] = seen{rows: rows, bytes: n, sum: hex.EncodeToString(h.Sum(nil)), missing: missing}
		order = append(order, name)
	}
	// The gzip stream must end where the tar does, checksum included.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, invalid("the archive is truncated or corrupt (%v).", err)
	}
	if manifest == nil {
		return nil, invalid("it has no manifest.")
	}
	m := manifest
	switch {
	case m.Format > Format:
		return nil, pixpool.Errorf(pixpool.EINVALID, "The backup %s is in archive format %d, made by a newer pixpool (%s); this one reads format %d. Restore it with pixpool %s or later.", m.Name, m.Format, m.Version, Format, m.Version)
	case m.Format < 1:
		return nil, invalid("the manifest has no format version.")
	case m.Schema > schema:
		return nil, pixpool.Errorf(pixpool.EINVALID, "The backup %s was made by a newer pixpool (%s) with database schema version %d; this one knows version %d. Restore it with pixpool %s or later.", m.Name, m.Version, m.Schema, schema, m.Version)
	case m.Schema < 1:
		return nil, invalid("the manifest has no schema version.")
	}
	// A backup of an older schema lacks the tables added since (they
	// restore as empty) and, in its rows, the columns (Zero values).
	var tables []*pixpool.BackupTableDef
	for _, t := range pixpool.BackupTables {
		if t.InSchema(m.Schema) {
			tables = append(tables, t)
		}
	}
	if len(m.Parts) != len(tables) {
		return nil, invalid("the manifest lists %d tables, not %d.", len(m.Parts), len(tables))
	}
	for i, p := range m.Parts {
		t := tables[i]
		got, ok := parts[p.Table]
		switch {
		case ok && got.missing > 0 && got.missing <= m.Schema:
			return nil, invalid("%s lacks columns that a backup of schema version %d has.", p.File, m.Schema)
		case p.Table != t.Name || p.File != t.Name+".jsonl":
			return nil, invalid("the manifest lists %q where %q belongs.", p.Table, t.Name)
		case !ok || i >= len(order) || order[i] != t.Name:
			return nil, invalid("the part %s is missing or out of order.", p.File)
		case got.sum != p.SHA256:
			return nil, invalid("the checksum of %s does not match the manifest.", p.File)
		case got.rows != p.Rows || got.bytes != p.Bytes:
			return nil, invalid("%s has %d rows in %d bytes; the manifest says %d in %d.", p.File, got.rows, got.bytes, p.Rows, p.Bytes)
		}
	}
	if len(order) != len(m.Parts) {
		return nil, invalid("the archive holds parts the manifest does not list.")
	}
	return m, nil
}

// readRows reads one part's lines, decoding each row of t, and returns the
// bytes and rows read, and the latest Since of the columns rows lacked
// (decodeRow).
func readRows(r io.Reader, t *pixpool.BackupTableDef, yield func(t *pixpool.BackupTableDef, row []any) error) (n, rows int64, missing int, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	for {
		var line []byte
		line, err = readLine(br)
		n += int64(len(line))
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				return n, rows, missing, invalid("%s.jsonl ends in the middle of a row.", t.Name)
			}
			rows++
			row, m, derr := decodeRow(t, line)
			missing = max(missing, m)
			if derr != nil {
				return n, rows, missing, invalid("%s.jsonl row %d: %v.", t.Name, rows, derr)
			}
			if yield != nil {
				if err := yield(t, row); err != nil {
					return n, rows, missing, err
				}
			}
		}
		if err == io.EOF {
			return n, rows, missing, nil
		} else if err != nil {
			return n, rows, missing, invalid("the archive is truncated or corrupt: %s.jsonl cannot be read (%v).", t.Name, err)
		}
	}
}

// readLine returns the next line with its newline, at most maxLine bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("a row is longer than %d bytes", maxLine)
		}
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// hashingWriter counts and hashes what goes through it.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}
