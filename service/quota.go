package service

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/pixpool/pixpool"
)

// thumbEstimate is what a quota check counts for the thumbnail of an
// upload of n bytes, which is made after the upload is stored, off the
// request's path: at most 64 KiB (a 320-pixel JPEG is mostly 10 to 40
// KiB), and never more than the upload. Once it is made, its real size
// is recorded (SetThumbSize) and counted from then on.
func thumbEstimate(n int64) int64 { return min(n, 64<<10) }

// quotaReservations holds, per owner, what the uploads being stored by
// this process will add, so that concurrent uploads of one user cannot
// all pass a check that only one of them fits: a check counts the store's
// Usage plus the reservations. Across replicas sharing a store, each
// process reserves its own uploads only, so the quota can be overshot by
// what the other replicas are storing for that user at that moment (at
// most one MaxBytes upload per concurrent request). A reservation is
// released when Put returns; between the commit and then, the upload is
// counted twice, which can only refuse, never admit, too much.
type quotaReservations struct {
	mu sync.Mutex
	m  map[int64]reservation // guarded by mu
}

type reservation struct{ bytes, images int64 }

func (q *quotaReservations) get(owner int64) reservation {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.m[owner]
}

func (q *quotaReservations) add(owner int64, r reservation) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = make(map[int64]reservation)
	}
	cur := q.m[owner]
	cur.bytes += r.bytes
	cur.images += r.images
	if cur == (reservation{}) {
		delete(q.m, owner)
	} else {
		q.m[owner] = cur
	}
}

// Quota returns a user's usage and the quota that holds for them.
func (s *Images) Quota(ctx context.Context, userID int64) (pixpool.Usage, pixpool.Quota, error) {
	u, err := s.Store.User(ctx, userID)
	if err != nil {
		return pixpool.Usage{}, pixpool.Quota{}, err
	}
	pol, err := s.policy(ctx)
	if err != nil {
		return pixpool.Usage{}, pixpool.Quota{}, err
	}
	usage, err := s.Store.Usage(ctx, userID)
	if err != nil {
		return pixpool.Usage{}, pixpool.Quota{}, err
	}
	return usage, pixpool.QuotaOf(u, pol), nil
}

// SetQuota sets a user's own quotas (an admin's act); nil sets the storage
// policy's default back. Values below 0 are EINVALID; 0 is no limit.
func (s *Images) SetQuota(ctx context.Context, userID int64, bytes, images *int64) error {
	if err := s.Store.SetUserQuota(ctx, userID, bytes, images); err != nil {
		return err
	}
	s.logger().Info("quota set", "user", userID, "bytes", fmtQuota(bytes), "images", fmtQuota(images))
	return nil
}

func fmtQuota(v *int64) string {
	if v == nil {
		return "default"
	}
	return fmt.Sprint(*v)
}

// originalSize is the size of the original kept beside served, the bytes
// stripped of metadata, if the policy keeps originals: none when
// stripping changed nothing (keepOriginal).
func originalSize(source, served []byte) int64 {
	if bytes.Equal(source, served) {
		return 0
	}
	return int64(len(source))
}

// reserveQuota checks that an upload under key fits in ownerID's quotas and
// reserves its room until the returned func is called (when Put returns).
// It counts the bytes served (size), the original (original bytes, if the
// policy keeps originals) and an estimate of the thumbnail: thumbEstimate,
// or for a replace the old thumbnail's real size whenever it is known
// (see below). A replace adds no image and counts the new bytes minus the
// old image's. Over a quota it is EQUOTA, saying what is used and what is
// allowed. Put calls it after decoding and stripping, when these
// sizes are known: a refused upload has cost that work, but the message
// and the accounting are exact.
func (s *Images) reserveQuota(ctx context.Context, ownerID int64, key string, size, original int64) (release func(), err error) {
	nothing := func() {}
	u, err := s.Store.User(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	pol, err := s.policy(ctx)
	if err != nil {
		return nil, err
	}
	q := pixpool.QuotaOf(u, pol)
	if q.Bytes == 0 && q.Images == 0 {
		return nothing, nil
	}
	if !pol.KeepOriginals {
		original = 0
	}
	r := reservation{bytes: size + original + thumbEstimate(size), images: 1}
	var freed int64 // what the replaced image gives back
	if old, err := s.Store.Image(ctx, ownerID, key); err == nil {
		r.images = 0
		freed = old.StoredBytes()
		// The new thumbnail is counted at the old one's real size, when
		// known, larger or smaller than the estimate: the two thumbnails'
		// terms then cancel, so a replace by the same image (the same
		// thumbnail) passes at the quota, and one by a smaller image
		// (served and original bytes) too. Counting more would refuse
		// the same image at the quota; counting less (the estimate, when
		// the old thumbnail is over it) under-counts more, letting an
		// image larger by up to the difference past the quota. The
		// under-count is the new thumbnail's size minus the old one's,
		// less than one thumbnail, as for the estimate of a new upload.
		if old.ThumbSize > 0 {
			r.bytes += old.ThumbSize - thumbEstimate(size)
		}
	} else if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		return nil, err
	}
	s.quotas.add(ownerID, r)
	release = func() { s.quotas.add(ownerID, reservation{bytes: -r.bytes, images: -r.images}) }
	// Others' reservations: all of this owner's, ours taken out. Read
	// before Usage: an upload that commits and releases its reservation
	// between the two reads is then in one of them (or both), never in
	// neither.
	others := s.quotas.get(ownerID)
	others.bytes -= r.bytes
	others.images -= r.images
	usage, err := s.Store.Usage(ctx, ownerID)
	if err != nil {
		release()
		return nil, err
	}
	if err := overQuota(q, usage, others, r, freed); err != nil {
		release()
		s.logger().Info("upload over quota", "owner", ownerID, "key", key, "bytes", size, "err", pixpool.ErrorMessage(err))
		return nil, err
	}
	return release, nil
}

