package service

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// Images stores and serves images: bytes in the blob store, metadata in
// the store, and a read-through cache in front of both.
type Images struct {
	Store pixpool.Store
	Blobs pixpool.BlobStore
	// Cache is read before the stores and filled on a miss. If nil, reads
	// go to the stores.
	Cache pixpool.Cache
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// MaxBytes bounds one image. If zero, 20 MiB.
	MaxBytes int64
	// MaxPixels bounds width×height. If zero, imaging.DefaultMaxPixels.
	MaxPixels int
	// Budget bounds the memory of the images decoded at once: uploads'
	// checks and thumbnails wait for room in it for a few seconds, then
	// fail with EUNAVAILABLE. Share one with the Analyzer. If nil,
	// decoding is not bounded.
	Budget *imaging.Budget
	// ThumbSide is the longest side of gallery thumbnails. If zero, 320.
	ThumbSide int
	// Stored, if set, is called after an image is stored or replaced (the
	// analysis queue hooks in here).
	Stored func(ctx context.Context, img *pixpool.Image)
	// Serving, if set, tracks the requests being served. An upload that
	// comes while others are being served has its thumbnail queued (at
	// most MaxPendingThumbs), to be made from the stored bytes, one at a
	// time, once serving is idle (Activity.Wait), each tried up to 3
	// times. Under a steady upload load the CPU then goes to uploads
	// (checking them), and the thumbnails, which cost as much again, wait
	// for a pause; a thumbnail not
	// made yet is made on demand by Thumbnail. Otherwise, and if Serving is
	// nil, the thumbnail is made at once in the background (a few at a
	// time) from the image decoded to check it.
	Serving *Activity
	// MaxPendingThumbs bounds the thumbnails queued while serving is busy;
	// past it they are left to Thumbnail. If zero, 100000.
	MaxPendingThumbs int

	// beforeCommit, if set, runs after the bytes are stored and before the
	// row is committed; tests use it to inject a crash.
	beforeCommit func() error

	loads      singleflight.Group // one store read per key at a time
	writes     writeLog           // recent writes, so stale reads do not fill the cache
	background sync.WaitGroup     // thumbnails being made
	slotsOnce  sync.Once
	slots      chan struct{} // bounds background thumbnails

	thumbMu      sync.Mutex
	thumbQueue   []thumbJob    // guarded by thumbMu: thumbnails to make when idle
	thumbWorking bool          // guarded by thumbMu: a worker drains thumbQueue
	thumbStop    chan struct{} // guarded by thumbMu: closed by Shutdown
	// thumbRetry is the pause before a queued thumbnail's next try, times
	// the tries so far. If zero, a second.
	thumbRetry time.Duration
}

// DefaultMaxBytes is the default image size limit.
const DefaultMaxBytes = 20 << 20

