package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
)

const imageColumns = `id, owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at, thumb_size, original_key, original_size, metadata, source_checksum`

func scanImage(row scanner) (*pixpool.Image, error) {
	var img pixpool.Image
	err := row.Scan(&img.ID, &img.OwnerID, &img.Key, &img.BlobKey, &img.ThumbKey, &img.Size, &img.ContentType,
		&img.Width, &img.Height, &img.Checksum, &img.CreatedAt,
		&img.ThumbSize, &img.OriginalKey, &img.OriginalSize, &img.Metadata, &img.SourceChecksum)
	if err != nil {
		return nil, err
	}
	img.CreatedAt = img.CreatedAt.UTC()
	return &img, nil
}

// putImageTries bounds PutImage's rounds. A round fails only when another
// transaction inserts the key between this one's look and its insert, or
// deletes it between insert and the next look, so two rounds are nearly
// always enough.
const putImageTries = 10

// PutImage inserts img, or replaces the row with the same (OwnerID, Key),
// and returns the replaced row (nil if there was none) so the caller can
// delete the old bytes.
//
// A replaced row is updated in place: it keeps its ID, which PutImage sets
// in img.ID either way. If img.CreatedAt is zero, PutImage sets it to now.
//
// One INSERT ... ON CONFLICT DO UPDATE cannot do this on PostgreSQL 15: its
// RETURNING sees only the new row, and a CTE reading the old one uses the
// statement's snapshot, so a row that a concurrent PutImage inserted would
// be replaced without being returned, and its bytes never deleted. Instead,
// in one READ COMMITTED transaction, PutImage locks the existing row (SELECT
// ... FOR UPDATE) and updates it, or, if there is none, inserts with ON
// CONFLICT DO NOTHING; if that finds a conflict, a concurrent PutImage has
// just committed the key, and the next round's SELECT, with a new
// snapshot, sees and locks its row.
func (s *Store) PutImage(ctx context.Context, img *pixpool.Image) (replaced *pixpool.Image, err error) {
	if img.CreatedAt.IsZero() {
		img.CreatedAt = timeNow()
	}
	var (
		id  int64
		put pixpool.Image // img as written: sharing another row's files, maybe
	)
	for try := 0; ; try++ {
		put = *img
		err = s.withTx(ctx, func(tx pgx.Tx) error {
			id, replaced = 0, nil
			for range putImageTries {
				// The key's own row is locked first, the shared one after
				// (shareFiles skips a row locked by another transaction):
				// two uploads replacing each other's twins wait for
				// nobody, where the other order deadlocked them.
				put = *img
				old, err := scanImage(tx.QueryRow(ctx, `SELECT `+imageColumns+` FROM images WHERE owner_id = $1 AND key = $2 FOR UPDATE`,
					put.OwnerID, put.Key))
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
				if err := shareFiles(ctx, tx, &put); err != nil {
					return err
				}
				if old != nil {
					_, err = tx.Exec(ctx, `
						UPDATE images SET blob_key = $1, thumb_key = $2, size = $3, content_type = $4, width = $5, height = $6,
							checksum = $7, created_at = $8,
							thumb_size = $9, original_key = $10, original_size = $11, metadata = $12, source_checksum = $13
						WHERE id = $14`,
						put.BlobKey, put.ThumbKey, put.Size, put.ContentType, put.Width, put.Height, put.Checksum, ts(put.CreatedAt),
						put.ThumbSize, put.OriginalKey, put.OriginalSize, put.Metadata, put.SourceChecksum, old.ID)
					if err != nil {
						return err
					}
					id, replaced = old.ID, old
					replaced.FilesShared, err = filesReferenced(ctx, tx, old.BlobKey)
					return err
				}
				err = tx.QueryRow(ctx, `INSERT INTO images (`+imageInsertColumns+`) VALUES (`+imagePlaceholders+`)
					ON CONFLICT (owner_id, key) DO NOTHING
					RETURNING id`, imageValues(&put)...).Scan(&id)
				if !errors.Is(err, pgx.ErrNoRows) {
					return err // nil: inserted
				}
			}
			return fmt.Errorf("key still contended after %d tries", putImageTries)
		})
		if !isDeadlock(err) || try == 2 {
			break
		}
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("put image %q", img.Key), err)
	}
	*img = put
	img.ID = id
	return replaced, nil
}

// Image returns an owner's image by key, or ENOTFOUND.
func (s *Store) Image(ctx context.Context, ownerID int64, key string) (*pixpool.Image, error) {
	notFound := pixpool.Errorf(pixpool.ENOTFOUND, "image %q not found", key)
	if !storable(key) {
		return nil, notFound
	}
	img, err := scanImage(s.pool.QueryRow(ctx, `SELECT `+imageColumns+` FROM images WHERE owner_id = $1 AND key = $2`, ownerID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("image %q", key), err)
	}
	return img, nil
}

// Images lists images matching f, ordered by owner id then key, bytewise
// (key is COLLATE "C"), or newest first.
func (s *Store) Images(ctx context.Context, f pixpool.ImageFilter) ([]*pixpool.Image, error) {
	where, args := imageWhere(f, !f.Newest)
	order := ` ORDER BY owner_id, key`
	if f.Newest {
		order = ` ORDER BY created_at DESC, id DESC`
	}
	q, args := paged(`SELECT `+imageColumns+` FROM images`+where+order, args, f.Offset, f.Limit)
	images, err := collect(ctx, s.pool, scanImage, q, args...)
	if err != nil {
		return nil, wrap("images", err)
	}
	return images, nil
}

