package postgres

import (
	"context"
	"fmt"

	"github.com/pixpool/pixpool"
)

// usageQuery counts an owner ($1)'s usage: each blob key of their images
// and trash once (identical images share blobs), the trash's share being
// the keys no live image holds; and the owner's variants whose source an
// image or trash row still has (one left by an interrupted delete is not
// the owner's to free).
const usageQuery = `
WITH files AS (
	SELECT blob_key, size + thumb_size + original_size AS bytes, 0 AS in_trash FROM images WHERE owner_id = $1
	UNION ALL
	SELECT blob_key, size + thumb_size + original_size, 1 FROM trash WHERE owner_id = $1
), blobs AS (
	SELECT max(bytes) AS bytes, min(in_trash) AS in_trash FROM files GROUP BY blob_key
)
SELECT
	(SELECT coalesce(sum(bytes), 0)::bigint FROM blobs),
	(SELECT coalesce(sum(bytes), 0)::bigint FROM blobs WHERE in_trash = 1),
	(SELECT count(*) FROM images WHERE owner_id = $1),
	(SELECT count(*) FROM trash WHERE owner_id = $1),
	(SELECT coalesce(sum(size), 0)::bigint FROM variants v WHERE owner_id = $1
		AND (EXISTS (SELECT 1 FROM images WHERE blob_key = v.source_key)
			OR EXISTS (SELECT 1 FROM trash WHERE blob_key = v.source_key)))`

// Usage returns what ownerID's images take (pixpool.QuotaStore).
func (s *Store) Usage(ctx context.Context, ownerID int64) (pixpool.Usage, error) {
	var u pixpool.Usage
	var images int64
	err := s.pool.QueryRow(ctx, usageQuery, ownerID).
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
	tag, err := s.pool.Exec(ctx, `UPDATE users SET quota_bytes = $1, quota_images = $2 WHERE id = $3`, bytes, images, userID)
	if err != nil {
		return wrap(fmt.Sprintf("set quota of user %d", userID), err)
	}
	return mustAffect(tag, "user not found")
}

// SetThumbSize records the size of the thumbnail under thumbKey in the
// images and trash rows naming it, found through their blob key's index.
func (s *Store) SetThumbSize(ctx context.Context, thumbKey string, size int64) error {
	blobs := pixpool.ThumbImageBlobKeys(thumbKey)
	if blobs == nil {
		return nil // no image row names a thumbnail of another form
	}
	for _, table := range []string{"images", "trash"} {
		_, err := s.pool.Exec(ctx, `UPDATE `+table+` SET thumb_size = $1 WHERE thumb_key = $2 AND blob_key = ANY($3)`, size, thumbKey, blobs)
		if err != nil {
			return wrap("set thumbnail size", err)
		}
	}
	return nil
}
