package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pixpool/pixpool"
)

// trashColumns are a trash entry's columns: an image's, then when it was
// deleted and when it is purged.
const trashColumns = imageColumns + `, deleted_at, purge_at`

// imageInsertColumns are the columns an image row is written with (all but
// id), in imageColumns' order.
const imageInsertColumns = `owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at,
	thumb_size, original_key, original_size, metadata, source_checksum`

// imageValues returns img's values for imageInsertColumns.
func imageValues(img *pixpool.Image) []any {
	return []any{img.OwnerID, img.Key, img.BlobKey, img.ThumbKey, img.Size, img.ContentType, img.Width, img.Height, img.Checksum,
		millis(img.CreatedAt), img.ThumbSize, img.OriginalKey, img.OriginalSize, img.Metadata, img.SourceChecksum}
}

func scanTrashed(row scanner) (*pixpool.TrashedImage, error) {
	var (
		t         pixpool.TrashedImage
		createdAt int64
		deletedAt int64
		purgeAt   int64
	)
	img := &t.Image
	err := row.Scan(&img.ID, &img.OwnerID, &img.Key, &img.BlobKey, &img.ThumbKey, &img.Size, &img.ContentType,
		&img.Width, &img.Height, &img.Checksum, &createdAt,
		&img.ThumbSize, &img.OriginalKey, &img.OriginalSize, &img.Metadata, &img.SourceChecksum, &deletedAt, &purgeAt)
	if err != nil {
		return nil, err
	}
	img.CreatedAt, t.DeletedAt, t.PurgeAt = fromMillis(createdAt), fromMillis(deletedAt), fromMillis(purgeAt)
	return &t, nil
}

// filesReferenced reports whether a row (an image or a trash entry) names
// blobKey. Asked in the transaction that removed a row naming it: write
// transactions are IMMEDIATE, so nothing can start sharing the files
// between the answer and the commit.
func filesReferenced(ctx context.Context, tx *sql.Tx, blobKey string) (bool, error) {
	var yes bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM images WHERE blob_key = ?) OR EXISTS (SELECT 1 FROM trash WHERE blob_key = ?)`,
		blobKey, blobKey).Scan(&yes)
	return yes, err
}

// shareFiles points img at the files of another row of its owner with the
// same source checksum, content type and size (an image or a trash
// entry), if there is one (one with a kept original if img has one: its
// original would be dropped else) (see pixpool.ImageStore.PutImage).
func shareFiles(ctx context.Context, tx *sql.Tx, img *pixpool.Image) error {
	if img.SourceChecksum == "" {
		return nil
	}
	var (
		twin pixpool.Image
		q    = `SELECT blob_key, thumb_key, original_key, thumb_size, original_size, checksum FROM %s
			WHERE owner_id = ? AND source_checksum = ? AND content_type = ? AND size = ? AND (original_key <> '' OR ? = '') LIMIT 1`
	)
	for _, table := range []string{"images", "trash"} {
		err := tx.QueryRowContext(ctx, fmt.Sprintf(q, table), img.OwnerID, img.SourceChecksum, img.ContentType, img.Size, img.OriginalKey).
			Scan(&twin.BlobKey, &twin.ThumbKey, &twin.OriginalKey, &twin.ThumbSize, &twin.OriginalSize, &twin.Checksum)
		if errors.Is(err, sql.ErrNoRows) {
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

// TrashImage moves an owner's image to the trash in one transaction. It
// takes room, so, as PutImage, it does not use the reserve, which is for
// deletes: on a full disk it fails with ESTORAGEFULL (and the caller
// deletes the image for good instead, freeing room).
func (s *Store) TrashImage(ctx context.Context, ownerID int64, key string, purgeAt time.Time) (*pixpool.TrashedImage, error) {
	if s.LowOnSpace() {
		return nil, pixpool.StorageFull(errLowOnSpace)
	}
	var t *pixpool.TrashedImage
	err := func() error {
		return s.withTx(ctx, func(tx *sql.Tx) error {
			img, err := scanImage(tx.QueryRowContext(ctx, `DELETE FROM images WHERE owner_id = ? AND key = ? RETURNING `+imageColumns, ownerID, key))
			if err != nil {
				return err
			}
			t = &pixpool.TrashedImage{Image: *img, DeletedAt: timeNow(), PurgeAt: purgeAt.UTC().Truncate(time.Millisecond)}
			args := append(imageValues(img), millis(t.DeletedAt), millis(t.PurgeAt))
			return tx.QueryRowContext(ctx, `INSERT INTO trash (`+imageInsertColumns+`, deleted_at, purge_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, args...).Scan(&t.ID)
		})
	}()
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "image %q not found", key)
	}
	if err == nil {
		err = s.wal.sync()
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("trash image %q", key), err)
	}
	return t, nil
}