// MaxBytesLimit returns the effective size limit.
func (s *Images) MaxBytesLimit() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Images) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Images) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Put stores data as ownerID's image under key, replacing any image there.
// The bytes are written (atomically) before the row is committed, so a
// failure at any point leaves either the old image or the new one, never a
// row without bytes; unreferenced bytes are removed by SweepOrphans.
func (s *Images) Put(ctx context.Context, ownerID int64, key string, data []byte) (*pixpool.Image, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, pixpool.Errorf(pixpool.EINVALID, "The file is empty.")
	}
	if limit := s.MaxBytesLimit(); int64(len(data)) > limit {
		return nil, TooLarge(limit)
	}
	// While other requests are being served (Serving), the thumbnail is
	// queued, to be made from the stored bytes once serving is idle, and
	// the image is only checked (Decoder.Check: a JPEG is entropy-decoded
	// without making its pixels when the checker can vouch for it); else
	// it is decoded, and the thumbnail made at once from that image.
	queue := s.Serving != nil && s.Serving.Inflight() > 1
	var (
		info    imaging.Info
		decoded *imaging.Decoded
		err     error
	)
	if queue {
		info, err = s.decoder().Check(ctx, data)
	} else {
		decoded, err = s.decoder().Decode(ctx, data)
		if err == nil {
			info = decoded.Info
		}
	}
	if err != nil {
		return nil, err
	}
	// The decoded image holds its share of the budget until the thumbnail
	// made from it is done, or until Put returns if none is made now.
	handedOver := false
	defer func() {
		if !handedOver {
			decoded.Release()
		}
	}()
	sum := sha256.Sum256(data)
	id := newBlobID()
	img := &pixpool.Image{
		OwnerID:     ownerID,
		Key:         key,
		BlobKey:     pixpool.ImageBlobKey(id, info.Format),
		Size:        int64(len(data)),
		ContentType: info.ContentType,
		Width:       info.Width,
		Height:      info.Height,
		Checksum:    hex.EncodeToString(sum[:]),
		CreatedAt:   s.now(),
	}
	if err := s.Blobs.Put(ctx, img.BlobKey, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	if s.beforeCommit != nil {
		if err := s.beforeCommit(); err != nil {
			return nil, err // as a crash would: the bytes stay for the sweeper
		}
	}
	// The thumbnail is named now and made after the commit, off the
	// request's path; Thumbnail makes it on demand if that has not happened.
	img.ThumbKey = pixpool.ThumbBlobKey(id)
	old, err := s.Store.PutImage(ctx, img)
	if err != nil {
		// The row may be committed even so (its sync failed): then the
		// bytes are its, not an orphan.
		if cur, cerr := s.Store.Image(context.WithoutCancel(ctx), ownerID, key); cerr != nil || cur.BlobKey != img.BlobKey {
			s.removeBlobs(img.BlobKey)
		}
		return nil, err
	}
	// The new row is committed: readers now load the new bytes. Write them
	// through, so a reader that loaded the old row before the commit cannot
	// put it back with its Add, and note the write, so that such a reader
	// does not fill the cache even if this value is evicted at once.
	s.writes.note(CacheKey(ownerID, key))
	s.fill(ctx, img, data, true)
	if old != nil {
		s.removeBlobs(old.BlobKey, old.ThumbKey)
	}
	if queue {
		s.queueThumbnail(thumbJob{ownerID: img.OwnerID, key: img.Key, thumbKey: img.ThumbKey})
	} else {
		handedOver = s.makeThumbnailLater(img, decoded)
	}
	if s.Stored != nil {
		s.Stored(ctx, img)
	}
	s.logger().Info("image stored", "owner", ownerID, "key", key, "bytes", img.Size, "type", img.ContentType, "replaced", old != nil)
	return img, nil
}

// EffectiveThumbSide is ThumbSide, or its default if ThumbSide is not set.
func (s *Images) EffectiveThumbSide() int {
	if s.ThumbSide > 0 {
		return s.ThumbSide
	}
	return 320
}

// TooLarge is the error for an image over limit bytes.
func TooLarge(limit int64) error {
	return pixpool.Errorf(pixpool.ETOOLARGE, "The image is larger than the limit of %s.", FormatBytes(limit))
}

// FormatBytes writes n as a short human size such as "20 MiB".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// removeBlobs deletes blobs in the background of a request: a failure is
// only logged, since the sweeper will find the orphan later.
func (s *Images) removeBlobs(keys ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := s.Blobs.Delete(ctx, k); err != nil {
			s.logger().Warn("delete blob", "blob", k, "err", err)
		}
	}
}