// CountImages counts images matching f, ignoring After, Offset and Limit.
func (s *Store) CountImages(ctx context.Context, f pixpool.ImageFilter) (int, error) {
	where, args := imageWhere(f, false)
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM images`+where, args...).Scan(&n); err != nil {
		return 0, wrap("count images", err)
	}
	return n, nil
}

// imageWhere returns the WHERE clause selecting f's images, and its
// arguments. Prefix is a range of keys rather than a LIKE pattern, so '%'
// and '_' in it are plain characters, it is case-sensitive, and the
// (owner_id, key) index serves it.
//
// A Prefix or After that is not storable text (see storable) cannot be
// sent as text, so it is compared with the key's UTF-8 bytes instead: the
// same answer, bytewise as ever, without the index.
func imageWhere(f pixpool.ImageFilter, after bool) (string, []any) {
	var (
		conds []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.OwnerID != 0 {
		conds = append(conds, `owner_id = `+arg(f.OwnerID))
	}
	switch {
	case f.Prefix == "":
	case storable(f.Prefix):
		conds = append(conds, `key >= `+arg(f.Prefix))
		if end, ok := prefixEnd(f.Prefix); ok {
			conds = append(conds, `key < `+arg(end))
		}
	default:
		conds = append(conds, `substr(convert_to(key, 'UTF8'), 1, `+arg(len(f.Prefix))+`) = `+arg([]byte(f.Prefix)))
	}
	switch {
	case !after || f.After == "":
	case storable(f.After):
		conds = append(conds, `key > `+arg(f.After))
	default:
		conds = append(conds, `convert_to(key, 'UTF8') > `+arg([]byte(f.After)))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

// prefixEnd returns the least valid UTF-8 string greater, bytewise, than
// every string starting with prefix, which must be valid UTF-8: prefix
// with its last code point incremented. (store/sqlite increments the last
// byte, which can give invalid UTF-8 that PostgreSQL refuses.) UTF-8 bytes
// sort as their code points do, so every key in [prefix, end) starts with
// prefix. There is no end (ok is false) if prefix is all U+10FFFF.
func prefixEnd(prefix string) (end string, ok bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		if r < utf8.MaxRune {
			r++
			if 0xd800 <= r && r <= 0xdfff { // surrogates are not encodable
				r = 0xe000
			}
			return prefix + string(r), true
		}
	}
	return "", false
}

// DeleteImage removes an owner's image and returns the removed row, or
// ENOTFOUND.
func (s *Store) DeleteImage(ctx context.Context, ownerID int64, key string) (*pixpool.Image, error) {
	notFound := pixpool.Errorf(pixpool.ENOTFOUND, "image %q not found", key)
	if !storable(key) {
		return nil, notFound
	}
	var img *pixpool.Image
	err := s.withTx(ctx, func(tx pgx.Tx) (err error) {
		img, err = scanImage(tx.QueryRow(ctx, `DELETE FROM images WHERE owner_id = $1 AND key = $2 RETURNING `+imageColumns, ownerID, key))
		if err != nil {
			return err
		}
		img.FilesShared, err = filesReferenced(ctx, tx, img.BlobKey)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("delete image %q", key), err)
	}
	return img, nil
}

// DeleteAllImages removes every image row of every owner, and every
// variant's, reporting how many images.
func (s *Store) DeleteAllImages(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `WITH v AS (DELETE FROM variants) DELETE FROM images`)
	if err != nil {
		return 0, wrap("delete all images", err)
	}
	return int(tag.RowsAffected()), nil
}

// blobKeysBatch is how many images ImageBlobKeys reads at a time.
const blobKeysBatch = 1000

// ImageBlobKeys calls fn with every BlobKey and non-empty ThumbKey and
// OriginalKey of the images and of the trash, and
// stops at the first error fn returns, returning it.
//
// It reads the images in batches and holds no connection while fn runs, so
// fn may be slow or use the store; images put or deleted meanwhile may or
// may not be seen.
func (s *Store) ImageBlobKeys(ctx context.Context, fn func(key string) error) error {
	for _, table := range []string{"images", "trash"} {
		var lastID int64
		for {
			keys, last, n, err := s.blobKeys(ctx, table, lastID)
			if err != nil {
				return wrap("image blob keys", err)
			}
			for _, k := range keys {
				if err := fn(k); err != nil {
					return err
				}
			}
			if n < blobKeysBatch {
				break
			}
			lastID = last
		}
	}
	return s.variantBlobKeys(ctx, fn)
}

// blobKeys returns the blob, thumbnail and original keys of up to
// blobKeysBatch rows of table (images or trash) with ids above afterID,
// the last id read, and how many rows were read.
func (s *Store) blobKeys(ctx context.Context, table string, afterID int64) (keys []string, lastID int64, n int, err error) {
	rows, err := s.pool.Query(ctx, `SELECT id, blob_key, thumb_key, original_key FROM `+table+` WHERE id > $1 ORDER BY id LIMIT $2`, afterID, blobKeysBatch)
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
