package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
)

// defaultSearchLimit is SearchImages' limit when it is given 0.
const defaultSearchLimit = 50

// nowMillis is the server's clock to the millisecond, as times are kept.
// clock_timestamp() rather than now(), the start of a transaction that
// may have waited for a row lock, as in AcquireLease.
const nowMillis = `date_trunc('milliseconds', clock_timestamp())`

// EnqueueAnalysis queues an image (again): its analysis becomes pending
// with no attempts, no lease and no results, since those belong to the
// bytes analysed before, and it leaves the search index. The checksum is
// the image's current one. An unknown image is ENOTFOUND.
func (s *Store) EnqueueAnalysis(ctx context.Context, imageID int64) error {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO analyses (image_id, checksum, status, labels, lines, error, attempts, updated_at, claimed_until, queued_at, search)
		SELECT id, checksum, $1, 'null', 'null', '', 0, `+nowMillis+`, NULL, `+nowMillis+`, NULL FROM images WHERE id = $2
		ON CONFLICT (image_id) DO UPDATE SET checksum = excluded.checksum, status = excluded.status,
			labels = excluded.labels, lines = excluded.lines, error = excluded.error, attempts = 0,
			updated_at = excluded.updated_at, claimed_until = NULL, queued_at = excluded.queued_at, search = NULL`,
		pixpool.AnalysisPending, imageID)
	if err != nil {
		return wrap(fmt.Sprintf("enqueue analysis %d", imageID), err)
	}
	if tag.RowsAffected() == 0 {
		return pixpool.Errorf(pixpool.ENOTFOUND, "image %d not found", imageID)
	}
	return nil
}

// ClaimAnalysis takes the oldest pending job whose lease is free or has run
// out, leases it for lease and counts an attempt, in one statement. Its
// subquery locks the job it picks with FOR UPDATE SKIP LOCKED, so
// concurrent claimers pass over each other's jobs rather than wait, and a
// job whose lease another claimer has just taken is re-checked after the
// lock and passed over too. The lease is measured by the server's clock.
// None pending is ENOTFOUND.
func (s *Store) ClaimAnalysis(ctx context.Context, lease time.Duration) (*pixpool.Image, int, error) {
	var (
		img      pixpool.Image
		attempts int
	)
	err := s.pool.QueryRow(ctx, `
		WITH claimed AS (
			UPDATE analyses SET claimed_until = clock_timestamp() + $1::bigint * interval '1 microsecond',
				attempts = attempts + 1, updated_at = `+nowMillis+`
			WHERE image_id = (
				SELECT image_id FROM analyses
				WHERE status = $2 AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
				ORDER BY queued_at, image_id
				LIMIT 1
				FOR UPDATE SKIP LOCKED)
			RETURNING image_id, attempts)
		SELECT `+prefixed("i.", imageColumns)+`, claimed.attempts
		FROM claimed JOIN images i ON i.id = claimed.image_id`,
		lease.Microseconds(), pixpool.AnalysisPending).Scan(&img.ID, &img.OwnerID, &img.Key, &img.BlobKey, &img.ThumbKey,
		&img.Size, &img.ContentType, &img.Width, &img.Height, &img.Checksum, &img.CreatedAt,
		&img.ThumbSize, &img.OriginalKey, &img.OriginalSize, &img.Metadata, &img.SourceChecksum, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, pixpool.Errorf(pixpool.ENOTFOUND, "no analysis pending")
	} else if err != nil {
		return nil, 0, wrap("claim analysis", err)
	}
	img.CreatedAt = img.CreatedAt.UTC()
	return &img, attempts, nil
}

// SaveAnalysis stores a result and ends the job: a.Status must be done or
// failed (else EINVALID). A done analysis's label names and text lines
// become its search vector; a failed one has none. It sets a.UpdatedAt.
// An unknown image is ENOTFOUND; an image never queued gets a row as if it
// had been.
func (s *Store) SaveAnalysis(ctx context.Context, a *pixpool.Analysis) error {
	if a.Status != pixpool.AnalysisDone && a.Status != pixpool.AnalysisFailed {
		return pixpool.Errorf(pixpool.EINVALID, "analysis status %q is neither %q nor %q", a.Status, pixpool.AnalysisDone, pixpool.AnalysisFailed)
	}
	labels, err := json.Marshal(a.Labels)
	if err != nil {
		return fmt.Errorf("postgres: save analysis %d: %w", a.ImageID, err)
	}
	lines, err := json.Marshal(a.Lines)
	if err != nil {
		return fmt.Errorf("postgres: save analysis %d: %w", a.ImageID, err)
	}
	var doc *string // NULL: no search vector
	if a.Status == pixpool.AnalysisDone {
		d := searchDoc(a)
		doc = &d
	}
	var updatedAt time.Time
	err = s.pool.QueryRow(ctx, `
		INSERT INTO analyses (image_id, checksum, status, labels, lines, error, attempts, updated_at, claimed_until, queued_at, search)
		SELECT id, $1, $2, $3, $4, $5, $6, `+nowMillis+`, NULL, `+nowMillis+`, to_tsvector('simple', $7::text)
		FROM images WHERE id = $8
		ON CONFLICT (image_id) DO UPDATE SET checksum = excluded.checksum, status = excluded.status,
			labels = excluded.labels, lines = excluded.lines, error = excluded.error,
			updated_at = excluded.updated_at, claimed_until = NULL, search = excluded.search
		RETURNING updated_at`,
		a.Checksum, a.Status, string(labels), string(lines), a.Error, a.Attempts, doc, a.ImageID).Scan(&updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return pixpool.Errorf(pixpool.ENOTFOUND, "image %d not found", a.ImageID)
	} else if err != nil {
		return wrap(fmt.Sprintf("save analysis %d", a.ImageID), err)
	}
	a.UpdatedAt = updatedAt.UTC()
	return nil
}

// Analysis returns an image's analysis, or ENOTFOUND if it was never
// queued.
func (s *Store) Analysis(ctx context.Context, imageID int64) (*pixpool.Analysis, error) {
	var (
		a             pixpool.Analysis
		labels, lines string
	)
	err := s.pool.QueryRow(ctx, `
		SELECT image_id, checksum, status, labels, lines, error, attempts, updated_at FROM analyses WHERE image_id = $1`,
		imageID).Scan(&a.ImageID, &a.Checksum, &a.Status, &labels, &lines, &a.Error, &a.Attempts, &a.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "no analysis of image %d", imageID)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("analysis %d", imageID), err)
	}
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, fmt.Errorf("postgres: analysis %d: labels: %w", imageID, err)
	}
	if err := json.Unmarshal([]byte(lines), &a.Lines); err != nil {
		return nil, fmt.Errorf("postgres: analysis %d: lines: %w", imageID, err)
	}
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(a.Lines) == 0 {
		a.Lines = nil
	}
	a.UpdatedAt = ts(a.UpdatedAt)
	return &a, nil
}

// SearchImages finds an owner's images whose labels or text hold every
// word of query, best first (ts_rank), then by key. The query is cut into
// words as store/sqlite cuts it, so both stores read a query alike, and
// plainto_tsquery joins them with AND, reading none of them as syntax. A
// query without words finds nothing. A limit of 0 means 50. The owner
// leads (searchQuery).
func (s *Store) SearchImages(ctx context.Context, ownerID int64, query string, limit int) ([]*pixpool.Image, error) {
	words := searchWords(query)
	if len(words) == 0 {
		return nil, nil
	}
	if limit <= 0 {
		limit = defaultSearchLimit
	}
	images, err := collect(ctx, s.pool, scanImage, searchQuery, ownerID, strings.Join(words, " "), pixpool.AnalysisDone, limit)
	if err != nil {
		return nil, wrap("search images", err)
	}
	return images, nil
}

// searchQuery finds an owner's images matching a query's words (the
// arguments: owner, words, status, limit). The owner leads: the LATERAL
// subquery names i.id, so the planner must scan the owner's images first
// (by the (owner_id, key) index) and look each one's analysis up by its
// key, and OFFSET 0 keeps the subquery from being flattened into a join
// the planner could start from the GIN index, matching across every
// user's analyses and dropping the others' afterwards.
var searchQuery = `
	SELECT ` + prefixed("i.", imageColumns) + `
	FROM images i
	CROSS JOIN plainto_tsquery('simple', $2) q
	CROSS JOIN LATERAL (
		SELECT ts_rank(a.search, q) AS rank
		FROM analyses a
		WHERE a.image_id = i.id AND a.status = $3 AND a.search @@ q
		OFFSET 0
	) m
	WHERE i.owner_id = $1
	ORDER BY m.rank DESC, i.key
	LIMIT $4`

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

// searchWords cuts query into words as store/sqlite's FTS5 tokenizer
// does: runs of letters, numbers and private-use characters. What is left
// is valid UTF-8 without NUL, so it can always be sent.
func searchWords(query string) []string {
	return strings.FieldsFunc(query, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Co, r)
	})
}

// prefixed qualifies each of a comma-separated list of columns with p.
func prefixed(p, columns string) string {
	return p + strings.ReplaceAll(columns, ", ", ", "+p)
}