// Get returns ownerID's image under key and its bytes, from the cache if
// it has them, else from the stores (filling the cache). Another user's
// key is ENOTFOUND, exactly like a missing one.
func (s *Images) Get(ctx context.Context, ownerID int64, key string) (*pixpool.Image, []byte, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, nil, err
	}
	ck := CacheKey(ownerID, key)
	if s.Cache != nil {
		if v, err := s.Cache.Get(ctx, ck); err == nil {
			if img, data, err := decodeEntry(v); err == nil {
				img.OwnerID, img.Key = ownerID, key
				return img, data, nil
			}
			s.logger().Warn("cache entry unreadable", "cache_key", ck)
		} else if !errors.Is(err, pixpool.ErrCacheMiss) {
			s.logger().Debug("cache get", "cache_key", ck, "err", err)
		}
	}
	type loaded struct {
		img  *pixpool.Image
		data []byte
	}
	// Concurrent misses on one key share one load; the load must not be
	// cut short by the first caller's context. A read that comes after a
	// write to the key must not join a load that began before it, so the
	// flight is named by the key's last write too.
	flight := ck + "\x00" + strconv.FormatUint(s.writes.last(ck), 10)
	v, err, _ := s.loads.Do(flight, func() (any, error) {
		lctx := context.WithoutCancel(ctx)
		since := s.writes.now()
		img, entry, data, err := s.load(lctx, ownerID, key)
		if err != nil {
			return nil, err
		}
		if !s.writes.since(ck, since) {
			s.fillEntry(lctx, ck, entry, false)
		}
		return loaded{img, data}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	l := v.(loaded)
	return l.img, l.data, nil
}

// Info returns the metadata of ownerID's image under key.
func (s *Images) Info(ctx context.Context, ownerID int64, key string) (*pixpool.Image, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, err
	}
	return s.Store.Image(ctx, ownerID, key)
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
		return s.makeThumbnail(lctx, img.ThumbKey, decoded.Image)
	})
	if err != nil {
		return nil, nil, err
	}
	return img, v.([]byte), nil
}

// decoder decodes within MaxPixels and Budget.
func (s *Images) decoder() *imaging.Decoder {
	return &imaging.Decoder{MaxPixels: s.MaxPixels, Budget: s.Budget}
}

// makeThumbnailLater makes a thumbnail in the background, at most a few
// at a time, and reports whether it took decoded over (it releases it);
// when all are busy it leaves the work to Thumbnail.
func (s *Images) makeThumbnailLater(img *pixpool.Image, decoded *imaging.Decoded) bool {
	select {
	case s.thumbSlots() <- struct{}{}:
	default:
		return false
	}
	s.background.Go(func() {
		defer func() { <-s.thumbSlots() }()
		defer decoded.Release()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.makeThumbnail(ctx, img.ThumbKey, decoded.Image); err != nil {
			s.logger().Warn("thumbnail", "blob", img.ThumbKey, "err", err)
			return
		}
		// The image may have been replaced or deleted meanwhile, its old
		// thumbnail removed before this one was written: do not leave it.
		if cur, err := s.Store.Image(ctx, img.OwnerID, img.Key); err == nil && cur.ThumbKey == img.ThumbKey {
			return
		} else if err == nil || pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
			s.removeBlobs(img.ThumbKey)
		}
	})
	return true
}

func (s *Images) thumbSlots() chan struct{} {
	s.slotsOnce.Do(func() { s.slots = make(chan struct{}, 2) })
	return s.slots
}

func (s *Images) makeThumbnail(ctx context.Context, key string, decoded image.Image) ([]byte, error) {
	thumb, err := imaging.Thumbnail(decoded, s.EffectiveThumbSide())
	if err != nil {
		return nil, err
	}
	if err := s.Blobs.Put(ctx, key, bytes.NewReader(thumb)); err != nil {
		return nil, err
	}
	return thumb, nil
}

// thumbJob is a thumbnail to make when serving is idle.
type thumbJob struct {
	ownerID       int64
	key, thumbKey string
}

// thumbTries is how many times a queued thumbnail is tried.
const thumbTries = 3

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

