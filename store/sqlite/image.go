package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pixpool/pixpool"
)

const imageColumns = `id, owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at, thumb_size, original_key, original_size, metadata, source_checksum`

func scanImage(row scanner) (*pixpool.Image, error) {
	var (
		img       pixpool.Image
		createdAt int64
	)
	err := row.Scan(&img.ID, &img.OwnerID, &img.Key, &img.BlobKey, &img.ThumbKey, &img.Size, &img.ContentType,
		&img.Width, &img.Height, &img.Checksum, &createdAt,
		&img.ThumbSize, &img.OriginalKey, &img.OriginalSize, &img.Metadata, &img.SourceChecksum)
	if err != nil {
		return nil, err
	}
	img.CreatedAt = fromMillis(createdAt)
	return &img, nil
}

// PutImage inserts img, or replaces the row with the same (OwnerID, Key),
// and returns the replaced row (nil if there was none) so the caller can
// delete the old bytes.
//
// A replaced row is updated in place: it keeps its ID, which PutImage sets
// in img.ID either way. If img.CreatedAt is zero, PutImage sets it to now.
//
// PutImage returns once the row is durable, also against power loss
// (walSync); an error after the commit (the sync failed) leaves the row
// in place.
func (s *Store) PutImage(ctx context.Context, img *pixpool.Image) (replaced *pixpool.Image, err error) {
	if s.LowOnSpace() {
		return nil, pixpool.StorageFull(errLowOnSpace)
	}
	if img.CreatedAt.IsZero() {
		img.CreatedAt = timeNow()
	}
	var id int64
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		old, err := scanImage(tx.QueryRowContext(ctx, `SELECT `+imageColumns+` FROM images WHERE owner_id = ? AND key = ?`, img.OwnerID, img.Key))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res, err := tx.ExecContext(ctx, `
				INSERT INTO images (owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at,
					thumb_size, original_key, original_size, metadata, source_checksum)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				img.OwnerID, img.Key, img.BlobKey, img.ThumbKey, img.Size, img.ContentType, img.Width, img.Height, img.Checksum, millis(img.CreatedAt),
				img.ThumbSize, img.OriginalKey, img.OriginalSize, img.Metadata, img.SourceChecksum)
			if err != nil {
				return err
			}
			id, err = res.LastInsertId()
			return err
		case err != nil:
			return err
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE images SET blob_key = ?, thumb_key = ?, size = ?, content_type = ?, width = ?, height = ?, checksum = ?, created_at = ?,
				thumb_size = ?, original_key = ?, original_size = ?, metadata = ?, source_checksum = ?
			WHERE id = ?`,
			img.BlobKey, img.ThumbKey, img.Size, img.ContentType, img.Width, img.Height, img.Checksum, millis(img.CreatedAt),
			img.ThumbSize, img.OriginalKey, img.OriginalSize, img.Metadata, img.SourceChecksum, old.ID)
		if err != nil {
			return err
		}
		id, replaced = old.ID, old
		return nil
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("put image %q", img.Key), err)
	}
	img.ID = id
	if err := s.wal.sync(); err != nil {
		return nil, wrap(fmt.Sprintf("put image %q: committed, but syncing the log failed", img.Key), err)
	}
	return replaced, nil
}

// Image returns an owner's image by key, or ENOTFOUND.
func (s *Store) Image(ctx context.Context, ownerID int64, key string) (*pixpool.Image, error) {
	img, err := scanImage(s.stmts[stmtImage].QueryRowContext(ctx, ownerID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "image %q not found", key)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("image %q", key), err)
	}
	return img, nil
}

// Images lists images matching f, ordered by owner id then key, bytewise,
// or newest first.
func (s *Store) Images(ctx context.Context, f pixpool.ImageFilter) ([]*pixpool.Image, error) {
	where, args := imageWhere(f, !f.Newest)
	order := ` ORDER BY owner_id, key`
	if f.Newest {
		order = ` ORDER BY created_at DESC, id DESC`
	}
	q := `SELECT ` + imageColumns + ` FROM images` + where + order
	if f.Limit > 0 || f.Offset > 0 {
		q += ` LIMIT ? OFFSET ?`
		args = append(args, sqlLimit(f.Limit), max(f.Offset, 0))
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("images", err)
	}
	defer rows.Close()
	var images []*pixpool.Image
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			return nil, wrap("images", err)
		}
		images = append(images, img)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("images", err)
	}
	return images, nil
}

