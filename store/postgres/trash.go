package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pixpool/pixpool"
)

// trashColumns are a trash entry's columns: an image's, then when it was
// deleted and when it is purged.
const trashColumns = imageColumns + `, deleted_at, purge_at`

// imageInsertColumns are the columns an image row is written with (all but
// id), in imageColumns' order, and imagePlaceholders their parameters.
const (
	imageInsertColumns = `owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at,
	thumb_size, original_key, original_size, metadata, source_checksum`
	imagePlaceholders = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15`
)

// imageValues returns img's values for imageInsertColumns.
func imageValues(img *pixpool.Image) []any {
	return []any{img.OwnerID, img.Key, img.BlobKey, img.ThumbKey, img.Size, img.ContentType, img.Width, img.Height, img.Checksum,
		ts(img.CreatedAt), img.ThumbSize, img.OriginalKey, img.OriginalSize, img.Metadata, img.SourceChecksum}
}

func scanTrashed(row scanner) (*pixpool.TrashedImage, error) {
	var t pixpool.TrashedImage
	img := &t.Image
	err := row.Scan(&img.ID, &img.OwnerID, &img.Key, &img.BlobKey, &img.ThumbKey, &img.Size, &img.ContentType,
		&img.Width, &img.Height, &img.Checksum, &img.CreatedAt,
		&img.ThumbSize, &img.OriginalKey, &img.OriginalSize, &img.Metadata, &img.SourceChecksum, &t.DeletedAt, &t.PurgeAt)
	if err != nil {
		return nil, err
	}
	img.CreatedAt, t.DeletedAt, t.PurgeAt = img.CreatedAt.UTC(), t.DeletedAt.UTC(), t.PurgeAt.UTC()
	return &t, nil
}

// filesReferenced reports whether a row (an image or a trash entry) names
// blobKey, asked in the transaction that removed a row naming it. A
// PutImage sharing those files locks the row it shares with (shareFiles),
// so it either committed before this removal took its row lock, and is
// seen here, or finds the row locked by this transaction and skips it.
func filesReferenced(ctx context.Context, tx pgx.Tx, blobKey string) (bool, error) {
	var yes bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM images WHERE blob_key = $1) OR EXISTS (SELECT 1 FROM trash WHERE blob_key = $1)`,
		blobKey).Scan(&yes)
	return yes, err
}

// shareFiles points img at the files of another row of its owner with the
// same source checksum, content type and size (an image or a trash
// entry), if there is one (one with a kept original if img has one: its
// original would be dropped else), and locks that row (FOR SHARE) until
// the transaction ends, so that no concurrent removal deletes the files
// between this look and the commit (see pixpool.ImageStore.PutImage). A
// row being replaced or removed meanwhile is skipped (SKIP LOCKED), not
// waited for: waiting made two uploads replacing each other's twins
// deadlock, again on every retry; uploads of the same bytes at once share
// (FOR SHARE locks do not conflict).
func shareFiles(ctx context.Context, tx pgx.Tx, img *pixpool.Image) error {
	if img.SourceChecksum == "" {
		return nil
	}
	for _, table := range []string{"images", "trash"} {
		var twin pixpool.Image
		err := tx.QueryRow(ctx, `SELECT blob_key, thumb_key, original_key, thumb_size, original_size, checksum FROM `+table+`
			WHERE owner_id = $1 AND source_checksum = $2 AND content_type = $3 AND size = $4 AND (original_key <> '' OR $5 = '')
			LIMIT 1 FOR SHARE SKIP LOCKED`,
			img.OwnerID, img.SourceChecksum, img.ContentType, img.Size, img.OriginalKey).
			Scan(&twin.BlobKey, &twin.ThumbKey, &twin.OriginalKey, &twin.ThumbSize, &twin.OriginalSize, &twin.Checksum)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		} else if err != nil {
			return err
		}
		img.BlobKey, img.ThumbKey, img.OriginalKey = twin.BlobKey, twin.ThumbKey, twin.OriginalKey
		img.ThumbSize, img.OriginalSize, img.Checksum = twin.ThumbSize, twin.OriginalSize, twin.Checksum
		return nil
	}
	return nil
}

// isDeadlock reports whether err is PostgreSQL breaking a deadlock, which
// two uploads locking each other's rows crosswise (one replacing the row
// the other shares files with) can cause; the transaction is then tried
// again.
func isDeadlock(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "40P01" // deadlock_detected
}

// TrashImage moves an owner's image to the trash in one transaction.
func (s *Store) TrashImage(ctx context.Context, ownerID int64, key string, purgeAt time.Time) (*pixpool.TrashedImage, error) {
	if !storable(key) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "image %q not found", key)
	}
	var t *pixpool.TrashedImage
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		img, err := scanImage(tx.QueryRow(ctx, `DELETE FROM images WHERE owner_id = $1 AND key = $2 RETURNING `+imageColumns, ownerID, key))
		if err != nil {
			return err
		}
		t = &pixpool.TrashedImage{Image: *img, DeletedAt: timeNow(), PurgeAt: ts(purgeAt)}
		args := append(imageValues(img), t.DeletedAt, t.PurgeAt)
		return tx.QueryRow(ctx, `INSERT INTO trash (`+imageInsertColumns+`, deleted_at, purge_at)
			VALUES (`+imagePlaceholders+`, $16, $17) RETURNING id`, args...).Scan(&t.ID)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "image %q not found", key)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("trash image %q", key), err)
	}
	return t, nil
}