// load reads an image's row and bytes. A replace or delete between the two
// removes the bytes the row named; then the row is read again, so a read
// racing a write answers with the new image (or not found), never fails.
// The bytes are read into the image's cache entry (nil without a cache),
// of which data is the tail.
func (s *Images) load(ctx context.Context, ownerID int64, key string) (img *pixpool.Image, entry, data []byte, err error) {
	for attempt := 0; ; attempt++ {
		img, err := s.Store.Image(ctx, ownerID, key)
		if err != nil {
			return nil, nil, nil, err
		}
		var head []byte
		if s.Cache != nil {
			head = entryHead(img)
		}
		entry, err := s.readBlobAfter(ctx, img.BlobKey, head, img.Size)
		if err == nil {
			return img, entry, entry[len(head):], nil
		}
		if !errors.Is(err, errBytesMissing) || attempt == 2 {
			return nil, nil, nil, err
		}
	}
}

// errBytesMissing marks a row whose bytes are gone: damage, or a row read
// just before a replace or delete removed them.
var errBytesMissing = errors.New("image bytes missing")

func (s *Images) readBlob(ctx context.Context, key string) ([]byte, error) {
	rc, err := s.openBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// openBlob opens a row's bytes; a row whose bytes are gone is damage
// (errBytesMissing), not a user error.
func (s *Images) openBlob(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Blobs.Get(ctx, key)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, fmt.Errorf("%w: %w", errBytesMissing, err)
	}
	return rc, err
}

// readBlobAfter reads a blob of about size bytes into one buffer after
// head (a cache entry's header): sized up front, the read neither grows
// the buffer nor copies it, and filling the cache copies nothing.
func (s *Images) readBlobAfter(ctx context.Context, key string, head []byte, size int64) ([]byte, error) {
	rc, err := s.openBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	size = min(max(size, 0), s.MaxBytesLimit())         // a damaged row asks for no more
	b := make([]byte, len(head), len(head)+int(size)+1) // +1: EOF without growing
	copy(b, head)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		} else if err != nil {
			return nil, err
		}
	}
}

// fill puts an image into the cache: with Set for writers (the newest
// bytes win) and Add for readers (never overwriting a writer's value).
func (s *Images) fill(ctx context.Context, img *pixpool.Image, data []byte, writer bool) {
	if s.Cache == nil {
		return
	}
	s.fillEntry(ctx, CacheKey(img.OwnerID, img.Key), encodeEntry(img, data), writer)
}

// fillEntry is fill with the entry made.
func (s *Images) fillEntry(ctx context.Context, ck string, entry []byte, writer bool) {
	if s.Cache == nil {
		return
	}
	var err error
	if writer {
		err = s.Cache.Set(ctx, ck, entry)
		if err != nil {
			// Leave no old value behind when the new one cannot be set.
			err = errors.Join(err, s.Cache.Delete(ctx, ck))
		}
	} else {
		err = s.Cache.Add(ctx, ck, entry)
	}
	if err != nil {
		s.logger().Debug("cache fill", "cache_key", ck, "err", err)
	}
}

// List returns a page of ownerID's images ordered by key.
func (s *Images) List(ctx context.Context, ownerID int64, prefix, after string, limit int) ([]*pixpool.Image, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return s.Store.Images(ctx, pixpool.ImageFilter{OwnerID: ownerID, Prefix: prefix, After: after, Limit: limit})
}

// Newest returns ownerID's n most recently uploaded images, newest first.
func (s *Images) Newest(ctx context.Context, ownerID int64, n int) ([]*pixpool.Image, error) {
	return s.Store.Images(ctx, pixpool.ImageFilter{OwnerID: ownerID, Newest: true, Limit: n})
}

// Count counts ownerID's images.
func (s *Images) Count(ctx context.Context, ownerID int64) (int, error) {
	return s.Store.CountImages(ctx, pixpool.ImageFilter{OwnerID: ownerID})
}