// CountImages counts images matching f, ignoring After, Offset and Limit.
func (s *Store) CountImages(ctx context.Context, f pixpool.ImageFilter) (int, error) {
	where, args := imageWhere(f, false)
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM images`+where, args...).Scan(&n); err != nil {
		return 0, wrap("count images", err)
	}
	return n, nil
}

// imageWhere returns the WHERE clause selecting f's images, and its
// arguments. Prefix is a range of keys rather than a LIKE pattern, so '%'
// and '_' in it are plain characters, it is case-sensitive, and the
// (owner_id, key) index serves it.
func imageWhere(f pixpool.ImageFilter, after bool) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if f.OwnerID != 0 {
		conds = append(conds, `owner_id = ?`)
		args = append(args, f.OwnerID)
	}
	if f.Prefix != "" {
		conds = append(conds, `key >= ?`)
		args = append(args, f.Prefix)
		if end, ok := prefixEnd(f.Prefix); ok {
			conds = append(conds, `key < ?`)
			args = append(args, end)
		}
	}
	if after && f.After != "" {
		conds = append(conds, `key > ?`)
		args = append(args, f.After)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

// prefixEnd returns the least string greater than every string starting
// with prefix, comparing bytewise as SQLite's BINARY collation does. There
// is none (ok is false) if prefix is all 0xff bytes, which valid UTF-8
// never is.
func prefixEnd(prefix string) (end string, ok bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// DeleteImage removes an owner's image and returns the removed row, or
// ENOTFOUND. It returns once the removal is durable (walSync), so the
// caller may delete the image's bytes.
func (s *Store) DeleteImage(ctx context.Context, ownerID int64, key string) (*pixpool.Image, error) {
	var img *pixpool.Image
	err := s.withReserve(func() (err error) {
		img, err = scanImage(s.db.QueryRowContext(ctx, `DELETE FROM images WHERE owner_id = ? AND key = ? RETURNING `+imageColumns, ownerID, key))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "image %q not found", key)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("delete image %q", key), err)
	}
	if err := s.wal.sync(); err != nil {
		return nil, wrap(fmt.Sprintf("delete image %q", key), err)
	}
	return img, nil
}

// DeleteAllImages removes every image row of every owner, and every
// variant's, reporting how many images, once the removal is durable.
func (s *Store) DeleteAllImages(ctx context.Context) (int, error) {
	var res sql.Result
	err := s.withReserve(func() (err error) {
		return s.withTx(ctx, func(tx *sql.Tx) (err error) {
			if _, err = tx.ExecContext(ctx, `DELETE FROM variants`); err != nil {
				return err
			}
			res, err = tx.ExecContext(ctx, `DELETE FROM images`)
			return err
		})
	})
	if err == nil {
		err = s.wal.sync()
	}
	if err != nil {
		return 0, wrap("delete all images", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("delete all images", err)
	}
	return int(n), nil
}

// blobKeysBatch is how many images ImageBlobKeys reads at a time.
const blobKeysBatch = 1000

// ImageBlobKeys calls fn with every BlobKey and non-empty ThumbKey, and
// stops at the first error fn returns, returning it.
//
// It reads the images in batches and holds no connection while fn runs, so
// fn may be slow or use the store; images put or deleted meanwhile may or
// may not be seen.
func (s *Store) ImageBlobKeys(ctx context.Context, fn func(key string) error) error {
	var lastID int64
	for {
		keys, last, n, err := s.blobKeys(ctx, lastID)
		if err != nil {
			return wrap("image blob keys", err)
		}
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		if n < blobKeysBatch {
			return s.variantBlobKeys(ctx, fn)
		}
		lastID = last
	}
}

// blobKeys returns the blob and thumbnail keys of up to blobKeysBatch
// images with ids above afterID, the last id read, and how many images
// were read.
func (s *Store) blobKeys(ctx context.Context, afterID int64) (keys []string, lastID int64, n int, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, blob_key, thumb_key, original_key FROM images WHERE id > ? ORDER BY id LIMIT ?`, afterID, blobKeysBatch)
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var blob, thumb, orig string
		if err := rows.Scan(&lastID, &blob, &thumb, &orig); err != nil {
			return nil, 0, 0, err
		}
		n++
		keys = append(keys, blob)
		for _, k := range []string{thumb, orig} {
			if k != "" {
				keys = append(keys, k)
			}
		}
	}
	return keys, lastID, n, rows.Err()
}
