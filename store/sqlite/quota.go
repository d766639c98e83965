package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/pixpool/pixpool"
)

// usageQuery counts an owner's usage: each blob key of their images and
// trash once (identical images share blobs), the trash's share being the
// keys no live image holds, and the owner's variants whose source an image
// or trash row still has (one left by an interrupted delete is not the
// owner's to free). Its parameters are the owner, five times.
const usageQuery = `
WITH files AS (
	SELECT blob_key, size + thumb_size + original_size AS bytes, 0 AS in_trash FROM images WHERE owner_id = ?
	UNION ALL
	SELECT blob_key, size + thumb_size + original_size, 1 FROM trash WHERE owner_id = ?
), blobs AS (
	SELECT max(bytes) AS bytes, min(in_trash) AS in_trash FROM files GROUP BY blob_key
)
SELECT
	(SELECT coalesce(sum(bytes), 0) FROM blobs),
	(SELECT coalesce(sum(bytes), 0) FROM blobs WHERE in_trash = 1),
	(SELECT count(*) FROM images WHERE owner_id = ?),
	(SELECT count(*) FROM trash WHERE owner_id = ?),
	(SELECT coalesce(sum(size), 0) FROM variants v WHERE owner_id = ?
		AND (EXISTS (SELECT 1 FROM images WHERE blob_key = v.source_key)
			OR EXISTS (SELECT 1 FROM trash WHERE blob_key = v.source_key)))`

// Usage returns what ownerID's images take (pixpool.QuotaStore).
func (s *Store) Usage(ctx context.Context, ownerID int64) (pixpool.Usage, error) {
	var u pixpool.Usage
	var images int64
	err := s.db.QueryRowContext(ctx, usageQuery, ownerID, ownerID, ownerID, ownerID, ownerID).
		Scan(&u.Bytes, &u.TrashBytes, &images, &u.TrashImages, &u.VariantBytes)
	if err != nil {
		return pixpool.Usage{}, wrap(fmt.Sprintf("usage of user %d", ownerID), err)
	}
	u.Images = images + u.TrashImages
	u.Bytes += u.VariantBytes
	return u, nil
}

// SetUserQuota sets a user's own quotas; nil is the policy's default.
func (s *Store) SetUserQuota(ctx context.Context, userID int64, bytes, images *int64) error {
	if err := pixpool.ValidateQuota(bytes, images); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET quota_bytes = ?, quota_images = ? WHERE id = ?`, bytes, images, userID)
	if err != nil {
		return wrap(fmt.Sprintf("set quota of user %d", userID), err)
	}
	return mustAffect(res, "user not found")
}

// SetThumbSize records the size of the thumbnail under thumbKey in the
// images and trash rows naming it, found through their blob key's index.
func (s *Store) SetThumbSize(ctx context.Context, thumbKey string, size int64) error {
	blobs := pixpool.ThumbImageBlobKeys(thumbKey)
	if blobs == nil {
		return nil // no image row names a thumbnail of another form
	}
	args := []any{size, thumbKey}
	for _, b := range blobs {
		args = append(args, b)
	}
	in := strings.TrimSuffix(strings.Repeat("?, ", len(blobs)), ", ")
	for _, table := range []string{"images", "trash"} {
		if _, err := s.db.ExecContext(ctx, `UPDATE `+table+` SET thumb_size = ? WHERE thumb_key = ? AND blob_key IN (`+in+`)`, args...); err != nil {
			return wrap("set thumbnail size", err)
		}
	}
	return nil
}