// overQuota is the EQUOTA error of an upload needing r, replacing an image
// that frees freed bytes, when usage and others (uploads being stored)
// leave no room for it under q; nil if it fits.
func overQuota(q pixpool.Quota, usage pixpool.Usage, others, r reservation, freed int64) error {
	if q.Images > 0 && r.images > 0 && usage.Images+others.images+r.images > q.Images {
		msg := fmt.Sprintf("You have %d of your %d images (trash included)", usage.Images, q.Images)
		if others.images > 0 {
			msg += fmt.Sprintf(", and %d more uploads are being stored", others.images)
		}
		return pixpool.Errorf(pixpool.EQUOTA, "%s, so there is no room for another. %s", msg, freeHint(usage, true))
	}
	used := usage.Bytes + others.bytes
	if q.Bytes > 0 && r.bytes-freed > 0 && used+r.bytes-freed > q.Bytes {
		left := max(q.Bytes-used, 0)
		var b strings.Builder
		fmt.Fprintf(&b, "This upload needs %s but you have %s left of your %s quota (%s used", pixpool.FormatSize(r.bytes-freed), pixpool.FormatSize(left), pixpool.FormatSize(q.Bytes), pixpool.FormatSize(used))
		if usage.TrashBytes > 0 {
			fmt.Fprintf(&b, ", trash included: empty the trash to free %s", pixpool.FormatSize(usage.TrashBytes))
		} else {
			b.WriteString(", thumbnails and resized copies included")
		}
		b.WriteString("). ")
		b.WriteString(freeHint(usage, false))
		return pixpool.Errorf(pixpool.EQUOTA, "%s", strings.TrimSpace(b.String()))
	}
	return nil
}

// freeHint says how to make room.
func freeHint(usage pixpool.Usage, images bool) string {
	if images && usage.TrashImages > 0 {
		return fmt.Sprintf("Empty the trash (%d images) or delete images to make room, or ask an administrator for a larger quota.", usage.TrashImages)
	}
	return "Delete images to make room, or ask an administrator for a larger quota."
}

// reserveVariant reports whether a variant of size bytes fits in
// ownerID's byte quota, counting the uploads and variants being stored,
// and if so reserves its room until release is called (once its record
// is committed).
func (s *Images) reserveVariant(ctx context.Context, ownerID int64, size int64) (release func(), fits bool, err error) {
	nothing := func() {}
	u, err := s.Store.User(ctx, ownerID)
	if err != nil {
		return nil, false, err
	}
	pol, err := s.policy(ctx)
	if err != nil {
		return nil, false, err
	}
	q := pixpool.QuotaOf(u, pol)
	if q.Bytes == 0 {
		return nothing, true, nil
	}
	r := reservation{bytes: size}
	s.quotas.add(ownerID, r)
	release = func() { s.quotas.add(ownerID, reservation{bytes: -r.bytes}) }
	reserved := s.quotas.get(ownerID).bytes // before Usage, as in reserveQuota
	usage, err := s.Store.Usage(ctx, ownerID)
	if err != nil {
		release()
		return nil, false, err
	}
	if usage.Bytes+reserved > q.Bytes {
		release()
		return nothing, false, nil
	}
	return release, true, nil
}