// TrashedImages lists an owner's trash, most recently deleted first.
func (s *Store) TrashedImages(ctx context.Context, ownerID int64, limit, offset int) ([]*pixpool.TrashedImage, error) {
	q, args := paged(`SELECT `+trashColumns+` FROM trash WHERE owner_id = $1 ORDER BY deleted_at DESC, id DESC`, []any{ownerID}, offset, limit)
	out, err := collect(ctx, s.pool, scanTrashed, q, args...)
	if err != nil {
		return nil, wrap("trash", err)
	}
	return out, nil
}

// TrashedImage returns one trash entry of an owner, or ENOTFOUND.
func (s *Store) TrashedImage(ctx context.Context, ownerID, trashID int64) (*pixpool.TrashedImage, error) {
	t, err := scanTrashed(s.pool.QueryRow(ctx, `SELECT `+trashColumns+` FROM trash WHERE owner_id = $1 AND id = $2`, ownerID, trashID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trashNotFound(trashID)
	} else if err != nil {
		return nil, wrap("trashed image", err)
	}
	return t, nil
}

func trashNotFound(id int64) error {
	return pixpool.Errorf(pixpool.ENOTFOUND, "Item %d is not in your trash (restored or purged already?).", id)
}

// CountTrash counts an owner's trash entries, or everyone's for owner 0.
func (s *Store) CountTrash(ctx context.Context, ownerID int64) (int, error) {
	q, args := `SELECT count(*) FROM trash`, []any{}
	if ownerID != 0 {
		q, args = q+` WHERE owner_id = $1`, append(args, ownerID)
	}
	var n int
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, wrap("count trash", err)
	}
	return n, nil
}

// RestoreImage moves a trash entry back to the owner's images. The insert
// does nothing on a key taken meanwhile (ON CONFLICT), so a concurrent
// upload of that key is refused as a taken key is.
func (s *Store) RestoreImage(ctx context.Context, ownerID, trashID int64, key string) (*pixpool.Image, error) {
	if key != "" && !storable(key) {
		return nil, pixpool.Errorf(pixpool.EINVALID, "Text must be valid UTF-8 without NUL characters.")
	}
	var img *pixpool.Image
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		t, err := scanTrashed(tx.QueryRow(ctx, `DELETE FROM trash WHERE owner_id = $1 AND id = $2 RETURNING `+trashColumns, ownerID, trashID))
		if errors.Is(err, pgx.ErrNoRows) {
			return trashNotFound(trashID)
		} else if err != nil {
			return err
		}
		img = &t.Image
		if key != "" {
			img.Key = key
		}
		err = tx.QueryRow(ctx, `INSERT INTO images (`+imageInsertColumns+`) VALUES (`+imagePlaceholders+`)
			ON CONFLICT (owner_id, key) DO NOTHING RETURNING id`, imageValues(img)...).Scan(&img.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return restoreConflict(img.Key) // rolls the delete back
		}
		return err
	})
	if err != nil && pixpool.ErrorCode(err) != pixpool.EINTERNAL {
		return nil, err
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("restore trash item %d", trashID), err)
	}
	return img, nil
}

// restoreConflict is RestoreImage's error for a key a live image has.
func restoreConflict(key string) error {
	return pixpool.Errorf(pixpool.ECONFLICT, "An image named %q exists already, so the deleted one cannot be restored under that name. Delete or rename that image first, or restore this one under another key.", key)
}

// PurgeTrash removes one trash entry for good.
func (s *Store) PurgeTrash(ctx context.Context, ownerID, trashID int64) (*pixpool.TrashedImage, error) {
	out, err := s.purge(ctx, "purge trash", `DELETE FROM trash WHERE owner_id = $1 AND id = $2 RETURNING `+trashColumns, ownerID, trashID)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, trashNotFound(trashID)
	}
	return out[0], nil
}

// EmptyTrash removes every trash entry of an owner for good.
func (s *Store) EmptyTrash(ctx context.Context, ownerID int64) ([]*pixpool.TrashedImage, error) {
	return s.purge(ctx, "empty trash", `DELETE FROM trash WHERE owner_id = $1 RETURNING `+trashColumns, ownerID)
}

// PurgeExpired removes up to limit entries due by now, oldest first.
// SKIP LOCKED: replicas purging at once take different entries.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) ([]*pixpool.TrashedImage, error) {
	q, args := paged(`SELECT id FROM trash WHERE purge_at <= $1 ORDER BY purge_at, id`, []any{ts(now)}, 0, limit)
	return s.purge(ctx, "purge expired trash", `DELETE FROM trash WHERE id IN (`+q+` FOR UPDATE SKIP LOCKED) RETURNING `+trashColumns, args...)
}

// purge runs a DELETE ... RETURNING of trash entries and, in the same
// transaction, sets FilesShared on each whose files another row names.
func (s *Store) purge(ctx context.Context, op, q string, args ...any) ([]*pixpool.TrashedImage, error) {
	var out []*pixpool.TrashedImage
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		if out, err = collect(ctx, tx, scanTrashed, q, args...); err != nil {
			return err
		}
		for _, t := range out {
			if t.FilesShared, err = filesReferenced(ctx, tx, t.BlobKey); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// DeleteAllTrash removes every trash entry of every owner.
func (s *Store) DeleteAllTrash(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM trash`)
	if err != nil {
		return 0, wrap("delete all trash", err)
	}
	return int(tag.RowsAffected()), nil
}
