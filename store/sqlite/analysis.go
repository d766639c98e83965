package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/pixpool/pixpool"
)

// defaultSearchLimit is SearchImages' limit when it is given 0.
const defaultSearchLimit = 50

// EnqueueAnalysis queues an image (again): its analysis becomes pending
// with no attempts, no lease and no results, since those belong to the
// bytes analysed before, and it leaves the search index. The checksum is
// the image's current one. An unknown image is ENOTFOUND.
func (s *Store) EnqueueAnalysis(ctx context.Context, imageID int64) error {
	now := millis(timeNow())
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO analyses (image_id, checksum, status, labels, lines, error, attempts, updated_at, claimed_until, queued_at)
			SELECT id, checksum, ?, 'null', 'null', '', 0, ?, NULL, ? FROM images WHERE id = ?
			ON CONFLICT (image_id) DO UPDATE SET checksum = excluded.checksum, status = excluded.status,
				labels = excluded.labels, lines = excluded.lines, error = excluded.error, attempts = 0,
				updated_at = excluded.updated_at, claimed_until = NULL, queued_at = excluded.queued_at`,
			pixpool.AnalysisPending, now, now, imageID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return pixpool.Errorf(pixpool.ENOTFOUND, "image %d not found", imageID)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM analysis_search WHERE rowid = ?`, imageID)
		return err
	})
	if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
		return wrap(fmt.Sprintf("enqueue analysis %d", imageID), err)
	}
	return err
}

// ClaimAnalysis takes the oldest pending job whose lease is free or has run
// out, leases it for lease and counts an attempt, in one UPDATE whose
// subquery picks the job. Write transactions begin IMMEDIATE, so concurrent
// claimers take turns and each sees the others' leases. The lease is
// measured by the Go clock, as AcquireLease's is. None pending is
// ENOTFOUND.
func (s *Store) ClaimAnalysis(ctx context.Context, lease time.Duration) (*pixpool.Image, int, error) {
	var (
		img      *pixpool.Image
		attempts int
	)
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		now := timeNow()
		var id int64
		err := tx.QueryRowContext(ctx, `
			UPDATE analyses SET claimed_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE image_id = (
				SELECT image_id FROM analyses
				WHERE status = ? AND (claimed_until IS NULL OR claimed_until < ?)
				ORDER BY queued_at, image_id LIMIT 1)
			RETURNING image_id, attempts`,
			millis(now.Add(lease)), millis(now), pixpool.AnalysisPending, millis(now)).Scan(&id, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return pixpool.Errorf(pixpool.ENOTFOUND, "no analysis pending")
		} else if err != nil {
			return err
		}
		img, err = scanImage(tx.QueryRowContext(ctx, `SELECT `+imageColumns+` FROM images WHERE id = ?`, id))
		return err
	})
	if err != nil {
		if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
			return nil, 0, wrap("claim analysis", err)
		}
		return nil, 0, err
	}
	return img, attempts, nil
}