// TrashedImages lists an owner's trash, most recently deleted first.
func (s *Store) TrashedImages(ctx context.Context, ownerID int64, limit, offset int) ([]*pixpool.TrashedImage, error) {
	return s.queryTrash(ctx, "trash", `SELECT `+trashColumns+` FROM trash WHERE owner_id = ? ORDER BY deleted_at DESC, id DESC LIMIT ? OFFSET ?`,
		ownerID, sqlLimit(limit), max(offset, 0))
}

func (s *Store) queryTrash(ctx context.Context, op, q string, args ...any) ([]*pixpool.TrashedImage, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []*pixpool.TrashedImage
	for rows.Next() {
		t, err := scanTrashed(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// TrashedImage returns one trash entry of an owner, or ENOTFOUND.
func (s *Store) TrashedImage(ctx context.Context, ownerID, trashID int64) (*pixpool.TrashedImage, error) {
	t, err := scanTrashed(s.db.QueryRowContext(ctx, `SELECT `+trashColumns+` FROM trash WHERE owner_id = ? AND id = ?`, ownerID, trashID))
	if errors.Is(err, sql.ErrNoRows) {
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
		q, args = q+` WHERE owner_id = ?`, append(args, ownerID)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, wrap("count trash", err)
	}
	return n, nil
}

// RestoreImage moves a trash entry back to the owner's images. As
// TrashImage, it does not use the reserve.
func (s *Store) RestoreImage(ctx context.Context, ownerID, trashID int64, key string) (*pixpool.Image, error) {
	if s.LowOnSpace() {
		return nil, pixpool.StorageFull(errLowOnSpace)
	}
	var img *pixpool.Image
	err := func() error {
		return s.withTx(ctx, func(tx *sql.Tx) error {
			t, err := scanTrashed(tx.QueryRowContext(ctx, `SELECT `+trashColumns+` FROM trash WHERE owner_id = ? AND id = ?`, ownerID, trashID))
			if errors.Is(err, sql.ErrNoRows) {
				return trashNotFound(trashID)
			} else if err != nil {
				return err
			}
			img = &t.Image
			if key != "" {
				img.Key = key
			}
			var taken bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM images WHERE owner_id = ? AND key = ?)`, ownerID, img.Key).Scan(&taken); err != nil {
				return err
			}
			if taken {
				return restoreConflict(img.Key)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM trash WHERE id = ?`, trashID); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `INSERT INTO images (`+imageInsertColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, imageValues(img)...).Scan(&img.ID)
		})
	}()
	if err != nil && pixpool.ErrorCode(err) != pixpool.EINTERNAL {
		return nil, err
	}
	if err == nil {
		err = s.wal.sync()
	}
	if err != nil {
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
	out, err := s.purge(ctx, "purge trash", `DELETE FROM trash WHERE owner_id = ? AND id = ? RETURNING `+trashColumns, ownerID, trashID)
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
	return s.purge(ctx, "empty trash", `DELETE FROM trash WHERE owner_id = ? RETURNING `+trashColumns, ownerID)
}

// PurgeExpired removes up to limit entries due by now, oldest first.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) ([]*pixpool.TrashedImage, error) {
	return s.purge(ctx, "purge expired trash",
		`DELETE FROM trash WHERE id IN (SELECT id FROM trash WHERE purge_at <= ? ORDER BY purge_at, id LIMIT ?) RETURNING `+trashColumns,
		millis(now), sqlLimit(limit))
}

// purge runs a DELETE ... RETURNING of trash entries and, in the same
// transaction, sets FilesShared on each whose files another row names.
func (s *Store) purge(ctx context.Context, op, q string, args ...any) ([]*pixpool.TrashedImage, error) {
	var out []*pixpool.TrashedImage
	err := s.withReserve(func() error {
		out = nil
		return s.withTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				t, err := scanTrashed(rows)
				if err != nil {
					return err
				}
				out = append(out, t)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows.Close()
			for _, t := range out {
				if t.FilesShared, err = filesReferenced(ctx, tx, t.BlobKey); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err == nil {
		err = s.wal.sync()
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// DeleteAllTrash removes every trash entry of every owner.
func (s *Store) DeleteAllTrash(ctx context.Context) (int, error) {
	var res sql.Result
	err := s.withReserve(func() (err error) {
		res, err = s.db.ExecContext(ctx, `DELETE FROM trash`)
		return err
	})
	if err == nil {
		err = s.wal.sync()
	}
	if err != nil {
		return 0, wrap("delete all trash", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
