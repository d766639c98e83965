package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pixpool/pixpool"
)

const variantColumns = `blob_key, source_key, owner_id, spec, size, created_at`

func scanVariant(row scanner) (*pixpool.Variant, error) {
	var (
		v  pixpool.Variant
		at int64
	)
	if err := row.Scan(&v.BlobKey, &v.SourceKey, &v.OwnerID, &v.Spec, &v.Size, &at); err != nil {
		return nil, err
	}
	v.CreatedAt = fromMillis(at)
	return &v, nil
}

// PutVariant records v, replacing the record with the same BlobKey.
func (s *Store) PutVariant(ctx context.Context, v *pixpool.Variant) error {
	if s.LowOnSpace() {
		return pixpool.StorageFull(errLowOnSpace)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = timeNow()
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO variants (`+variantColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (blob_key) DO UPDATE SET source_key = excluded.source_key, owner_id = excluded.owner_id,
			spec = excluded.spec, size = excluded.size, created_at = excluded.created_at`,
		v.BlobKey, v.SourceKey, v.OwnerID, v.Spec, v.Size, millis(v.CreatedAt))
	if err != nil {
		return wrap(fmt.Sprintf("put variant %q", v.BlobKey), err)
	}
	return nil
}

// Variant returns the variant of spec made from sourceKey, or ENOTFOUND.
func (s *Store) Variant(ctx context.Context, sourceKey, spec string) (*pixpool.Variant, error) {
	v, err := scanVariant(s.db.QueryRowContext(ctx, `SELECT `+variantColumns+` FROM variants WHERE source_key = ? AND spec = ?`, sourceKey, spec))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "variant %s of %q not found", spec, sourceKey)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("variant %s of %q", spec, sourceKey), err)
	}
	return v, nil
}

// VariantsOf returns the variants made from sourceKey, ordered by spec.
func (s *Store) VariantsOf(ctx context.Context, sourceKey string) ([]*pixpool.Variant, error) {
	vs, err := s.queryVariants(ctx, s.db, `SELECT `+variantColumns+` FROM variants WHERE source_key = ? ORDER BY spec`, sourceKey)
	if err != nil {
		return nil, wrap(fmt.Sprintf("variants of %q", sourceKey), err)
	}
	return vs, nil
}

// DeleteVariants removes the variants made from sourceKey and returns
// them. Like DeleteImage it may use the reserve: it frees space.
func (s *Store) DeleteVariants(ctx context.Context, sourceKey string) ([]*pixpool.Variant, error) {
	var vs []*pixpool.Variant
	err := s.withReserve(func() (err error) {
		vs, err = s.queryVariants(ctx, s.db, `DELETE FROM variants WHERE source_key = ? RETURNING `+variantColumns, sourceKey)
		return err
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("delete variants of %q", sourceKey), err)
	}
	slices.SortFunc(vs, func(a, b *pixpool.Variant) int { return strings.Compare(a.Spec, b.Spec) })
	return vs, nil
}

func (s *Store) queryVariants(ctx context.Context, q *sql.DB, query string, args ...any) ([]*pixpool.Variant, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []*pixpool.Variant
	for rows.Next() {
		v, err := scanVariant(rows)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// variantBlobKeys calls fn with the blob key of every variant whose
// source an image or a trashed image still has, in batches like
// ImageBlobKeys.
func (s *Store) variantBlobKeys(ctx context.Context, fn func(key string) error) error {
	last := ""
	for {
		keys, err := s.variantKeysAfter(ctx, last)
		if err != nil {
			return wrap("variant blob keys", err)
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(keys) < blobKeysBatch {
			return nil
		}
		last = keys[len(keys)-1]
	}
}

func (s *Store) variantKeysAfter(ctx context.Context, after string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT blob_key FROM variants v
		WHERE blob_key > ? AND (EXISTS (SELECT 1 FROM images WHERE blob_key = v.source_key)
			OR EXISTS (SELECT 1 FROM trash WHERE blob_key = v.source_key))
		ORDER BY blob_key LIMIT ?`, after, blobKeysBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}
