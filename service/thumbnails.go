package service

import (
	"bytes"
	"cmp"
	"context"
	"image"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// EffectiveThumbSide is ThumbSide, or its default if ThumbSide is not set.
func (s *Images) EffectiveThumbSide() int {
	if s.ThumbSide > 0 {
		return s.ThumbSide
	}
	return 320
}

// Thumbnail returns the gallery thumbnail (JPEG) of an image, making and
// keeping it if it does not exist yet.
func (s *Images) Thumbnail(ctx context.Context, ownerID int64, key string) (*pixpool.Image, []byte, error) {
	img, err := s.Info(ctx, ownerID, key)
	if err != nil {
		return nil, nil, err
	}
	data, err := s.readBlob(ctx, img.ThumbKey)
	if err == nil {
		if img.ThumbSize == 0 {
			// Made before thumbnails were counted (thumb_size came with
			// quotas) and never made again: count it now.
			if err := s.Store.SetThumbSize(context.WithoutCancel(ctx), img.ThumbKey, int64(len(data))); err != nil {
				s.logger().Warn("thumbnail size", "blob", img.ThumbKey, "err", err)
			}
		}
		return img, data, nil
	}
	v, err, _ := s.loads.Do("thumb:"+img.ThumbKey, func() (any, error) {
		lctx := context.WithoutCancel(ctx)
		orig, err := s.readBlob(lctx, img.BlobKey)
		if err != nil {
			return nil, err
		}
		decoded, err := s.decoder().Decode(lctx, orig)
		if err != nil {
			return nil, err
		}
		defer decoded.Release()
		return s.makeThumbnail(lctx, img.ThumbKey, decoded.Image, imaging.Orientation(orig))
	})
	if err != nil {
		return nil, nil, err
	}
	return img, v.([]byte), nil
}

// makeThumbnailLater makes a thumbnail in the background, at most a few
// at a time, and reports whether it took decoded over (it releases it);
// when all are busy it leaves the work to Thumbnail.
func (s *Images) makeThumbnailLater(img *pixpool.Image, decoded *imaging.Decoded, orientation int) bool {
	select {
	case s.thumbSlots() <- struct{}{}:
	default:
		return false
	}
	// Copies: img goes back to Put's caller, who may change it.
	ownerID, key, thumbKey := img.OwnerID, img.Key, img.ThumbKey
	s.background.Go(func() {
		defer func() { <-s.thumbSlots() }()
		defer decoded.Release()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.makeThumbnail(ctx, thumbKey, decoded.Image, orientation); err != nil {
			s.logger().Warn("thumbnail", "blob", thumbKey, "err", err)
			return
		}
		// The image may have been replaced or deleted meanwhile, its old
		// thumbnail removed before this one was written: do not leave it.
		if cur, err := s.Store.Image(ctx, ownerID, key); err == nil && cur.ThumbKey == thumbKey {
			return
		} else if err == nil || pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
			s.removeBlobs(thumbKey)
		}
	})
	return true
}

func (s *Images) thumbSlots() chan struct{} {
	s.slotsOnce.Do(func() { s.slots = make(chan struct{}, 2) })
	return s.slots
}

// makeThumbnail makes and stores a thumbnail of decoded, turned upright
// by its EXIF orientation (the served bytes keep it for browsers).
func (s *Images) makeThumbnail(ctx context.Context, key string, decoded image.Image, orientation int) ([]byte, error) {
	thumb, err := imaging.ThumbnailOriented(decoded, s.EffectiveThumbSide(), orientation)
	if err != nil {
		return nil, err
	}
	if err := s.Blobs.Put(ctx, key, bytes.NewReader(thumb)); err != nil {
		return nil, err
	}
	// Quotas count thumbnails at their real size.
	if err := s.Store.SetThumbSize(ctx, key, int64(len(thumb))); err != nil {
		s.logger().Warn("thumbnail size", "blob", key, "err", err)
	}
	return thumb, nil
}

