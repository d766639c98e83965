package service

import (
	"context"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// Trash is what a user's delete does: it moves ownerID's image under key
// to the trash, where its owner can restore it until the storage policy's
// TrashDays have passed, and drops its cache entry. Its files stay. It
// returns the trash entry, or nil if the image was deleted for good: when
// the policy keeps no trash (TrashDays 0), or when storage is full, since
// the trash would need room and a delete is how the owner frees some.
//
// The image's recognition results go with its row: a restored image is
// analysed again (the Stored hook).
func (s *Images) Trash(ctx context.Context, ownerID int64, key string) (*pixpool.TrashedImage, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, err
	}
	p, err := s.policy(ctx)
	if err != nil {
		return nil, err
	}
	if p.TrashDays == 0 {
		return nil, s.Delete(ctx, ownerID, key)
	}
	t, err := s.Store.TrashImage(ctx, ownerID, key, s.now().Add(p.TrashFor()))
	if pixpool.ErrorCode(err) == pixpool.ESTORAGEFULL {
		// The trash would take room that is not there, and a delete is
		// how the owner frees some: it is final then, and says so (nil).
		s.logger().Warn("storage full: image deleted for good instead of moved to the trash", "owner", ownerID, "key", key)
		return nil, s.Delete(ctx, ownerID, key)
	}
	if err != nil {
		return nil, err
	}
	s.invalidate(ctx, ownerID, key)
	s.forgetVariants(ctx, &t.Image) // cached variants would serve it still
	s.logger().Info("image moved to the trash", "owner", ownerID, "key", key, "trash_id", t.ID, "purge_at", t.PurgeAt)
	return t, nil
}

// TrashList returns a page of ownerID's trash, most recently deleted
// first, and how many entries it has in all.
func (s *Images) TrashList(ctx context.Context, ownerID int64, limit, offset int) ([]*pixpool.TrashedImage, int, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	items, err := s.Store.TrashedImages(ctx, ownerID, limit, max(offset, 0))
	if err != nil {
		return nil, 0, err
	}
	n, err := s.Store.CountTrash(ctx, ownerID)
	return items, n, err
}

// TrashThumbnail returns the thumbnail of one of ownerID's trash entries,
// and the entry; a thumbnail never made is made now (not kept), from the
// entry's bytes.
func (s *Images) TrashThumbnail(ctx context.Context, ownerID, trashID int64) (*pixpool.TrashedImage, []byte, error) {
	t, err := s.Store.TrashedImage(ctx, ownerID, trashID)
	if err != nil {
		return nil, nil, err
	}
	if t.ThumbKey != "" {
		if data, err := s.readBlob(ctx, t.ThumbKey); err == nil {
			return t, data, nil
		}
	}
	orig, err := s.readBlob(ctx, t.BlobKey)
	if err != nil {
		return nil, nil, err
	}
	decoded, err := s.decoder().Decode(ctx, orig)
	if err != nil {
		return nil, nil, err
	}
	defer decoded.Release()
	data, err := imaging.Thumbnail(decoded.Image, s.EffectiveThumbSide())
	return t, data, err
}

// Restore moves one of ownerID's trash entries back to their images, under
// its own key, or under key if that is not "". A key a live image has is
// refused (ECONFLICT, saying so) and the entry stays in the trash.
func (s *Images) Restore(ctx context.Context, ownerID, trashID int64, key string) (*pixpool.Image, error) {
	if key != "" {
		if err := pixpool.ValidateKey(key); err != nil {
			return nil, err
		}
	}
	img, err := s.Store.RestoreImage(ctx, ownerID, trashID, key)
	if err != nil {
		return nil, err
	}
	s.invalidate(ctx, ownerID, img.Key)
	if s.Stored != nil {
		s.Stored(ctx, img) // its analysis went with the row
	}
	s.logger().Info("image restored from the trash", "owner", ownerID, "key", img.Key, "trash_id", trashID)
	return img, nil
}

// Purge deletes one of ownerID's trash entries for good, with its files
// unless another image shares them.
func (s *Images) Purge(ctx context.Context, ownerID, trashID int64) (*pixpool.TrashedImage, error) {
	t, err := s.Store.PurgeTrash(ctx, ownerID, trashID)
	if err != nil {
		return nil, err
	}
	s.removeFiles(&t.Image)
	s.logger().Info("trash item purged", "owner", ownerID, "key", t.Key, "trash_id", trashID)
	return t, nil
}

// EmptyTrash deletes every trash entry of ownerID for good and reports
// how many.
func (s *Images) EmptyTrash(ctx context.Context, ownerID int64) (int, error) {
	items, err := s.Store.EmptyTrash(ctx, ownerID)
	if err != nil {
		return 0, err
	}
	for _, t := range items {
		s.removeFiles(&t.Image)
	}
	if len(items) > 0 {
		s.logger().Info("trash emptied", "owner", ownerID, "items", len(items))
	}
	return len(items), nil
}

// PurgeExpiredBatch is how many trash entries one transaction of
// PurgeExpired purges.
const PurgeExpiredBatch = 1000

// purgeExpiredBatches bounds the batches of one PurgeExpired call, so that
// a round after a long stop does not hold housekeeping for hours.
const purgeExpiredBatches = 100

// PurgeExpired deletes for good the trash entries whose time is up, of
// every owner, a batch (PurgeExpiredBatch) at a time until none is due
// (at most purgeExpiredBatches batches, or until ctx ends), and reports
// how many; housekeeping calls it beside SweepOrphans. One batch a round
// would fall behind, for good, on an install deleting more than that
// between rounds.
func (s *Images) PurgeExpired(ctx context.Context) (int, error) {
	batch := PurgeExpiredBatch
	if s.purgeBatch > 0 {
		batch = s.purgeBatch
	}
	n := 0
	for range purgeExpiredBatches {
		items, err := s.Store.PurgeExpired(ctx, s.now(), batch)
		if err != nil {
			return n, err
		}
		for _, t := range items {
			s.removeFiles(&t.Image)
		}
		n += len(items)
		if len(items) < batch || ctx.Err() != nil {
			break
		}
	}
	if n > 0 {
		s.logger().Info("expired trash purged", "items", n)
	}
	return n, nil
}

// TrashDays returns how many days the trash keeps a deleted image under
// the storage policy in force (0: deletes are final).
func (s *Images) TrashDays(ctx context.Context) (int, error) {
	p, err := s.policy(ctx)
	return p.TrashDays, err
}