// Delete removes ownerID's image under key: the row first (so no reader
// finds it), then the cache entry and the bytes.
func (s *Images) Delete(ctx context.Context, ownerID int64, key string) error {
	if err := pixpool.ValidateKey(key); err != nil {
		return err
	}
	img, err := s.Store.DeleteImage(ctx, ownerID, key)
	if err != nil {
		return err
	}
	s.invalidate(ctx, ownerID, key)
	s.removeBlobs(img.BlobKey, img.ThumbKey)
	s.logger().Info("image deleted", "owner", ownerID, "key", key)
	return nil
}

func (s *Images) invalidate(ctx context.Context, ownerID int64, key string) {
	s.writes.note(CacheKey(ownerID, key))
	if s.Cache == nil {
		return
	}
	if err := s.Cache.Delete(ctx, CacheKey(ownerID, key)); err != nil {
		s.logger().Warn("cache delete", "owner", ownerID, "key", key, "err", err)
	}
}

// DeleteOwned removes every image of one owner and reports how many.
func (s *Images) DeleteOwned(ctx context.Context, ownerID int64) (int, error) {
	n := 0
	for {
		page, err := s.Store.Images(ctx, pixpool.ImageFilter{OwnerID: ownerID, Limit: 500})
		if err != nil || len(page) == 0 {
			return n, err
		}
		for _, img := range page {
			if err := s.Delete(ctx, ownerID, img.Key); err != nil && pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
				return n, err
			}
			n++
		}
	}
}

// Flusher is a Cache that can drop everything at once.
type Flusher interface {
	Flush(ctx context.Context) error
}

// DeleteAll removes every image of every user: all rows in one statement,
// then the cache, then the bytes (any left behind by a crash are swept).
func (s *Images) DeleteAll(ctx context.Context) (int, error) {
	var keys []string
	if err := s.Store.ImageBlobKeys(ctx, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		return 0, err
	}
	n, err := s.Store.DeleteAllImages(ctx)
	if err != nil {
		return 0, err
	}
	if f, ok := s.Cache.(Flusher); ok {
		if err := f.Flush(ctx); err != nil {
			s.logger().Warn("cache flush", "err", err)
		}
	}
	s.removeBlobs(keys...)
	s.logger().Info("all images deleted", "images", n)
	return n, nil
}