// SaveAnalysis stores a result and ends the job: a.Status must be done or
// failed (else EINVALID). A done analysis's label names and text lines
// replace the image's row in the search index; a failed one has none. It
// sets a.UpdatedAt. An unknown image is ENOTFOUND; an image never queued
// gets a row as if it had been.
func (s *Store) SaveAnalysis(ctx context.Context, a *pixpool.Analysis) error {
	if a.Status != pixpool.AnalysisDone && a.Status != pixpool.AnalysisFailed {
		return pixpool.Errorf(pixpool.EINVALID, "analysis status %q is neither %q nor %q", a.Status, pixpool.AnalysisDone, pixpool.AnalysisFailed)
	}
	labels, err := json.Marshal(a.Labels)
	if err != nil {
		return wrap(fmt.Sprintf("save analysis %d", a.ImageID), err)
	}
	lines, err := json.Marshal(a.Lines)
	if err != nil {
		return wrap(fmt.Sprintf("save analysis %d", a.ImageID), err)
	}
	now := timeNow()
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO analyses (image_id, checksum, status, labels, lines, error, attempts, updated_at, claimed_until, queued_at)
			SELECT id, ?, ?, ?, ?, ?, ?, ?, NULL, ? FROM images WHERE id = ?
			ON CONFLICT (image_id) DO UPDATE SET checksum = excluded.checksum, status = excluded.status,
				labels = excluded.labels, lines = excluded.lines, error = excluded.error,
				updated_at = excluded.updated_at, claimed_until = NULL`,
			a.Checksum, a.Status, string(labels), string(lines), a.Error, a.Attempts, millis(now), millis(now), a.ImageID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return pixpool.Errorf(pixpool.ENOTFOUND, "image %d not found", a.ImageID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM analysis_search WHERE rowid = ?`, a.ImageID); err != nil {
			return err
		}
		if a.Status != pixpool.AnalysisDone {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO analysis_search (rowid, doc) VALUES (?, ?)`, a.ImageID, searchDoc(a))
		return err
	})
	if err != nil {
		if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
			return wrap(fmt.Sprintf("save analysis %d", a.ImageID), err)
		}
		return err
	}
	a.UpdatedAt = now
	return nil
}

// Analysis returns an image's analysis, or ENOTFOUND if it was never
// queued.
func (s *Store) Analysis(ctx context.Context, imageID int64) (*pixpool.Analysis, error) {
	var (
		a             pixpool.Analysis
		labels, lines string
		updatedAt     int64
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT image_id, checksum, status, labels, lines, error, attempts, updated_at FROM analyses WHERE image_id = ?`,
		imageID).Scan(&a.ImageID, &a.Checksum, &a.Status, &labels, &lines, &a.Error, &a.Attempts, &updatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "no analysis of image %d", imageID)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("analysis %d", imageID), err)
	}
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, wrap(fmt.Sprintf("analysis %d: labels", imageID), err)
	}
	if err := json.Unmarshal([]byte(lines), &a.Lines); err != nil {
		return nil, wrap(fmt.Sprintf("analysis %d: lines", imageID), err)
	}
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(a.Lines) == 0 {
		a.Lines = nil
	}
	a.UpdatedAt = fromMillis(updatedAt)
	return &a, nil
}

// SearchImages finds an owner's images whose labels or text hold every
// word of query, best first (bm25), then by key. The query is cut into
// words as the index's tokenizer cuts text, and each word is sent as a
// quoted FTS5 string, so nothing the user types is read as FTS5 syntax. A
// query without words finds nothing. A limit of 0 means 50. The owner
// leads (searchQuery).
func (s *Store) SearchImages(ctx context.Context, ownerID int64, query string, limit int) ([]*pixpool.Image, error) {
	words := searchWords(query)
	if len(words) == 0 {
		return nil, nil
	}
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	if limit <= 0 {
		limit = defaultSearchLimit
	}
	rows, err := s.db.QueryContext(ctx, searchQuery, ownerID, strings.Join(words, " "), pixpool.AnalysisDone, limit)
	if err != nil {
		return nil, wrap("search images", err)
	}
	defer rows.Close()
	var images []*pixpool.Image
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			return nil, wrap("search images", err)
		}
		images = append(images, img)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("search images", err)
	}
	return images, nil
}

// searchQuery finds an owner's images matching an FTS5 query (the
// arguments: owner, match, status, limit). The owner leads: SQLite always
// makes the left table of a CROSS JOIN the outer loop, so it walks the
// owner's images by the (owner_id, key) index and asks the full-text index
// about each by rowid, rather than matching across every user's analyses
// and dropping the others' afterwards.
var searchQuery = `
	SELECT ` + prefixed("i.", imageColumns) + `
	FROM images i
	CROSS JOIN analysis_search
	CROSS JOIN analyses a
	WHERE i.owner_id = ?
		AND analysis_search.rowid = i.id AND analysis_search MATCH ?
		AND a.image_id = i.id AND a.status = ?
	ORDER BY bm25(analysis_search), i.key
	LIMIT ?`

// searchDoc is the text a done analysis is found by: its label names and
// text lines, one a line.
func searchDoc(a *pixpool.Analysis) string {
	var b strings.Builder
	for _, l := range a.Labels {
		b.WriteString(l.Name)
		b.WriteByte('\n')
	}
	for _, l := range a.Lines {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// searchWords cuts query into words as FTS5's unicode61 tokenizer does:
// runs of letters, numbers and private-use characters.
func searchWords(query string) []string {
	return strings.FieldsFunc(query, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Co, r)
	})
}

// prefixed qualifies each of a comma-separated list of columns with p.
func prefixed(p, columns string) string {
	return p + strings.ReplaceAll(columns, ", ", ", "+p)
}