// thumbJob is a thumbnail to make when serving is idle.
type thumbJob struct {
	ownerID       int64
	key, thumbKey string
}

func (s *Images) queueThumbnail(job thumbJob) {
	limit := s.MaxPendingThumbs
	if limit <= 0 {
		limit = 100000
	}
	s.thumbMu.Lock()
	if len(s.thumbQueue) >= limit {
		s.thumbMu.Unlock()
		s.logger().Debug("thumbnail queue full: left to be made on demand", "owner", job.ownerID, "key", job.key)
		return
	}
	s.thumbQueue = append(s.thumbQueue, job)
	start := !s.thumbWorking
	s.thumbWorking = true
	s.thumbMu.Unlock()
	if start {
		s.background.Go(s.thumbWorker)
	}
}

// thumbWorker makes the queued thumbnails, one at a time, and ends when
// the queue is empty; queueThumbnail starts another then.
func (s *Images) thumbWorker() {
	for {
		s.thumbMu.Lock()
		if len(s.thumbQueue) == 0 {
			s.thumbQueue = nil // let a large backlog's array go
			s.thumbWorking = false
			s.thumbMu.Unlock()
			return
		}
		job := s.thumbQueue[0]
		s.thumbQueue = s.thumbQueue[1:]
		s.thumbMu.Unlock()
		s.queuedThumbnail(job)
	}
}

// queuedThumbnail makes one queued thumbnail once serving is idle, trying
// up to thumbTries times.
func (s *Images) queuedThumbnail(job thumbJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stop := s.thumbStopped()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	pause := cmp.Or(s.thumbRetry, time.Second)
	for try := 1; ; try++ {
		if s.Serving.Wait(ctx) != nil {
			return
		}
		err := s.storedThumbnail(ctx, job)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return // Shutdown
		}
		if try == thumbTries {
			s.logger().Warn("thumbnail: left to be made on demand", "blob", job.thumbKey, "tries", try, "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(try) * pause):
		}
	}
}

// storedThumbnail makes job's thumbnail from the stored image, unless it
// exists (Thumbnail made it on demand) or the image was replaced or
// deleted meanwhile.
func (s *Images) storedThumbnail(ctx context.Context, job thumbJob) error {
	img, _, err := s.Thumbnail(ctx, job.ownerID, job.key)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil // deleted
	}
	if err != nil {
		return err
	}
	if img.ThumbKey != job.thumbKey {
		return nil // replaced: the new image's own job saw to it
	}
	// The image may have been replaced or deleted while the thumbnail was
	// made, its thumbnail removed before this one was written: do not
	// leave it.
	if cur, err := s.Store.Image(ctx, job.ownerID, job.key); (err == nil && cur.ThumbKey != img.ThumbKey) || pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		s.removeBlobs(img.ThumbKey)
	}
	return nil
}

// Wait waits for background work (thumbnails, the queued ones too) to
// finish.
func (s *Images) Wait() { s.background.Wait() }

// thumbStopped returns the channel that Shutdown closes.
func (s *Images) thumbStopped() chan struct{} {
	s.thumbMu.Lock()
	defer s.thumbMu.Unlock()
	if s.thumbStop == nil {
		s.thumbStop = make(chan struct{})
	}
	return s.thumbStop
}

// Shutdown drops the queued thumbnails, which Thumbnail makes on demand
// later, stops the one under way, and waits for the rest of the background
// work, so that a server stops at once rather than first working through a
// backlog. Call it before closing the stores. Thumbnails queued afterwards
// are not made.
func (s *Images) Shutdown() {
	stop := s.thumbStopped()
	s.thumbMu.Lock()
	if n := len(s.thumbQueue); n > 0 {
		s.logger().Info("thumbnails left to be made on demand", "images", n)
	}
	s.thumbQueue = nil
	select {
	case <-stop:
	default:
		close(stop)
	}
	s.thumbMu.Unlock()
	s.background.Wait()
}

// thumbTries is how many times a queued thumbnail is tried.
const thumbTries = 3