// SweepOrphans deletes stored bytes that no image row references and that
// are older than grace (younger ones may belong to an upload in flight on
// another replica). It reports how many it removed. With no image rows at
// all it removes nothing: see the comment inside.
func (s *Images) SweepOrphans(ctx context.Context, grace time.Duration) (int, error) {
	live := make(map[string]bool)
	if err := s.Store.ImageBlobKeys(ctx, func(k string) error { live[k] = true; return nil }); err != nil {
		return 0, err
	}
	cutoff := s.now().Add(-grace)
	var orphans []string
	for _, prefix := range []string{"img/", "thumb/"} {
		err := s.Blobs.List(ctx, prefix, func(b pixpool.BlobInfo) error {
			if !live[b.Key] && !b.ModTime.After(cutoff) {
				orphans = append(orphans, b.Key)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	if len(live) == 0 && len(orphans) > 0 {
		// No record at all but image files in the blob store: most likely
		// a new, empty database on a blob store that another install (or
		// a backup about to be restored) still needs. Removing them would
		// be irreversible; leftovers cost only space.
		s.logger().Warn("the database has no images but the blob store has image files: not removing them; restore a backup (pixpool backup restore) or point --blob elsewhere",
			"files", len(orphans))
		return 0, nil
	}
	n := 0
	for _, k := range orphans {
		if err := s.Blobs.Delete(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	if n > 0 {
		s.logger().Info("swept orphaned blobs", "count", n)
	}
	return n, nil
}

// writeLog remembers, for each of a fixed number of slots that cache keys
// hash to, the sequence number of the last write. A read notes the
// sequence before it loads from the stores and fills the cache only if no
// write to its slot came since: its bytes may be older than that write's.
// Two keys sharing a slot only cost a skipped fill.
type writeLog struct {
	seq   atomic.Uint64
	slots [4096]atomic.Uint64
}

func (w *writeLog) now() uint64 { return w.seq.Load() }

func (w *writeLog) slot(key string) *atomic.Uint64 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &w.slots[h.Sum32()%uint32(len(w.slots))]
}

func (w *writeLog) note(key string) { w.slot(key).Store(w.seq.Add(1)) }

// last returns the sequence number of key's slot's last write.
func (w *writeLog) last(key string) uint64 { return w.slot(key).Load() }

// since reports whether key's slot was written after seq.
func (w *writeLog) since(key string, seq uint64) bool { return w.slot(key).Load() > seq }

func newBlobID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CacheKey maps an owner's image key to a cache key that fits memcached's
// rules (at most 250 bytes, no spaces or control characters): the key in
// URL-safe base64 when short enough, else its SHA-256.
func CacheKey(ownerID int64, key string) string {
	prefix := "i:" + strconv.FormatInt(ownerID, 10) + ":"
	enc := base64.RawURLEncoding.EncodeToString([]byte(key))
	if len(prefix)+len(enc) <= 200 {
		return prefix + enc
	}
	sum := sha256.Sum256([]byte(key))
	return prefix + "#" + hex.EncodeToString(sum[:])
}

// cache entries: magic, then a length-prefixed JSON header, then the bytes.
var entryMagic = []byte("PXC1")

type entryHeader struct {
	ID       int64  `json:"id"`
	Type     string `json:"t"`
	Width    int    `json:"w"`
	Height   int    `json:"h"`
	Checksum string `json:"c"`
	Created  int64  `json:"at"`
}

func encodeEntry(img *pixpool.Image, data []byte) []byte {
	return append(entryHead(img), data...)
}

// entryHead returns the start of img's entry, up to its bytes.
func entryHead(img *pixpool.Image) []byte {
	h, _ := json.Marshal(entryHeader{img.ID, img.ContentType, img.Width, img.Height, img.Checksum, img.CreatedAt.UnixMilli()})
	out := make([]byte, 0, len(entryMagic)+4+len(h))
	out = append(out, entryMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(h)))
	return append(out, h...)
}

// headMemo remembers decoded entry headers by their bytes: a hot image's
// entry is read again and again with the same header, and JSON decoding it
// was a measurable part of a cache hit. The header is a function of its
// bytes, so a remembered one is exactly what decoding would give.
type headMemo struct {
	mu sync.RWMutex
	m  map[string]entryHeader
}

// maxHeadMemo bounds the headers remembered; past it the memo starts over.
const maxHeadMemo = 4096

var entryHeads headMemo

func (hm *headMemo) decode(b []byte) (entryHeader, error) {
	hm.mu.RLock()
	h, ok := hm.m[string(b)]
	hm.mu.RUnlock()
	if ok {
		return h, nil
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return entryHeader{}, err
	}
	hm.mu.Lock()
	if hm.m == nil || len(hm.m) >= maxHeadMemo {
		hm.m = make(map[string]entryHeader)
	}
	hm.m[string(b)] = h
	hm.mu.Unlock()
	return h, nil
}

func decodeEntry(v []byte) (*pixpool.Image, []byte, error) {
	if !bytes.HasPrefix(v, entryMagic) || len(v) < len(entryMagic)+4 {
		return nil, nil, errors.New("bad cache entry")
	}
	v = v[len(entryMagic):]
	n := binary.BigEndian.Uint32(v)
	v = v[4:]
	if uint64(n) > uint64(len(v)) {
		return nil, nil, errors.New("bad cache entry length")
	}
	h, err := entryHeads.decode(v[:n])
	if err != nil {
		return nil, nil, err
	}
	data := v[n:]
	return &pixpool.Image{
		ID: h.ID, ContentType: h.Type, Width: h.Width, Height: h.Height, Checksum: h.Checksum,
		Size: int64(len(data)), CreatedAt: time.UnixMilli(h.Created).UTC(),
	}, data, nil
}
